// Encodes a fixed corpus of awkward strings with npm's js-tiktoken (cl100k_base, o200k_base)
// and writes {"cases": [{"encoding", "text", "ids"}], "special_cases": [{"encoding", "text",
// "allowed", "disallowed", "ids" or "error": true}]} as JSON: the golden file that
// tests/unit/test_tiktoken.cpp compares ilm with. special_cases are encode(text, allowed,
// disallowed) with "all" or a list for each, over texts that hold special-token spellings.
// Usage: node tiktoken_reference.mjs OUT.json   (js-tiktoken under ILM_SOURCE_DIR/.assets/npm)
//
// The corpus avoids U+FEFF and U+180E, where JavaScript's \s and tiktoken's Rust \s differ,
// and characters newer than Unicode 14 (PCRE2 10.42's tables).
import { writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const source = process.env.ILM_SOURCE_DIR ?? resolve(here, "../..");
const module = resolve(source, ".assets/npm/node_modules/js-tiktoken/dist/index.js");
const { getEncoding } = await import(pathToFileURL(module).href);

const fixed = [
  "بِسْمِ ٱللَّٰهِ ٱلرَّحْمَٰنِ ٱلرَّحِيمِ",
  "مَرْحَبًا بِالْعَالَم! كَيْفَ حَالُكَ؟ ١٢٣٤٥",
  "👩‍👩‍👧‍👦 👨🏽‍💻 🏳️‍🌈 🇯🇵🇫🇷 ❤️‍🔥 🫶🏿",
  "English, русский, Ελληνικά, 中文, 日本語のテキスト, 한국어, हिन्दी, עברית, ไทย",
  " ".repeat(100) + "x" + "\n".repeat(40) + "\t\t \r\n\r\n  y",
  "   leading and trailing   ",
  "1234567890 12 123 1234 3.14159 -0.5e10 1,000,000 0x1F 007",
  "I'm you'RE they'll we've she'd it's WE'LL DON'T 'tis",
  "def f(x):\n    return {'a': [1, 2, 3]}  # comment\n\n\tif x != None: pass\n",
  "<div class=\"a\">&amp;&lt;</div>\n<script>let s = `${a}//b`;</script>",
  "https://example.com/path/to/file.html?query=1&b=2#frag",
  "naïve café résumé Ångström façade coöperate",
  "Zalgo: Z̵̡̢a̷̛͜l̸̨̕g̶̢̛ơ̵͜",
  "CamelCaseWordsAndHTTPServer XMLHttpRequest iPhone eBay",
  "a/b/c\\d\\e ../.. ~/x //comment /* c */",
  "\u00a0non-breaking\u2003em space\u3000ideographic\u2028line sep",
  "tabs\tand\u000bvertical\u000cfeed",
  "emoji😀in😀words😀 and 1😀2",
  "ＦＵＬＬＷＩＤＴＨ　ｔｅｘｔ　１２３",
  "mixed123numbers456and789letters",
  "((((((((((]]]]]]]]]]!!!!!!????....,,,,",
  "",
];

// Deterministic mixtures of fragments (a linear congruential generator, no Math.random).
const fragments = [
  "the", " quick", " brown", " fox", "'s", "'LL", " 12345", "٣٤٥", " مرحبا", "بِسْمِ",
  " 你好", "世界", " こんにちは", " 안녕", " Привет", "ελληνικά", " 👋", "👨‍👩‍👧", "🏳️‍⚧️",
  "  ", "   ", "\n", "\n\n", "\r\n", "\t", " \n ", "...", "!?", "//", "/*", "*/", "{}", "();",
  " x", "=", "==", " != ", "0", "9999", "3.5", "-", "_", "#", "@user", "$100", "%", "é", "ñ",
  "ß", "İ", "ǅ", "ﬁ", "'", "\"", "`", "(", ")", "[", "]", "<|endoftext|>", "<", "|", ">",
];
let state = 12345;
function next() {
  state = (Math.imul(state, 1103515245) + 12345) >>> 0;
  return state >>> 8;
}
const generated = [];
for (let i = 0; i < 120; ++i) {
  const n = 1 + (next() % 24);
  let s = "";
  for (let k = 0; k < n; ++k) s += fragments[next() % fragments.length];
  generated.push(s);
}

const cases = [];
for (const name of ["cl100k_base", "o200k_base"]) {
  const enc = getEncoding(name);
  for (const text of [...fixed, ...generated]) {
    // Special-token spellings are plain text, as in ilm's encode().
    cases.push({ encoding: name, text, ids: Array.from(enc.encode(text, [], [])) });
  }
}
// allowed_special / disallowed_special as tiktoken takes them; ilm's EncodeOptions for each
// is in test_tiktoken.cpp.
const modes = [
  ["all", []],
  [[], "all"],
  [["<|endoftext|>"], "all"],
  [["<|endoftext|>"], []],
];
const specialTexts = [
  "a<|endoftext|>b",
  "<|endoftext|><|endoftext|>",
  "no special here",
  "<|endoftext",
  "x<|fim_prefix|>y<|fim_suffix|>z",
  "<|endofprompt|> then <|endoftext|>",
  " <|endoftext|>\n<|endoftext|> ",
  ...generated.filter((s) => s.includes("<|endoftext|>")).slice(0, 10),
];
const special_cases = [];
for (const name of ["cl100k_base", "o200k_base"]) {
  const enc = getEncoding(name);
  for (const text of specialTexts) {
    for (const [allowed, disallowed] of modes) {
      const c = { encoding: name, text, allowed, disallowed };
      try {
        c.ids = Array.from(enc.encode(text, allowed, disallowed));
      } catch (e) {
        c.error = true;
      }
      special_cases.push(c);
    }
  }
}

const out = process.argv[2];
if (!out) throw new Error("usage: node tiktoken_reference.mjs OUT.json");
writeFileSync(out, JSON.stringify({ cases, special_cases }, null, 0) + "\n");
console.log(`wrote ${cases.length} cases and ${special_cases.length} special cases to ${out}`);
