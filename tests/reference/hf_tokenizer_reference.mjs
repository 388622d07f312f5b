// Golden token ids for ilm's HfTokenizer from the npm package @xenova/transformers, which
// implements Hugging Face's tokenizer.json in JavaScript.
//
//   node hf_tokenizer_reference.mjs --out FILE [--package DIR] [--corpus LINES_FILE]
//
// Encodes a fixed corpus (English, Arabic with diacritics, CJK, emoji and ZWJ sequences, runs of
// white space, digits, code, accents, special-token spellings) with every tokenizer.json in
// tests/reference/hf_fixtures and writes, per fixture and text, the ids without and with the
// post-processor's special tokens and the decoded text; and a few pairs. The C++ test
// (test_hf_tokenizer, HfReference.*) compares ilm's results with these.
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
function arg(name, fallback) {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}
const out = arg('--out');
if (!out) {
  console.error('usage: node hf_tokenizer_reference.mjs --out FILE [--package DIR]');
  process.exit(2);
}
const pkgDir = resolve(arg('--package', join(here, '../../.assets/npm/node_modules/@xenova/transformers')));
if (!existsSync(join(pkgDir, 'package.json'))) {
  console.error(`@xenova/transformers not found at ${pkgDir}`);
  process.exit(3);
}
const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
// The tokenizers module alone: the package's index also loads image code that needs sharp.
const { PreTrainedTokenizer } = await import(pathToFileURL(join(pkgDir, 'src/tokenizers.js')).href);

const corpus = [
  'Hello, world!',
  'The quick brown fox jumps over the lazy dog.',
  "It's what they'll do; we've seen 'em, I'm sure, you'd agree.",
  'First Citizen:\nBefore we proceed any further, hear me speak.',
  'Call me Ishmael. Some years ago--never mind how long precisely--',
  '  leading spaces and trailing   ',
  'tabs\tand\nnew\r\nlines\n\n\nand    runs     of spaces',
  'Numbers: 0 7 42 1234567 3.14159 -273.15 1,000,000 ٣٤٥',
  'café naïve résumé Ünïcödé über straße CAFÉ',
  'e\u0301 decomposed vs é composed; Å Å Å',
  'السلام عليكم',
  'مَرْحَبًا بِكُمْ فِي الْعَالَمِ',
  '東京は日本の首都です。中文测试',
  '한국어 텍스트',
  'Emoji 😀 and family 👨‍👩‍👧‍👦 and flags 🇫🇷 and skin 👍🏽',
  'def f(x):\n    return x ** 2  # square\n',
  'for (int i = 0; i < n; ++i) { sum += a[i]; }',
  '<html><body class="main">&amp; &lt;</body></html>',
  'UPPER lower MiXeD CaSe',
  'ﬁ ligature ① circled ｆｕｌｌｗｉｄｔｈ',
  '\u00a0no-break\u2003em-space\u3000ideographic',
  'zero\u200bwidth\u200djoiner\ufeffbom',
  'a',
  ' ',
  'supercalifragilisticexpialidocious antidisestablishmentarianism',
  'ROMEO: O, she doth teach the torches to burn bright!',
  'Hello<|endoftext|>world <|endoftext|> again',
  '<|im_start|>user\nhi<|im_end|>',
  '<s>text</s> with [CLS] and [SEP] and [MASK] tokens',
  '...!!!???',
  "don't can't won't isn't",
  'x',
];
// --corpus FILE: encode its lines instead (a larger check by hand; the committed golden file
// uses the corpus above).
const corpusFile = arg('--corpus');
if (corpusFile) {
  corpus.splice(0, corpus.length, ...readFileSync(corpusFile, 'utf8').split('\n').filter((l) => l.length));
}
const pairs = [
  ['How are you?', 'I am fine.'],
  ['First sentence', 'Second one here'],
];

// Where the package is known to differ from Hugging Face's Rust tokenizers, the case keeps the
// package's output but names the reason; the C++ test skips that comparison.
//  - Its BertNormalizer strips only U+0300..U+036F after NFD; Hugging Face removes every
//    nonspacing mark (Mn), Arabic harakat included.
//  - Its StripAccents likewise removes only U+0300..U+036F; Hugging Face every mark (M*).
//  - Its WhitespaceSplit splits on JavaScript's \s, which includes U+FEFF; Rust's
//    char::is_whitespace does not. Its Digits takes only ASCII digits (\d), Rust's
//    char::is_numeric every N*.
//  - Its ByteFallback decoder decodes bytes with TextDecoder, which drops a byte order mark.
function exclusions(name, json, text) {
  const ids = [];
  const decoded = [];
  const norm = json.normalizer;
  if (norm && norm.type === 'BertNormalizer' && /[^\u0300-\u036f\P{Mn}]/u.test(text.normalize('NFD'))) {
    ids.push('package strips only U+0300..U+036F accents, Hugging Face every Mn');
  }
  const config = JSON.stringify(json);
  const nfd = text.normalize('NFD');
  if (config.includes('"StripAccents"') && /[^\u0300-\u036f\P{M}]/u.test(nfd)) {
    ids.push('package strips only U+0300..U+036F, Hugging Face every mark');
  }
  if (config.includes('"WhitespaceSplit"') && text.includes('\ufeff')) {
    ids.push('package splits at U+FEFF, Hugging Face does not');
  }
  if (config.includes('"Digits"') && /[^0-9\P{N}]/u.test(text)) {
    ids.push('package splits only ASCII digits, Hugging Face every N*');
  }
  if (JSON.stringify(json.decoder ?? null).includes('ByteFallback') && text.includes('\ufeff')) {
    decoded.push("package's TextDecoder drops U+FEFF");
  }
  return { ids, decoded };
}

function decode(tok, ids) {
  return tok.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
}

const fixturesDir = join(here, 'hf_fixtures');
const fixtures = {};
for (const name of readdirSync(fixturesDir).filter((f) => f.endsWith('.json')).sort()) {
  const json = JSON.parse(readFileSync(join(fixturesDir, name), 'utf8'));
  // The package (2.17) reads merges only as "left right" strings; Hugging Face also writes
  // them as ["left", "right"] arrays, which mean the same when no token holds a space.
  if (json.model.merges) json.model.merges = json.model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m));
  const tok = new PreTrainedTokenizer(json, {});
  const cases = corpus.map((text) => {
    const ids = tok.encode(text, null, { add_special_tokens: false });
    const idsWithSpecial = tok.encode(text, null, { add_special_tokens: true });
    const c = { text, ids, ids_with_special: idsWithSpecial, decoded: ids.length ? decode(tok, ids) : '' };
    const ex = exclusions(name, json, text);
    if (ex.ids.length) c.excluded = ex.ids;
    if (ex.decoded.length) c.decoded_excluded = ex.decoded;
    return c;
  });
  const pairCases = pairs.map(([a, b]) => ({ a, b, ids: tok.encode(a, b, { add_special_tokens: true }) }));
  fixtures[name] = { cases, pairs: pairCases };
}

const result = {
  generator: 'tests/reference/hf_tokenizer_reference.mjs',
  package: `${pkg.name}@${pkg.version}`,
  fixtures,
};
writeFileSync(out, JSON.stringify(result, null, 1) + '\n');
