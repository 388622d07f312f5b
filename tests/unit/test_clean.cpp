// The cleaning stages on crafted inputs with exact outputs, the Cleaner's order, drops and
// counts, and the `clean:` config parser's errors.
#include "ilm/data/clean.h"

#include <gtest/gtest.h>
#include <utf8proc.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <random>

#include "ilm/data/clean_stages.h"
#include "test_util.h"

namespace ilm {
namespace {

using test::error_of;

// Runs one transform and returns its output; `changed` gets its return value.
template <typename F>
std::string run(F&& f, std::string text, bool* changed = nullptr) {
  const bool c = f(text);
  if (changed) *changed = c;
  return text;
}

std::string utf8(char32_t cp) {
  std::string s;
  utf8proc_uint8_t buf[4];
  const auto k = utf8proc_encode_char(static_cast<utf8proc_int32_t>(cp), buf);
  s.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(k));
  return s;
}

std::string reference_nfc(const std::string& s) {
  utf8proc_uint8_t* out = utf8proc_NFC(reinterpret_cast<const utf8proc_uint8_t*>(s.c_str()));
  std::string r(reinterpret_cast<const char*>(out));
  std::free(out);
  return r;
}

// A Cleaner with every stage off but utf8, then `set` applied.
template <typename F>
Cleaner only(F&& set) {
  CleanConfig c;
  c.nfc = c.strip_control = c.normalize_whitespace = false;
  set(c);
  return Cleaner(c);
}

// ---- utf8 -------------------------------------------------------------------------------

TEST(CleanUtf8, RepairReplacesEachMaximalSubpart) {
  bool changed = false;
  EXPECT_EQ(run(clean::repair_utf8,
                "a\xFF"
                "b",
                &changed),
            "a\uFFFD"
            "b");
  EXPECT_TRUE(changed);
  EXPECT_EQ(run(clean::repair_utf8, "x\xE2\x82"), "x\uFFFD");  // cut off at the end
  EXPECT_EQ(run(clean::repair_utf8,
                "\xE2\x82"
                "A"),
            "\uFFFD"
            "A");  // valid prefix, then A
  EXPECT_EQ(run(clean::repair_utf8, "\xF0\x80\x80\x80"), "\uFFFD\uFFFD\uFFFD\uFFFD");  // overlong
  EXPECT_EQ(run(clean::repair_utf8, "\xED\xA0\x80"), "\uFFFD\uFFFD\uFFFD");            // surrogate
  EXPECT_EQ(run(clean::repair_utf8, "\xF4\x90\x80\x80"), "\uFFFD\uFFFD\uFFFD\uFFFD");  // > U+10FFFF
  EXPECT_EQ(run(clean::repair_utf8, "\u0645\xC0\u0631"), "\u0645\uFFFD\u0631");
  EXPECT_EQ(run(clean::repair_utf8, "ok \u0645\u0631\u062D\u0628\u0627 \U0001F600", &changed),
            "ok \u0645\u0631\u062D\u0628\u0627 \U0001F600");
  EXPECT_FALSE(changed);
  EXPECT_TRUE(clean::is_valid_utf8("plain ascii and \u0639\u0631\u0628\u064A"));
  EXPECT_FALSE(clean::is_valid_utf8("0123456789abcdef\xC3"));
}

TEST(CleanUtf8, DropPolicy) {
  CleanConfig c;
  c.invalid_utf8 = Utf8Policy::drop;
  Cleaner cleaner(c);
  CleanStats stats = cleaner.new_stats();
  std::string bad = "fine text \xC3\x28 here";
  EXPECT_EQ(cleaner.apply(bad, stats), "utf8");
  std::string good = "fine text";
  EXPECT_EQ(cleaner.apply(good, stats), "");
  EXPECT_EQ(stats.stages[0].stage, "utf8");
  EXPECT_EQ(stats.stages[0].seen, 2);
  EXPECT_EQ(stats.stages[0].dropped, 1);
  EXPECT_EQ(stats.stages[0].modified, 0);
}

// ---- nfc --------------------------------------------------------------------------------

TEST(CleanNfc, Composes) {
  bool changed = false;
  EXPECT_EQ(run(clean::to_nfc,
                "caf"
                "e\u0301",
                &changed),
            "caf\u00E9");
  EXPECT_TRUE(changed);
  // Arabic hamza and madda compositions.
  EXPECT_EQ(run(clean::to_nfc, "\u0627\u0654"), "\u0623");
  EXPECT_EQ(run(clean::to_nfc, "\u0627\u0655"), "\u0625");
  EXPECT_EQ(run(clean::to_nfc, "\u0627\u0653"), "\u0622");
  EXPECT_EQ(run(clean::to_nfc, "\u0648\u0654"), "\u0624");
  EXPECT_EQ(run(clean::to_nfc, "\u064A\u0654"), "\u0626");
  EXPECT_EQ(run(clean::to_nfc, "\u0633\u0627\u0654\u0644"), "\u0633\u0623\u0644");  // سأل
  // Canonical order of Arabic marks: fatha (class 30) before shadda (class 33).
  EXPECT_EQ(run(clean::to_nfc, "\u0628\u0651\u064E"), "\u0628\u064E\u0651");
  EXPECT_EQ(run(clean::to_nfc, "\u2126"), "\u03A9");                // ohm sign: a singleton
  EXPECT_EQ(run(clean::to_nfc, "\u1100\u1161\u11A8"), "\uAC01");    // Hangul jamo
  EXPECT_EQ(run(clean::to_nfc, "\uAC00\u11A8"), "\uAC01");          // LV syllable + T
  EXPECT_EQ(run(clean::to_nfc, "x\u0301\u0327"), "x\u0327\u0301");  // reordered, no composite
}

TEST(CleanNfc, LeavesNfcAlone) {
  bool changed = true;
  // كَتَبَ with fatha marks, tatweel, ZWNJ, presentation forms (NFC keeps them; NFKC would not).
  const std::string arabic =
      "\u0643\u064E\u062A\u064E\u0628\u064E \u0645\u0640\u0640\u0631\u062D\u0628\u0627 "
      "\u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645 \uFEFB \uFDF2";
  EXPECT_EQ(run(clean::to_nfc, arabic, &changed), arabic);
  EXPECT_FALSE(changed);
  const std::string emoji =
      "\U0001F468\u200D\U0001F469\u200D\U0001F467 \U0001F3F3\uFE0F\u200D"
      "\U0001F308 \U0001F44D\U0001F3FD";
  EXPECT_EQ(run(clean::to_nfc, emoji, &changed), emoji);
  EXPECT_FALSE(changed);
  EXPECT_EQ(run(clean::to_nfc, "plain ASCII", &changed), "plain ASCII");
  EXPECT_FALSE(changed);
}

// The fast path (only spans around unstable code points go to utf8proc) equals utf8proc's NFC
// of the whole text.
TEST(CleanNfc, MatchesUtf8procOnEveryCodePoint) {
  for (char32_t c = 0x80; c < 0x110000; ++c) {
    if (c >= 0xD800 && c <= 0xDFFF) continue;
    if (utf8proc_category(static_cast<utf8proc_int32_t>(c)) == UTF8PROC_CATEGORY_CN) continue;
    const std::string one = utf8(c);
    std::string around = "a";
    around.append(one).append("b");
    std::string acute = one, hamza = one;
    acute.append("\u0301");
    hamza.append("\u0654");
    for (const std::string& s : {around, acute, hamza}) {
      const std::string got = run(clean::to_nfc, s);
      if (got != reference_nfc(s)) {
        ADD_FAILURE() << "code point U+" << std::hex << static_cast<uint32_t>(c);
        return;
      }
    }
  }
}

TEST(CleanNfc, MatchesUtf8procOnRandomMixes) {
  std::vector<char32_t> pool;
  for (char32_t c : {U'a',      U'e',      U'o',      U' ',      U'\u00E9', U'\u0627', U'\u0648',
                     U'\u064A', U'\u0628', U'\u0640', U'\u200C', U'\u200D', U'\u1100', U'\u1161',
                     U'\u11A8', U'\uAC00', U'\u0B47', U'\u0B3E', U'\u0B57', U'\u0CC6', U'\u0CC2',
                     U'\u0CD5', U'\u1FBF', U'\u3099', U'\u304B', U'\u0F73'})
    pool.push_back(c);
  for (char32_t c = 0x0300; c <= 0x0345; ++c) pool.push_back(c);
  for (char32_t c = 0x064B; c <= 0x0655; ++c) pool.push_back(c);
  std::mt19937 rng(7);
  std::uniform_int_distribution<size_t> pick(0, pool.size() - 1), len(1, 12);
  for (int trial = 0; trial < 20000; ++trial) {
    std::string s;
    for (size_t k = len(rng); k > 0; --k) s += utf8(pool[pick(rng)]);
    ASSERT_EQ(run(clean::to_nfc, s), reference_nfc(s)) << s;
  }
}

// ---- control ----------------------------------------------------------------------------

TEST(CleanControl, RemovesControlsKeepsFormatCharacters) {
  bool changed = false;
  static const char kInput[] =
      "\uFEFFa\x01"
      "b\x7F"
      "c\u0085d\u009F"
      "e\x00"
      "f";
  EXPECT_EQ(run(clean::strip_controls, std::string(kInput, sizeof(kInput) - 1), &changed),
            "abcdef");
  EXPECT_TRUE(changed);
  // ZWNJ, ZWJ, RLM, LRM, ALM, bidi isolates, soft hyphen, tabs and line ends stay.
  const std::string kept =
      "\u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645 \U0001F468\u200D\U0001F469 \u200F\u200E"
      "\u061C\u2067x\u2069 \u00AD\u00A0\t\n\r end";
  EXPECT_EQ(run(clean::strip_controls, kept, &changed), kept);
  EXPECT_FALSE(changed);
}

// ---- whitespace -------------------------------------------------------------------------

TEST(CleanWhitespace, LinesAndEnds) {
  bool changed = false;
  EXPECT_EQ(run(clean::normalize_whitespace, "  \n\nHello  \r\nworld\t\r\r\r\n\n  indented\n\n\n\n",
                &changed),
            "Hello\nworld\n\n  indented");
  EXPECT_TRUE(changed);
  EXPECT_EQ(run(clean::normalize_whitespace, "a\rb"), "a\nb");
  EXPECT_EQ(run(clean::normalize_whitespace, "a\n \t \n \n\nb"), "a\n\nb");  // blank lines
  const std::string code = "int  x =\t1;\n\n    return  x;";
  EXPECT_EQ(run(clean::normalize_whitespace, code, &changed), code);  // inner spaces kept
  EXPECT_FALSE(changed);
  EXPECT_EQ(run(clean::normalize_whitespace, " \n\t "), "");
}

// ---- html -------------------------------------------------------------------------------

TEST(CleanHtml, TagsScriptsCommentsEntities) {
  const std::string page =
      "<html><head><title>T</title><style>p{color:red}</style>"
      "<script type=\"text/javascript\">if (a<b) x(\"</p>\");</script></head><body>"
      "<p class='x'>One &amp; two</p><!-- a <b>comment</b> --><div>3 &lt; 4 &#x627;&#1604;</div>"
      "a < b <br/>x&nbsp;y &#146;<a href=\"u?a=1>2\">link</a></body></html>";
  EXPECT_EQ(run([](std::string& t) { return clean::strip_html(t, true); }, page),
            "\nT\n\n\n\nOne & two\n\n3 < 4 \u0627\u0644\na < b \nx y \u2019link");
  CleanConfig c;
  c.strip_html = true;
  Cleaner cleaner(c);
  CleanStats stats = cleaner.new_stats();
  std::string text = page;
  EXPECT_EQ(cleaner.apply(text, stats), "");
  EXPECT_EQ(text, "T\n\nOne & two\n\n3 < 4 \u0627\u0644\na < b\nx y \u2019link");
}

TEST(CleanHtml, EdgeCases) {
  auto strip = [](std::string t, bool drop_controls = true) {
    clean::strip_html(t, drop_controls);
    return t;
  };
  EXPECT_EQ(strip("a <b c"), "a <b c");  // never closed: text
  EXPECT_EQ(strip("x <!-- never closed"), "x ");
  EXPECT_EQ(strip("x <a title=\"unbalanced>y"), "x y");
  EXPECT_EQ(strip("a<b c<d <!x <?y"), "a<b c<d <!x <?y");  // no '>' anywhere
  EXPECT_EQ(strip("&amp;lt; &unknown; & <3"), "&lt; &unknown; & <3");
  EXPECT_EQ(strip("&#0;&#xD800;&#x110000;&#99999999999;"), "\uFFFD\uFFFD\uFFFD\uFFFD");
  EXPECT_EQ(strip("a&#1;b&#x81;c&#x9;d"), "abc\td");  // &#x81; is no Windows-1252 character
  EXPECT_EQ(strip("&#x85;&#150;&#8364;"), "\u2026\u2013\u20AC");  // but &#x85; is
  EXPECT_EQ(strip("a&#1;b", false), std::string("a\x01"
                                                "b"));
  EXPECT_EQ(strip("<td>a</td><td>b</td>"), " a  b ");
  EXPECT_EQ(strip("<SCRIPT>x</SCRIPT>y<Style>z</STYLE >w"), "\ny\nw");
  EXPECT_EQ(strip("<script>never closed"), "");
  EXPECT_EQ(strip("<!DOCTYPE html><?xml version=\"1.0\"?>ok"), "ok");
  bool changed = true;
  EXPECT_EQ(run([](std::string& t) { return clean::strip_html(t, true); }, "no markup", &changed),
            "no markup");
  EXPECT_FALSE(changed);
  // A decoded combining mark is composed when nfc is on.
  CleanConfig c;
  c.strip_html = true;
  Cleaner cleaner(c);
  CleanStats stats = cleaner.new_stats();
  std::string text = "<b>e&#x301;</b> &#x627;&#x654;";
  EXPECT_EQ(cleaner.apply(text, stats), "");
  EXPECT_EQ(text, "\u00E9 \u0623");
  // A page of only markup is dropped by html.
  std::string empty = "<script>var x = 1;</script>\n<!-- -->";
  EXPECT_EQ(cleaner.apply(empty, stats), "html");
}

// ---- filters ----------------------------------------------------------------------------

TEST(CleanLength, CodePoints) {
  Cleaner cleaner = only([](CleanConfig& c) { c.min_chars = 3, c.max_chars = 5; });
  CleanStats stats = cleaner.new_stats();
  std::string arabic = "\u0645\u0631\u062D\u0628\u0627";  // 5 code points, 10 bytes
  std::string longer = "abcdef", shorter = "ab", three = "abc";
  EXPECT_EQ(cleaner.apply(arabic, stats), "");
  EXPECT_EQ(cleaner.apply(longer, stats), "length");
  EXPECT_EQ(cleaner.apply(shorter, stats), "length");
  EXPECT_EQ(cleaner.apply(three, stats), "");
  ASSERT_EQ(stats.stages.size(), 2u);
  EXPECT_EQ(stats.stages[1].stage, "length");
  EXPECT_EQ(stats.stages[1].seen, 4);
  EXPECT_EQ(stats.stages[1].dropped, 2);
  EXPECT_EQ(clean::count_code_points("\U0001F468\u200D\U0001F469"), 3);
}

TEST(CleanLetterRatio, Ratios) {
  EXPECT_DOUBLE_EQ(clean::letter_ratio("abc 123"), 0.5);
  EXPECT_DOUBLE_EQ(clean::letter_ratio("\u0643\u064E\u062A\u064E\u0628\u064E \u0640"), 1.0);
  EXPECT_DOUBLE_EQ(clean::letter_ratio("a\u200Cb\u200D"), 1.0);  // format characters not counted
  EXPECT_DOUBLE_EQ(clean::letter_ratio("\U0001F600 a"), 0.5);
  EXPECT_DOUBLE_EQ(clean::letter_ratio(" \n"), 0.0);
  std::string at = "abc 123", below = "abc 123";
  Cleaner keep = only([](CleanConfig& c) { c.min_letter_ratio = 0.5; });
  Cleaner drop = only([](CleanConfig& c) { c.min_letter_ratio = 0.51; });
  CleanStats s1 = keep.new_stats(), s2 = drop.new_stats();
  EXPECT_EQ(keep.apply(at, s1), "");
  EXPECT_EQ(drop.apply(below, s2), "letter_ratio");
}

TEST(CleanScript, DominantAndFraction) {
  auto verdict = [](std::vector<Script> scripts, double fraction, std::string text) {
    Cleaner cleaner = only([&](CleanConfig& c) {
      c.scripts = scripts;
      c.min_script_fraction = fraction;
    });
    CleanStats stats = cleaner.new_stats();
    return std::string(cleaner.apply(text, stats));
  };
  const std::string mixed = "\u0645\u0631\u062D\u0628\u0627 \u0628\u0643\u0645 hello";  // 8 : 5
  EXPECT_EQ(verdict({Script::arabic}, 0, mixed), "");
  EXPECT_EQ(verdict({Script::arabic}, 0.6, mixed), "");  // 8/13 = 0.615
  EXPECT_EQ(verdict({Script::arabic}, 0.62, mixed), "script");
  EXPECT_EQ(verdict({Script::latin}, 0, mixed), "script");
  EXPECT_EQ(verdict({Script::arabic}, 0, "hello world \u0645\u0631\u062D\u0628\u0627"), "script");
  EXPECT_EQ(verdict({Script::arabic}, 0, "123 456"), "script");  // no letters: Common
  EXPECT_EQ(verdict({Script::common}, 0, "123 456"), "");
  // Arabic 8, Latin 5, Cyrillic 3: (8 + 5) / 16 = 0.8125.
  std::string three = mixed;
  three.append(" \u043F\u0440\u0438");
  EXPECT_EQ(verdict({Script::arabic, Script::latin}, 0.8, three), "");
  EXPECT_EQ(verdict({Script::arabic, Script::latin}, 0.82, three), "script");
  EXPECT_EQ(verdict({Script::cyrillic}, 0, three), "script");
}

TEST(CleanScript, TableCountsEqualCountScripts) {
  for (const char* text :
       {"\u0645\u0631\u062D\u0628\u0627 hello \u043F\u0440\u0438 42 \u4E2D\u6587",
        "\u30AB\u30BF \uD55C\uAE00 \u0E44\u0E17\u0E22 \u05E2\u05D1 \u0939\u093F",
        "\U00020000 \U0001F600 \U0001D400 \u064E\u0640 \u1200"}) {
    EXPECT_EQ(clean::script_counts(text).count, count_scripts(text).count) << text;
  }
}

TEST(CleanRepetition, RepeatedLines) {
  // Lines aaaa, bb, aaaa, cccc: 8 of 14 characters in repeated lines = 0.5714.
  const std::string text = "aaaa\nbb\naaaa\n\n\ncccc";
  EXPECT_DOUBLE_EQ(clean::repeated_line_fraction(text), 8.0 / 14.0);
  EXPECT_DOUBLE_EQ(clean::repeated_line_fraction("one line"), 0.0);
  EXPECT_DOUBLE_EQ(
      clean::repeated_line_fraction("\u0633\u0644\u0627\u0645\nx\n\u0633\u0644\u0627\u0645"),
      8.0 / 9.0);
  auto verdict = [&](double max) {
    Cleaner cleaner = only([&](CleanConfig& c) { c.max_repeated_line_fraction = max; });
    CleanStats stats = cleaner.new_stats();
    std::string t = text;
    return std::string(cleaner.apply(t, stats));
  };
  EXPECT_EQ(verdict(0.57), "repetition");
  EXPECT_EQ(verdict(0.58), "");
}

TEST(CleanRepetition, TopNgram) {
  // "a b c" at words 0 and 3 covers 6 of 7 word characters.
  EXPECT_DOUBLE_EQ(clean::top_ngram_fraction("a b c a b c d"), 6.0 / 7.0);
  EXPECT_DOUBLE_EQ(clean::top_ngram_fraction("x x x x x"), 1.0);  // overlaps counted once
  EXPECT_DOUBLE_EQ(clean::top_ngram_fraction("one two three four five"), 0.0);
  // Words are code points: "في البيت الكبير" twice among 8 words (2+5+6)*2 / (26+2+3).
  const std::string arabic =
      "\u0641\u064A \u0627\u0644\u0628\u064A\u062A \u0627\u0644\u0643\u0628\u064A\u0631 "
      "\u0641\u064A \u0627\u0644\u0628\u064A\u062A \u0627\u0644\u0643\u0628\u064A\u0631 "
      "\u0647\u0648 \u0646\u0639\u0645";
  EXPECT_DOUBLE_EQ(clean::top_ngram_fraction(arabic), 26.0 / 31.0);
  auto verdict = [](double max) {
    Cleaner cleaner = only([&](CleanConfig& c) { c.max_top_ngram_fraction = max; });
    CleanStats stats = cleaner.new_stats();
    std::string t = "a b c a b c d";
    return std::string(cleaner.apply(t, stats));
  };
  EXPECT_EQ(verdict(0.85), "repetition");
  EXPECT_EQ(verdict(0.86), "");
}

TEST(CleanSymbolRatio, SymbolWords) {
  // #, ..., … and -- are symbol words; #tag, 42 and ok are not: 4 of 7.
  const std::string text = "hello # world ... \u2026 -- ok";
  EXPECT_DOUBLE_EQ(clean::symbol_word_ratio(text), 4.0 / 7.0);
  EXPECT_DOUBLE_EQ(clean::symbol_word_ratio("#tag 42 ok"), 0.0);
  EXPECT_DOUBLE_EQ(clean::symbol_word_ratio("\u0645\u0627\u0630\u0627 \u061F"), 0.5);  // ماذا ؟
  EXPECT_DOUBLE_EQ(clean::symbol_word_ratio("\U0001F44D nice"), 0.5);
  EXPECT_DOUBLE_EQ(clean::symbol_word_ratio(""), 0.0);
  auto verdict = [&](double max) {
    Cleaner cleaner = only([&](CleanConfig& c) { c.max_symbol_ratio = max; });
    CleanStats stats = cleaner.new_stats();
    std::string t = text;
    return std::string(cleaner.apply(t, stats));
  };
  EXPECT_EQ(verdict(0.57), "symbol_ratio");
  EXPECT_EQ(verdict(0.58), "");
}

// ---- the Cleaner ------------------------------------------------------------------------

TEST(Cleaner, ArabicAndEmojiSurviveEveryStage) {
  CleanConfig c;
  c.strip_html = true;
  c.min_chars = 5;
  c.min_letter_ratio = 0.5;
  c.scripts = {Script::arabic};
  c.max_repeated_line_fraction = 0.3;
  c.max_top_ngram_fraction = 0.3;
  c.max_symbol_ratio = 0.4;  // 2 emoji words of 6
  Cleaner cleaner(c);
  CleanStats stats = cleaner.new_stats();
  // RLM, السَّلامُ عَلَيْكُمْ (marks in canonical order), tatweel, ZWNJ (Persian), emoji.
  const std::string text =
      "\u200F\u0627\u0644\u0633\u064E\u0651\u0644\u0627\u0645\u064F "
      "\u0639\u064E\u0644\u064E\u064A\u0652\u0643\u064F\u0645\u0652 \u0645\u0640\u0640\u0631\u062D"
      "\u0628\u0627 \u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645 \U0001F468\u200D\U0001F469"
      "\u200D\U0001F467 \U0001F44D\U0001F3FD";
  std::string t = text;
  EXPECT_EQ(cleaner.apply(t, stats), "");
  EXPECT_EQ(t, text);
  ASSERT_EQ(stats.stages.size(), 10u);
  for (size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(stats.stages[i].stage, kCleanStages[i]);
    EXPECT_EQ(stats.stages[i].seen, 1);
    EXPECT_EQ(stats.stages[i].modified, 0) << stats.stages[i].stage;
    EXPECT_EQ(stats.stages[i].dropped, 0);
  }
}

TEST(Cleaner, DefaultStagesAndCounts) {
  Cleaner cleaner{CleanConfig{}};
  CleanStats stats = cleaner.new_stats();
  ASSERT_EQ(stats.stages.size(), 4u);
  EXPECT_EQ(stats.stages[0].stage, "utf8");
  EXPECT_EQ(stats.stages[3].stage, "whitespace");
  std::string a = "e\u0301t\u00E9 \xFF ";  // utf8 + nfc + whitespace
  std::string b = "  \r\n\t";              // emptied by whitespace
  std::string d = "";                      // empty: dropped by utf8
  std::string e = "\uFEFFclean";           // control
  EXPECT_EQ(cleaner.apply(a, stats), "");
  EXPECT_EQ(a, "\u00E9t\u00E9 \uFFFD");
  EXPECT_EQ(cleaner.apply(b, stats), "whitespace");
  EXPECT_EQ(cleaner.apply(d, stats), "utf8");
  EXPECT_EQ(cleaner.apply(e, stats), "");
  EXPECT_EQ(e, "clean");
  const StageCount& utf = stats.stages[0];
  EXPECT_EQ(utf.seen, 4);
  EXPECT_EQ(utf.modified, 1);
  EXPECT_EQ(utf.dropped, 1);
  const StageCount& nfc = stats.stages[1];
  EXPECT_EQ(nfc.seen, 3);
  EXPECT_EQ(nfc.modified, 1);
  const StageCount& control = stats.stages[2];
  EXPECT_EQ(control.seen, 3);
  EXPECT_EQ(control.modified, 1);
  const StageCount& ws = stats.stages[3];
  EXPECT_EQ(ws.seen, 3);
  EXPECT_EQ(ws.modified, 2);
  EXPECT_EQ(ws.dropped, 1);

  CleanStats other = cleaner.new_stats();
  other.stages[0].seen = 10;
  other.stages[3].dropped = 2;
  stats.merge(other);
  EXPECT_EQ(stats.stages[0].seen, 14);
  EXPECT_EQ(stats.stages[3].dropped, 3);
  CleanStats empty;
  empty.merge(stats);
  EXPECT_EQ(empty.stages.size(), 4u);
  EXPECT_EQ(empty.stages[0].seen, 14);
}

// Random bytes and fragments of markup: nothing crashes, what is kept is valid UTF-8, and
// cleaning a kept document again changes nothing (without html, whose decoded "&lt;b&gt;" is
// a tag the second time).
TEST(Cleaner, RandomInputsAreValidAndStable) {
  const char* const pieces[] = {"<p>",
                                "</div>",
                                "<script>x</script>",
                                "<!--",
                                "-->",
                                "&amp;",
                                "&#x627;",
                                "&#1;",
                                "\r\n",
                                "\n\n\n",
                                "  ",
                                "\t",
                                "\xFF",
                                "\xE2\x82",
                                "\u0627\u0654",
                                "e\u0301",
                                "\u200D",
                                "\uFEFF",
                                "\x01",
                                "\u0085",
                                "word",
                                "\u0645\u0631\u062D\u0628\u0627",
                                "#",
                                "...",
                                "\U0001F468"};
  CleanConfig with_html;
  with_html.strip_html = true;
  with_html.max_repeated_line_fraction = 0.9;
  with_html.max_top_ngram_fraction = 0.9;
  with_html.max_symbol_ratio = 0.9;
  with_html.min_letter_ratio = 0.1;
  CleanConfig without_html = with_html;
  without_html.strip_html = false;
  const Cleaner html(with_html), plain(without_html);
  CleanStats s1 = html.new_stats(), s2 = plain.new_stats();
  std::mt19937 rng(3);
  std::uniform_int_distribution<size_t> pick(0, std::size(pieces) - 1), len(0, 30);
  for (int trial = 0; trial < 5000; ++trial) {
    std::string text;
    for (size_t k = len(rng); k > 0; --k) text += pieces[pick(rng)];
    if (trial % 3 == 0 && !text.empty()) text[rng() % text.size()] ^= 0x80;
    std::string a = text, b = text;
    if (html.apply(a, s1).empty()) {
      ASSERT_TRUE(clean::is_valid_utf8(a)) << text;
    }
    if (plain.apply(b, s2).empty()) {
      ASSERT_TRUE(clean::is_valid_utf8(b)) << text;
      std::string again = b;
      CleanStats s3 = plain.new_stats();
      ASSERT_EQ(plain.apply(again, s3), "") << text;
      ASSERT_EQ(again, b) << text;
    }
  }
}

TEST(Cleaner, ValidatesConfig) {
  auto error = [](auto set) {
    CleanConfig c;
    set(c);
    return error_of([&] { Cleaner cleaner(c); });
  };
  EXPECT_NE(error([](CleanConfig& c) { c.min_letter_ratio = 1.5; }).find("clean.min_letter_ratio"),
            std::string::npos);
  EXPECT_NE(error([](CleanConfig& c) { c.max_symbol_ratio = -0.1; }).find("clean.max_symbol_ratio"),
            std::string::npos);
  EXPECT_NE(
      error([](CleanConfig& c) { c.min_chars = 10, c.max_chars = 5; }).find("clean.min_chars"),
      std::string::npos);
  EXPECT_NE(error([](CleanConfig& c) { c.max_chars = -1; }).find("clean.max_chars"),
            std::string::npos);
  EXPECT_NE(error([](CleanConfig& c) { c.min_script_fraction = 0.5; }).find("clean.scripts"),
            std::string::npos);
}

TEST(CleanConfigJson, ParsesEveryKey) {
  const auto j = nlohmann::json::parse(R"({
    "invalid_utf8": "drop", "nfc": false, "strip_control": false, "normalize_whitespace": false,
    "strip_html": true, "min_chars": 10, "max_chars": 100000.0, "min_letter_ratio": 0.6,
    "scripts": ["Arabic", "latin"], "min_script_fraction": 0.5,
    "max_repeated_line_fraction": 0.3, "max_top_ngram_fraction": 0.2, "max_symbol_ratio": 0.1})");
  const CleanConfig c = clean_config_from_json(j, "data.yaml");
  EXPECT_EQ(c.invalid_utf8, Utf8Policy::drop);
  EXPECT_FALSE(c.nfc);
  EXPECT_FALSE(c.strip_control);
  EXPECT_FALSE(c.normalize_whitespace);
  EXPECT_TRUE(c.strip_html);
  EXPECT_EQ(c.min_chars, 10);
  EXPECT_EQ(c.max_chars, 100000);
  EXPECT_DOUBLE_EQ(c.min_letter_ratio, 0.6);
  EXPECT_EQ(c.scripts, (std::vector<Script>{Script::arabic, Script::latin}));
  EXPECT_DOUBLE_EQ(c.min_script_fraction, 0.5);
  EXPECT_DOUBLE_EQ(c.max_repeated_line_fraction, 0.3);
  EXPECT_DOUBLE_EQ(c.max_top_ngram_fraction, 0.2);
  EXPECT_DOUBLE_EQ(c.max_symbol_ratio, 0.1);
  const CleanConfig d = clean_config_from_json(nlohmann::json(), "data.yaml");
  EXPECT_TRUE(d.nfc);
  EXPECT_EQ(d.invalid_utf8, Utf8Policy::repair);
}

TEST(CleanConfigJson, Errors) {
  auto error = [](const char* text) {
    return error_of([&] { clean_config_from_json(nlohmann::json::parse(text), "data.yaml"); });
  };
  EXPECT_EQ(error(R"({"min_char": 5})"),
            "data.yaml: clean: unknown key 'min_char' (did you mean 'min_chars'?)");
  EXPECT_NE(error(R"({"colour": 5})").find("known keys: invalid_utf8"), std::string::npos);
  EXPECT_EQ(error(R"({"nfc": "yes"})"),
            "data.yaml: clean.nfc: expected true or false, got \"yes\"");
  EXPECT_EQ(error(R"({"min_chars": 1.5})"),
            "data.yaml: clean.min_chars: expected a whole number of characters, got 1.5");
  EXPECT_EQ(error(R"({"max_symbol_ratio": "0.1"})"),
            "data.yaml: clean.max_symbol_ratio: expected a number, got \"0.1\"");
  EXPECT_EQ(error(R"({"invalid_utf8": "fix"})"),
            "data.yaml: clean.invalid_utf8: expected \"repair\" or \"drop\", got \"fix\"");
  EXPECT_NE(
      error(R"({"scripts": "Arabic"})").find("clean.scripts: expected a list of script names"),
      std::string::npos);
  EXPECT_NE(error(R"({"scripts": ["Klingon"]})").find("clean.scripts: unknown script 'Klingon'"),
            std::string::npos);
  EXPECT_NE(error(R"({"min_letter_ratio": 2})")
                .find("data.yaml: clean.min_letter_ratio: expected a number in [0, 1], got 2"),
            std::string::npos);
  EXPECT_NE(error("[1, 2]").find("data.yaml: clean: expected an object"), std::string::npos);
}

}  // namespace
}  // namespace ilm
