// Dedup: normalization known answers, exact dedup, and MinHash + LSH on document pairs crafted
// to known shingle Jaccard similarities.
//
// The MinHash estimate of a similarity J from k = 128 permutations has standard deviation
// sqrt(J (1 - J) / k): 0.019 at J = 0.95, 0.027 at 0.9, 0.032 at 0.85, 0.044 at 0.5, 0.035 at
// 0.2. Every decision below is at least 3.7 of those from its threshold (a miss rate under
// 1e-4 a pair for a random seed), and all seeds are fixed, so the tests are deterministic and
// would stay green for other seeds too.
#include "ilm/data/dedup.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <utf8proc.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "test_util.h"

namespace ilm {
namespace {

using test::error_of;

// ---- normalization ----------------------------------------------------------------------

TEST(DedupNormalize, CaseAndWhitespace) {
  EXPECT_EQ(normalize_for_dedup("Hello   World\t\n"), "hello world");
  EXPECT_EQ(normalize_for_dedup("  \r\n leading and trailing \v\f"), "leading and trailing");
  EXPECT_EQ(normalize_for_dedup("Hi, there! (It's 42.)"), "hi, there! (it's 42.)");
  EXPECT_EQ(normalize_for_dedup(""), "");
  EXPECT_EQ(normalize_for_dedup(" \t\n "), "");
  // No-break space, ideographic space, line separator, NEL: Unicode White_Space.
  EXPECT_EQ(normalize_for_dedup("a\u00A0\u3000b\u2028c\u0085d"), "a b c d");
  EXPECT_EQ(normalize_for_dedup("Straße ΣΑΣ Ünïcödé"), "strasse σασ ünïcödé");
}

TEST(DedupNormalize, Nfkc) {
  EXPECT_EQ(normalize_for_dedup("ＡＢＣ１２３"), "abc123");         // full-width forms
  EXPECT_EQ(normalize_for_dedup("\uFB01nd"), "find");               // ligature fi
  EXPECT_EQ(normalize_for_dedup("x\u00B2"), "x2");                  // superscript two
  EXPECT_EQ(normalize_for_dedup("\uFEFB"), "\u0644\u0627");         // ﻻ -> لا
  EXPECT_EQ(normalize_for_dedup("\uFEE3\uFEAE\uFEA3\uFE92\uFE8E"),  // presentation forms
            "\u0645\u0631\u062D\u0628\u0627");                      // -> مرحبا
  // A combining mark composes with the ASCII letter before it, also upper case.
  EXPECT_EQ(normalize_for_dedup("Cafe\u0301 E\u0301"), "caf\u00E9 \u00E9");
  EXPECT_EQ(normalize_for_dedup("caf\u00E9"), normalize_for_dedup("CAFE\u0301"));
  // Arabic with its diacritics is already NFKC: unchanged.
  EXPECT_EQ(normalize_for_dedup("مَرْحَبًا   بِكُمْ"), "مَرْحَبًا بِكُمْ");
}

// The definition, on the whole text at once: utf8proc NFKC + case fold, then whitespace.
std::string reference_normalize(const std::string& text) {
  utf8proc_uint8_t* mapped = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                   static_cast<utf8proc_ssize_t>(text.size()), &mapped,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE |
                                                  UTF8PROC_COMPAT | UTF8PROC_CASEFOLD));
  EXPECT_GE(n, 0);
  std::string out;
  bool space = false;
  for (utf8proc_ssize_t i = 0; i < n;) {
    utf8proc_int32_t c = 0;
    const utf8proc_ssize_t len = utf8proc_iterate(mapped + i, n - i, &c);
    const bool white = (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 ||
                       c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
                       c == 0x202F || c == 0x205F || c == 0x3000;
    if (white) {
      space = !out.empty();
    } else {
      if (space) out += ' ';
      space = false;
      out.append(reinterpret_cast<const char*>(mapped + i), static_cast<size_t>(len));
    }
    i += len;
  }
  std::free(mapped);
  return out;
}

TEST(DedupNormalize, PiecewiseEqualsWholeText) {
  // normalize_for_dedup sends only runs of code points that may change (and the code point
  // before each) to utf8proc: random mixes of ASCII, letters, combining marks, compatibility
  // forms, Hangul jamo and spaces must come out as if the whole text had gone through it.
  const std::vector<std::string> pieces = {
      "a", "E", "o", " ", "\n", "\t", ".", "z", "\u0301", "\u0308", "\u0327", "\u00E9", "\uFF21",
      "\uFB01", "\u00A0", "\u3000", "\u2028", "\uFEFB", "\u0645", "\u064E", "\u1100", "\u1161",
      "\u11A8", "\u00DF", "\u03A3", "\u0130", "\u212B", "\u2460",
      // alef, madda, hamza above, waw, yeh, tatweel; a Hangul syllable; Oriya and Sinhala
      // vowel signs that compose with combining class 0; CJK, Cyrillic, emoji, math bold A;
      // NEL, ogham space, en quad, soft hyphen; hamza forms, an LVT syllable, and precomposed
      // Latin, Greek and Devanagari letters (some of which fold or take more marks)
      "\u0627", "\u0653", "\u0654", "\u0648", "\u064A", "\u0640", "\uAC00", "\u0B47", "\u0B3E",
      "\u0DD9", "\u0DCF", "\u4E2D", "\u0436", "\u0416", "\U0001F600", "\U0001D400", "\u0085",
      "\u1680", "\u2000", "\u00AD"};
  std::mt19937_64 r(3);
  for (int t = 0; t < 20000; ++t) {
    std::string text;
    const size_t len = r() % 12;
    for (size_t i = 0; i < len; ++i) text += pieces[r() % pieces.size()];
    ASSERT_EQ(normalize_for_dedup(text), reference_normalize(text)) << "text: " << text;
  }
}

TEST(DedupNormalize, InvalidUtf8BecomesReplacementCharacter) {
  EXPECT_EQ(normalize_for_dedup("A\xFF"
                                "B"),
            "a\uFFFDb");
  EXPECT_EQ(normalize_for_dedup("\xC3"), "\uFFFD");  // cut off
}

// ---- exact ----------------------------------------------------------------------------------

TEST(ExactDedup, DuplicatesAfterNormalization) {
  ExactDedup d;
  EXPECT_TRUE(d.insert("Hello World"));
  EXPECT_FALSE(d.insert("hello   world\n"));
  EXPECT_FALSE(d.insert("ＨＥＬＬＯ world"));
  EXPECT_TRUE(d.insert("Hello, World"));  // punctuation counts
  EXPECT_TRUE(d.insert(""));
  EXPECT_FALSE(d.insert("  "));
  EXPECT_FALSE(d.insert_normalized("hello world"));
  EXPECT_EQ(d.size(), 3);
  EXPECT_TRUE(d.insert_hash(Hash128{}));  // the all-zero hash is stored too
  EXPECT_FALSE(d.insert_hash(Hash128{}));
}

TEST(ExactDedup, ManyTexts) {
  ExactDedup d;
  for (int i = 0; i < 20000; ++i) ASSERT_TRUE(d.insert(fmt::format("document {}", i)));
  for (int i = 0; i < 20000; ++i) ASSERT_FALSE(d.insert(fmt::format("Document  {}", i)));
  EXPECT_EQ(d.size(), 20000);
  EXPECT_LE(d.memory_bytes(), size_t{20000} * 16 * 8 / 3);  // at least 3/8 of the slots used
}

// ---- configuration --------------------------------------------------------------------------

TEST(MinHashConfig, Validation) {
  MinHashConfig c;
  c.validate();
  c.ngram = 0;
  EXPECT_NE(error_of([&] { c.validate(); }).find("ngram"), std::string::npos);
  c = {};
  c.num_perm = 8;
  EXPECT_NE(error_of([&] { c.validate(); }).find("num_perm"), std::string::npos);
  c.num_perm = 2048;
  EXPECT_NE(error_of([&] { c.validate(); }).find("num_perm"), std::string::npos);
  c = {};
  c.bands = 24;  // does not divide 128
  EXPECT_NE(error_of([&] { c.validate(); }).find("bands"), std::string::npos);
  c.bands = -1;
  EXPECT_NE(error_of([&] { c.validate(); }).find("bands"), std::string::npos);
  c = {};
  c.threshold = 0;
  EXPECT_NE(error_of([&] { c.validate(); }).find("threshold"), std::string::npos);
  c.threshold = 1.5;
  EXPECT_NE(error_of([&] { c.validate(); }).find("threshold"), std::string::npos);
  c.threshold = 1.0;
  c.validate();
  c = {};
  c.bands = 32;
  EXPECT_EQ(c.rows(), 4);
  EXPECT_NE(error_of([&] { MinHashLsh lsh(MinHashConfig{.ngram = -3}); }).find("ngram"),
            std::string::npos);
}

TEST(MinHashConfig, ChosenBands) {
  // Known answers, from the same areas computed in Python on a finer grid.
  EXPECT_EQ(optimal_bands(0.8, 128), 16);
  EXPECT_EQ(optimal_bands(0.5, 128), 32);
  EXPECT_EQ(optimal_bands(0.7, 128), 32);
  EXPECT_EQ(optimal_bands(0.9, 128), 8);
  EXPECT_EQ(optimal_bands(1.0, 128), 1);
  // The usual equal weights, which pick fewer bands and miss more.
  EXPECT_EQ(optimal_bands(0.8, 128, 0.5, 0.5), 8);
  EXPECT_EQ(optimal_bands(0.9, 128, 0.5, 0.5), 4);
  MinHashConfig c;
  EXPECT_EQ(c.resolved_bands() * c.rows(), c.num_perm);
  for (int np : {16, 60, 128, 250, 1024}) {
    for (double t : {0.3, 0.7, 0.85, 0.95, 1.0}) {
      const int b = optimal_bands(t, np);
      EXPECT_EQ(np % b, 0) << np << " " << t;
    }
  }
  EXPECT_NEAR(lsh_candidate_probability(0.8, 16, 8), 1 - std::pow(1 - std::pow(0.8, 8), 16), 1e-15);
}

// ---- signatures -------------------------------------------------------------------------

std::mt19937_64& rng() {
  static std::mt19937_64 r(12345);
  return r;
}

// `count` words, distinct with near certainty.
std::vector<std::string> fresh_words(size_t count) {
  std::vector<std::string> w;
  for (size_t i = 0; i < count; ++i) w.push_back(fmt::format("w{}", rng()() % 1000000000000));
  return w;
}

std::string join(const std::vector<std::string>& words) {
  std::string s;
  for (const auto& w : words) {
    if (!s.empty()) s += ' ';
    s += w;
  }
  return s;
}

// A and B of `length` distinct words, B with its last k words replaced by new ones. With
// n-word shingles, M = length - n + 1 shingles each, of which M - k are shared:
// J = (M - k) / (M + k).
struct Pair {
  std::string a, b;
  double expected;
};
Pair pair_with_replaced_tail(size_t length, size_t k, size_t n) {
  std::vector<std::string> a = fresh_words(length), b = a, tail = fresh_words(k);
  for (size_t i = 0; i < k; ++i) b[length - k + i] = tail[i];
  const double m = static_cast<double>(length - n + 1), kk = static_cast<double>(k);
  return {join(a), join(b), (m - kk) / (m + kk)};
}

// k for a similarity near J with M = 1000 shingles: k = M (1 - J) / (1 + J).
size_t replaced_for(double j) {
  return static_cast<size_t>(std::lround(1000 * (1 - j) / (1 + j)));
}

TEST(MinHash, ShingleJaccardKnownAnswers) {
  MinHashConfig c;
  for (double target : {0.95, 0.9, 0.85, 0.5, 0.2}) {
    Pair p = pair_with_replaced_tail(1004, replaced_for(target), 5);
    EXPECT_NEAR(shingle_jaccard(p.a, p.b, c), p.expected, 1e-12);
    EXPECT_NEAR(p.expected, target, 0.002);
  }
  EXPECT_EQ(shingle_jaccard("a b c", "a b c", c), 1.0);  // fewer words than ngram: one shingle
  EXPECT_EQ(shingle_jaccard("a b c", "a b d", c), 0.0);
  EXPECT_EQ(shingle_jaccard("", "", c), 1.0);
  c.ngram = 2;
  // {a b, b c, c d} and {a b, b c, c e}: 2 / 4.
  EXPECT_DOUBLE_EQ(shingle_jaccard("a b c d", "a b c e", c), 0.5);
  // Repeats count once: {a a} and {a a}.
  EXPECT_DOUBLE_EQ(shingle_jaccard("a a a a", "a a", c), 1.0);
  c.unit = ShingleUnit::character;
  c.ngram = 3;
  // {abc, bcd} and {abc, bce}: 1 / 3.
  EXPECT_DOUBLE_EQ(shingle_jaccard("abcd", "abce", c), 1.0 / 3.0);
  // Code points, not bytes: {مرح, رحب} and {مرح, رحا}.
  EXPECT_DOUBLE_EQ(shingle_jaccard("مرحب", "مرحا", c), 1.0 / 3.0);
}

TEST(MinHash, KnownSignatureAcrossRuns) {
  // Golden values: a change of hash or permutations changes what a pipeline keeps.
  MinHashConfig c;
  const MinHashSignature sig = minhash_signature("the quick brown fox jumps over the lazy dog", c);
  ASSERT_EQ(sig.size(), 128u);
  const std::vector<uint32_t> head(sig.begin(), sig.begin() + 4);
  EXPECT_EQ(head, (std::vector<uint32_t>{258794894, 337018191, 766157085, 49602844}));
  EXPECT_EQ(minhash_signature("the quick brown fox jumps over the lazy dog", c), sig);
  c.seed = 2;
  EXPECT_NE(minhash_signature("the quick brown fox jumps over the lazy dog", c), sig);
}

TEST(MinHash, EstimateMatchesShingleJaccard) {
  // 300 pairs of random similarity: each estimate within 4.5 standard deviations (+0.01 for
  // J near 0 or 1), no bias, and the spread of the binomial model (which needs the
  // permutations to be independent): mean squared standardized error near 1 (its own
  // standard deviation is sqrt(2/300) = 0.08).
  MinHashConfig c;
  const double k = c.num_perm;
  double sum_error = 0, sum_z2 = 0;
  int counted = 0;
  for (int i = 0; i < 300; ++i) {
    const size_t length = 200 + rng()() % 800, replaced = rng()() % (length - 4);
    Pair p = pair_with_replaced_tail(length, replaced, 5);
    const double j = shingle_jaccard(p.a, p.b, c);
    ASSERT_NEAR(j, p.expected, 1e-12);
    const double est = estimated_jaccard(minhash_signature(p.a, c), minhash_signature(p.b, c));
    const double sd = std::sqrt(j * (1 - j) / k);
    EXPECT_NEAR(est, j, 4.5 * sd + 0.01) << "pair " << i;
    sum_error += est - j;
    if (sd > 0.01) {
      sum_z2 += (est - j) * (est - j) / (sd * sd);
      ++counted;
    }
  }
  EXPECT_NEAR(sum_error / 300, 0.0, 0.01);
  EXPECT_NEAR(sum_z2 / counted, 1.0, 0.3);
}

TEST(MinHash, LongDocuments) {
  // 20000 shingles: several chunks of shingle hashes go through the permutations.
  MinHashConfig c;
  Pair p = pair_with_replaced_tail(20004, 6667, 5);  // J = 13333 / 26667 = 0.5
  const double j = shingle_jaccard(p.a, p.b, c);
  EXPECT_NEAR(j, p.expected, 1e-12);
  EXPECT_NEAR(estimated_jaccard(minhash_signature(p.a, c), minhash_signature(p.b, c)), j,
              4.5 * std::sqrt(j * (1 - j) / 128));
  c.unit = ShingleUnit::character;
  const double jc = shingle_jaccard(p.a, p.b, c);
  EXPECT_NEAR(estimated_jaccard(minhash_signature(p.a, c), minhash_signature(p.b, c)), jc,
              4.5 * std::sqrt(jc * (1 - jc) / 128) + 0.01);
}

TEST(MinHash, ShortAndIdenticalTexts) {
  MinHashConfig c;
  EXPECT_EQ(estimated_jaccard(minhash_signature("a b", c), minhash_signature("a b", c)), 1.0);
  EXPECT_LT(estimated_jaccard(minhash_signature("a b", c), minhash_signature("a c", c)), 0.05);
  EXPECT_EQ(minhash_signature("", c).size(), 128u);
  EXPECT_NE(
      error_of([&] { estimated_jaccard(MinHashSignature(128), MinHashSignature(64)); }).find("128"),
      std::string::npos);
  c.num_perm = 100;  // not a multiple of the 16 lanes
  Pair p = pair_with_replaced_tail(504, 50, 5);
  EXPECT_EQ(minhash_signature(p.a, c).size(), 100u);
  EXPECT_NEAR(estimated_jaccard(minhash_signature(p.a, c), minhash_signature(p.b, c)),
              shingle_jaccard(p.a, p.b, c), 0.2);
}

// ---- LSH ------------------------------------------------------------------------------------

// Of 20 crafted pairs at similarity `target`, how many the LSH finds (B after A).
int detected_pairs(double target, const MinHashConfig& c) {
  int found = 0;
  for (int i = 0; i < 20; ++i) {
    MinHashLsh lsh(c);
    Pair p = pair_with_replaced_tail(1004, replaced_for(target), 5);
    EXPECT_EQ(lsh.insert(100, minhash_signature(p.a, c)), std::nullopt);
    const std::optional<int64_t> hit = lsh.insert(101, minhash_signature(p.b, c));
    if (hit) {
      EXPECT_EQ(*hit, 100);
      EXPECT_EQ(lsh.size(), 1);
    } else {
      EXPECT_EQ(lsh.size(), 2);
    }
    found += hit.has_value();
  }
  return found;
}

TEST(MinHashLsh, PairsAtKnownSimilarities) {
  MinHashConfig c;                         // threshold 0.8, 16 bands of 8 rows
  EXPECT_EQ(detected_pairs(0.95, c), 20);  // 7.8 sd above
  EXPECT_EQ(detected_pairs(0.9, c), 20);   // 3.8 sd above; a band misses with P < 2e-4
  EXPECT_EQ(detected_pairs(0.5, c), 0);    // 6.8 sd below
  EXPECT_EQ(detected_pairs(0.2, c), 0);
  c.threshold = 0.7;                       // 32 bands of 4 rows
  EXPECT_EQ(detected_pairs(0.85, c), 20);  // 4.7 sd above
  EXPECT_EQ(detected_pairs(0.5, c), 0);    // 4.5 sd below
}

TEST(MinHashLsh, ArabicCharacterShingles) {
  MinHashConfig c{.unit = ShingleUnit::character, .ngram = 5};
  const std::string base = normalize_for_dedup(
      "ﺍﻟﻌﻠﻢ نور والجهل ظلام، ومن طلب العلا سهر الليالي. إن العلم يرفع بيتا لا عماد له، والجهل "
      "يهدم بيت العز والشرف. اطلبوا العلم من المهد إلى اللحد، فإن طالب العلم لا يشبع.");
  // The same text with tashkeel added to two words and one word changed.
  const std::string edited = normalize_for_dedup(
      "العِلْمُ نور والجهل ظلام، ومن طلب العلا سهر الليالي. إن العلم يرفع بيتا لا عماد له، والجهل "
      "يهدم بيت العز والكرامة. اطلبوا العلم من المهد إلى اللحد، فإن طالب العلم لا يشبع.");
  const std::string other = normalize_for_dedup(
      "كان يا ما كان في قديم الزمان، مدينة على شاطئ البحر يسكنها صيادون يخرجون قبل الفجر "
      "ويعودون مع الغروب بما رزقهم الله من السمك.");
  // Presentation forms of the first word fold into the plain letters.
  EXPECT_EQ(base.substr(0, std::string("العلم").size()), "العلم");
  const double j_edit = shingle_jaccard(base, edited, c);
  EXPECT_GT(j_edit, 0.8);
  EXPECT_LT(shingle_jaccard(base, other, c), 0.1);
  MinHashLsh lsh(c);
  EXPECT_EQ(lsh.insert(1, minhash_signature(base, c)), std::nullopt);
  EXPECT_EQ(lsh.insert(2, minhash_signature(other, c)), std::nullopt);
  c.threshold = j_edit - 0.15;  // the edit is 0.15 above the threshold
  MinHashLsh lower(c);
  EXPECT_EQ(lower.insert(1, minhash_signature(base, c)), std::nullopt);
  EXPECT_EQ(lower.insert(2, minhash_signature(edited, c)), 1);
}

TEST(MinHashLsh, ClustersDeterministicAndSmall) {
  // 3000 documents: 1000 originals, each followed later by one of two kinds of copies:
  // a light edit (J ~ 0.95, removed) or a heavy one (J ~ 0.33, kept).
  MinHashConfig c;
  std::vector<std::pair<std::string, int>> docs;  // text, original it copies (-1: none)
  std::vector<std::string> originals;
  for (int i = 0; i < 1000; ++i) {
    originals.push_back(join(fresh_words(204)));
    docs.push_back({originals.back(), -1});
  }
  for (int i = 0; i < 1000; ++i) {
    std::string s = originals[static_cast<size_t>(i)];
    // Light: the last 3 words changed (J = 197/203); heavy: the last 100 (J = 100/300).
    std::vector<std::string> words;
    size_t pos = 0;
    while (pos != std::string::npos) {
      const size_t next = s.find(' ', pos);
      words.push_back(s.substr(pos, next == std::string::npos ? next : next - pos));
      pos = next == std::string::npos ? next : next + 1;
    }
    const size_t change = i % 2 == 0 ? 3 : 100;
    std::vector<std::string> tail = fresh_words(change);
    for (size_t k = 0; k < change; ++k) words[words.size() - change + k] = tail[k];
    docs.push_back({join(words), i % 2 == 0 ? i : -1});
  }
  std::vector<MinHashSignature> sigs;
  for (const auto& d : docs) sigs.push_back(minhash_signature(d.first, c));
  std::vector<std::optional<int64_t>> first, second;
  MinHashLsh a(c), b(c);
  for (size_t i = 0; i < docs.size(); ++i)
    first.push_back(a.insert(static_cast<int64_t>(i), sigs[i]));
  for (size_t i = 0; i < docs.size(); ++i)
    second.push_back(b.insert(static_cast<int64_t>(i), sigs[i]));
  EXPECT_EQ(first, second);
  int wrong = 0;
  for (size_t i = 0; i < docs.size(); ++i) {
    const int expected = docs[i].second;
    wrong += expected < 0 ? first[i].has_value() : first[i] != std::optional<int64_t>(expected);
  }
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(a.size(), 1500);
  // num_perm + 8 bytes a document, and 16 bands of 4-byte slots in tables of 2048 slots.
  EXPECT_EQ(a.memory_bytes(), size_t{1500} * (128 + 8) + size_t{16} * 2048 * 4);
  EXPECT_LE(a.memory_bytes() / 1500, 300u);
  EXPECT_NE(error_of([&] { a.insert(0, MinHashSignature(64)); }).find("num_perm"),
            std::string::npos);
}

TEST(MinHashLsh, ManyDocumentsSharingABand) {
  // 3000 signatures equal in band 0 (the first 8 values) and random elsewhere: similarity
  // 8/128, all kept. Band 0 holds only the first kMaxPerBandKey of them, so each insert
  // verifies at most that many candidates there (without the cap: 4.5 million in all).
  MinHashConfig c;  // 16 bands of 8 rows
  std::mt19937_64 r(11);
  std::vector<MinHashSignature> sigs(3000, MinHashSignature(128));
  for (auto& sig : sigs) {
    for (size_t i = 0; i < 128; ++i)
      sig[i] = i < 8 ? static_cast<uint32_t>(i) : static_cast<uint32_t>(r());
  }
  MinHashLsh lsh(c);
  for (size_t i = 0; i < sigs.size(); ++i) {
    ASSERT_EQ(lsh.insert(static_cast<int64_t>(i), sigs[i]), std::nullopt) << i;
  }
  EXPECT_EQ(lsh.size(), 3000);
  EXPECT_LE(lsh.verified(), 3000 * MinHashLsh::kMaxPerBandKey);
  EXPECT_GE(lsh.verified(), (3000 - MinHashLsh::kMaxPerBandKey) * MinHashLsh::kMaxPerBandKey);
  // A copy of the last one, absent from band 0's table, is still found through the others.
  EXPECT_EQ(lsh.insert(5000, sigs.back()), 2999);
  EXPECT_EQ(lsh.insert(5001, sigs[0]), 0);
}

TEST(DedupStats, Merge) {
  DedupStats a{10, 2, 8, 1}, b{5, 1, 4, 3};
  a.merge(b);
  EXPECT_EQ(a.exact_seen, 15);
  EXPECT_EQ(a.exact_removed, 3);
  EXPECT_EQ(a.near_seen, 12);
  EXPECT_EQ(a.near_removed, 4);
}

}  // namespace
}  // namespace ilm
