#include "ilm/data/report.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "ilm/io/file.h"
#include "ilm/tokenizer/tokenizer.h"
#include "test_util.h"

namespace ilm {
namespace {

bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    Utf8Scan scan = scan_utf8(s, i);
    if (scan.status != Utf8Status::ok) return false;
    i += static_cast<size_t>(scan.length);
  }
  return true;
}

size_t code_points(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++n) i += static_cast<size_t>(scan_utf8(s, i).length);
  return n;
}

size_t occurrences(std::string_view text, std::string_view what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string_view::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Checks that every tag opened is closed in order (void and self-closing tags aside), that no
// '<' starts anything but a tag, and that attribute quotes are balanced. "" when well formed.
std::string html_structure_error(std::string_view html) {
  const std::vector<std::string_view> kVoid = {"meta", "br", "hr", "img", "input", "link"};
  std::vector<std::string> open;
  size_t i = 0;
  while ((i = html.find('<', i)) != std::string_view::npos) {
    if (html.compare(i, 4, "<!--") == 0) {
      i = html.find("-->", i);
      if (i == std::string_view::npos) return "unclosed comment";
      continue;
    }
    size_t end = i + 1;
    char quote = 0;
    while (end < html.size() && (quote || html[end] != '>')) {
      if (quote && html[end] == quote)
        quote = 0;
      else if (!quote && (html[end] == '"' || html[end] == '\''))
        quote = html[end];
      else if (!quote && html[end] == '<')
        return "'<' inside a tag at " + std::to_string(i);
      ++end;
    }
    if (end >= html.size()) return "unterminated tag at " + std::to_string(i);
    std::string_view tag = html.substr(i + 1, end - i - 1);
    i = end + 1;
    if (tag.empty()) return "empty tag";
    if (tag[0] == '!') continue;  // doctype
    bool closing = tag[0] == '/';
    if (closing) tag.remove_prefix(1);
    size_t name_end = 0;
    while (name_end < tag.size() && (std::isalnum(static_cast<unsigned char>(tag[name_end])))) {
      ++name_end;
    }
    if (name_end == 0) return "'<' not starting a tag: <" + std::string(tag.substr(0, 10));
    std::string name(tag.substr(0, name_end));
    if (closing) {
      if (open.empty() || open.back() != name) {
        return "</" + name + "> closes <" + (open.empty() ? "nothing" : open.back()) + ">";
      }
      open.pop_back();
    } else if (tag.back() != '/' && std::find(kVoid.begin(), kVoid.end(), name) == kVoid.end()) {
      open.push_back(name);
    }
  }
  if (!open.empty()) return "<" + open.back() + "> never closed";
  return "";
}

// ---- LogHistogram ----

TEST(LogHistogram, BinsCoverEveryValueOnce) {
  EXPECT_EQ(LogHistogram::bin_of(0), 0);
  EXPECT_EQ(LogHistogram::bin_lo(0), 0);
  EXPECT_EQ(LogHistogram::bin_hi(0), 1);
  for (int64_t v = 1; v < 12; ++v) {  // small values are exact
    int b = LogHistogram::bin_of(v);
    EXPECT_EQ(LogHistogram::bin_lo(b), v);
    EXPECT_EQ(LogHistogram::bin_hi(b), v + 1);
  }
  for (int e = 0; e < 63; ++e) {  // each power of two starts a bin, 8 bins per octave
    int64_t p = int64_t{1} << e;
    EXPECT_EQ(LogHistogram::bin_of(p), 1 + 8 * e);
    EXPECT_EQ(LogHistogram::bin_lo(1 + 8 * e), p);
  }
  std::mt19937_64 rng(7);
  for (int i = 0; i < 20000; ++i) {
    auto v = static_cast<int64_t>(rng() >> (1 + rng() % 63));
    int b = LogHistogram::bin_of(v);
    ASSERT_LE(LogHistogram::bin_lo(b), v);
    ASSERT_LT(v, LogHistogram::bin_hi(b)) << v;
    if (LogHistogram::bin_lo(b) >= 12) {  // the last value within 2^(1/8) of the first
      double ratio = static_cast<double>(LogHistogram::bin_hi(b) - 1) / LogHistogram::bin_lo(b);
      ASSERT_LE(ratio, std::exp2(1.0 / 8) + 1e-9) << v;
    }
  }
}

TEST(LogHistogram, ExactMoments) {
  LogHistogram h;
  EXPECT_EQ(h.count(), 0);
  EXPECT_EQ(h.quantile(0.5), 0);
  EXPECT_EQ(h.mean(), 0.0);
  for (int64_t v = 1; v <= 1000; ++v) h.add(v);
  h.add(0);
  EXPECT_EQ(h.count(), 1001);
  EXPECT_EQ(h.sum(), 500500);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.max(), 1000);
  EXPECT_DOUBLE_EQ(h.mean(), 500500.0 / 1001);
  EXPECT_EQ(h.quantile(0), 0);
  EXPECT_EQ(h.quantile(1), 1000);
  int64_t in_bins = 0;
  for (const auto& b : h.bins()) {
    EXPECT_GT(b.count, 0);
    in_bins += b.count;
  }
  EXPECT_EQ(in_bins, 1001);
  EXPECT_EQ(h.bins().front().lo, 0);
  EXPECT_EQ(h.bins().front().count, 1);
}

TEST(LogHistogram, QuantilesWithinOneBin) {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> lognormal(6.0, 1.5);  // document lengths: ~400 median
  std::vector<std::vector<int64_t>> sets(3);
  for (int i = 0; i < 50000; ++i) sets[0].push_back(static_cast<int64_t>(lognormal(rng)));
  for (int64_t v = 1; v <= 100000; ++v) sets[1].push_back(v);                     // uniform
  for (int i = 0; i < 30000; ++i) sets[2].push_back(int64_t{1} << (rng() % 40));  // powers of two
  for (auto& values : sets) {
    LogHistogram h;
    for (int64_t v : values) h.add(v);
    std::sort(values.begin(), values.end());
    for (double q : {0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999}) {
      auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(values.size())));
      double exact = static_cast<double>(values[rank - 1]);
      double got = static_cast<double>(h.quantile(q));
      EXPECT_LE(std::abs(got - exact), 0.091 * exact + 1) << "q=" << q << " exact=" << exact;
      EXPECT_LE(std::abs(got - exact), 0.046 * exact + 1) << "q=" << q << " exact=" << exact;
    }
  }
}

TEST(LogHistogram, MergeEqualsOneStream) {
  std::mt19937_64 rng(3);
  LogHistogram all, parts[3];
  for (int i = 0; i < 10000; ++i) {
    auto v = static_cast<int64_t>(rng() % 1000000);
    all.add(v);
    parts[i % 3].add(v);
  }
  LogHistogram merged;
  for (const LogHistogram& p : parts) merged.merge(p);
  merged.merge(LogHistogram());
  EXPECT_EQ(merged.count(), all.count());
  EXPECT_EQ(merged.sum(), all.sum());
  EXPECT_EQ(merged.min(), all.min());
  EXPECT_EQ(merged.max(), all.max());
  for (double q : {0.1, 0.5, 0.9, 0.99}) EXPECT_EQ(merged.quantile(q), all.quantile(q));
  auto a = all.bins(), b = merged.bins();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].lo, b[i].lo);
    EXPECT_EQ(a[i].count, b[i].count);
  }
}

// ---- DataStats ----

void add(DataStats& s, std::string_view text, int64_t tokens = -1) {
  s.add_document(text, tokens, count_scripts(text));
}

TEST(DataStats, CountsAndScripts) {
  DataStats s;
  add(s, "مرحبا بالعالم", 4);  // 12 Arabic letters, 13 code points, 2 words
  add(s, "hello world", 2);    // 10 Latin letters, 11 code points, 2 words
  add(s, "ilm هو العلم", -1);  // 3 Latin + 7 Arabic, 12 code points, 3 words
  add(s, "123\t456\n", 3);     // no letters, 8 code points, 2 words
  EXPECT_EQ(s.documents(), 4);
  EXPECT_EQ(s.chars().sum(), 13 + 11 + 12 + 8);
  EXPECT_EQ(s.chars().max(), 13);
  EXPECT_EQ(s.bytes().sum(), (12 * 2 + 1) + 11 + (3 + 7 * 2 + 2) + 8);
  EXPECT_EQ(s.words().sum(), 9);
  EXPECT_EQ(s.words().min(), 2);
  EXPECT_EQ(s.tokens().count(), 3);
  EXPECT_EQ(s.tokens().sum(), 9);
  EXPECT_EQ(s.scripts().of(Script::arabic), 19);
  EXPECT_EQ(s.scripts().of(Script::latin), 13);
  EXPECT_NEAR(s.scripts().fraction(Script::arabic), 19.0 / 32, 1e-12);
  EXPECT_EQ(s.documents_by_script(Script::arabic), 2);
  EXPECT_EQ(s.documents_by_script(Script::latin), 1);
  EXPECT_EQ(s.documents_by_script(Script::common), 1);
}

TEST(DataStats, WordsSplitOnUnicodeSpaces) {
  DataStats s;
  add(s, "a\u00A0b\u3000c  d\u2029");  // no-break, ideographic and paragraph separators
  EXPECT_EQ(s.words().sum(), 4);
}

TEST(DataStats, TopDuplicatesWithSamples) {
  DataStats s;
  for (int i = 0; i < 5; ++i) s.add_duplicate(11, "نص مكرر", false);
  for (int i = 0; i < 3; ++i) s.add_duplicate(22, "almost the same", i > 0);
  s.add_duplicate(33, "once", false);
  EXPECT_EQ(s.duplicates(), 9);
  EXPECT_EQ(s.near_duplicates(), 2);
  auto top = s.top_duplicates(2);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].group, 11u);
  EXPECT_EQ(top[0].count, 5);
  EXPECT_EQ(top[0].near, 0);
  EXPECT_EQ(top[0].sample, "نص مكرر");
  EXPECT_EQ(top[1].group, 22u);
  EXPECT_EQ(top[1].count, 3);
  EXPECT_EQ(top[1].near, 2);
  EXPECT_EQ(s.top_duplicates(100).size(), 3u);
}

TEST(DataStats, TopGroupsHaveSamplesWhenCountsTie) {
  DataStats s;
  std::mt19937_64 rng(9);
  for (int i = 0; i < 500; ++i) s.add_duplicate(rng(), "once each", i % 2 == 0);  // ids unordered
  auto top = s.top_duplicates(DataStats::kTopSamples);
  ASSERT_EQ(top.size(), DataStats::kTopSamples);
  for (const DuplicateGroup& d : top) {
    EXPECT_EQ(d.count, 1);
    EXPECT_EQ(d.sample, "once each");
  }
}

TEST(DataStats, SamplesAreCutOnCodePointsAndStayValid) {
  std::string arabic;
  for (int i = 0; i < 300; ++i) arabic += "ع";
  std::string sample = text_sample(arabic, 200);
  EXPECT_TRUE(valid_utf8(sample));
  EXPECT_EQ(code_points(sample), 201u);  // 200 and the ellipsis
  EXPECT_EQ(sample.substr(sample.size() - 3), "…");
  EXPECT_EQ(text_sample("short", 200), "short");
  EXPECT_EQ(text_sample("a\xff"
                        "b\tc\nd",
                        200),
            "a\xEF\xBF\xBD"
            "b c\nd");
  EXPECT_EQ(text_sample("\xD8", 200), "\xEF\xBF\xBD");  // cut inside a sequence

  DataStats s;
  s.add_duplicate(1, arabic, false);
  EXPECT_EQ(s.top_duplicates(1)[0].sample, sample);
}

TEST(DataStats, DuplicateTableStaysBounded) {
  DataStats s(200);
  for (uint64_t g = 1000; g < 6000; ++g) {
    s.add_duplicate(g, "rare", false);
    if (g % 50 == 0) s.add_duplicate(42, "the common one", false);  // 100 times
  }
  EXPECT_LE(s.duplicate_groups(), 200u);
  EXPECT_GT(s.forgotten_groups(), 0);
  EXPECT_EQ(s.max_forgotten_count(), 1);
  EXPECT_EQ(s.duplicates(), 5100);
  auto top = s.top_duplicates(1);
  EXPECT_EQ(top[0].group, 42u);
  EXPECT_EQ(top[0].count, 100);
  EXPECT_EQ(top[0].sample, "the common one");
  EXPECT_NE(test::error_of([] { DataStats tiny(10); }).find("max_duplicate_groups"),
            std::string::npos);
}

TEST(DataStats, MergeEqualsOneStream) {
  DataStats one, parts[3];
  const char* texts[] = {"مرحبا بالعالم", "hello world", "ilm هو العلم", "Привет мир", "42"};
  for (int i = 0; i < 300; ++i) {
    std::string_view t = texts[i % 5];
    add(one, t, i % 7 == 0 ? -1 : i);
    add(parts[i % 3], t, i % 7 == 0 ? -1 : i);
    auto group = static_cast<uint64_t>(i % 11);  // each group one text, as a duplicate is
    one.add_duplicate(group, texts[group % 5], i % 4 == 0);
    parts[i % 3].add_duplicate(group, texts[group % 5], i % 4 == 0);
  }
  parts[0].stages = {{"clean", 100, 5, 10}, {"dedup", 90, 0, 30}};
  parts[1].stages = {{"clean", 200, 6, 20}, {"dedup", 180, 0, 40}};
  parts[1].problem_counts["bad json"] = 2;
  parts[2].problem_counts["bad json"] = 1;
  DataStats merged;
  for (const DataStats& p : parts) merged.merge(p);
  EXPECT_EQ(merged.documents(), one.documents());
  EXPECT_EQ(merged.chars().sum(), one.chars().sum());
  EXPECT_EQ(merged.words().sum(), one.words().sum());
  EXPECT_EQ(merged.tokens().count(), one.tokens().count());
  EXPECT_EQ(merged.tokens().quantile(0.9), one.tokens().quantile(0.9));
  for (int sc = 0; sc < kScriptCount; ++sc) {
    EXPECT_EQ(merged.scripts().count[static_cast<size_t>(sc)],
              one.scripts().count[static_cast<size_t>(sc)]);
    EXPECT_EQ(merged.documents_by_script(static_cast<Script>(sc)),
              one.documents_by_script(static_cast<Script>(sc)));
  }
  EXPECT_EQ(merged.duplicates(), one.duplicates());
  EXPECT_EQ(merged.near_duplicates(), one.near_duplicates());
  auto a = one.top_duplicates(), b = merged.top_duplicates();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].group, b[i].group);
    EXPECT_EQ(a[i].count, b[i].count);
    EXPECT_EQ(a[i].near, b[i].near);
    EXPECT_EQ(a[i].sample, b[i].sample);
  }
  ASSERT_EQ(merged.stages.size(), 2u);
  EXPECT_EQ(merged.stages[1].stage, "dedup");
  EXPECT_EQ(merged.stages[1].seen, 270);
  EXPECT_EQ(merged.stages[1].dropped, 70);
  EXPECT_EQ(merged.problem_counts["bad json"], 3);
}

// ---- the pages ----

DataStats crafted() {
  DataStats s;
  s.title = "Corpus <b>report</b>";
  s.summary = {{"inputs", "raw/*.jsonl"}, {"tokenizer", "gpt2"}};
  s.input_files = 2;
  s.input_records = 1234;
  s.input_bytes = 5678901;
  s.stages = {{"clean", 1234, 10, 234}, {"exact dedup", 1000, 0, 7}};
  s.problem_counts = {{"bad json", 3}, {"missing field", 1}};
  s.first_problems = {{"raw/a.jsonl", 7, "bad json", "expected '}' <here>"},
                      {"raw/ب.jsonl", 9, "missing field", "no \"text\""}};
  add(s, "مرحبا بالعالم", 4);
  add(s, "hello world", 2);
  add(s, "ilm هو العلم", 3);
  for (int i = 0; i < 4; ++i) s.add_duplicate(1, "<script>alert(1)</script> a|b\nc", false);
  s.add_duplicate(2, "تكرار قريب", true);
  return s;
}

TEST(Report, MarkdownHasTheNumbersAndEscapes) {
  std::string md = report_markdown(crafted());
  EXPECT_NE(md.find("# Corpus &lt;b&gt;report&lt;/b&gt;"), std::string::npos) << md;
  EXPECT_NE(md.find("| input records | 1,234 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| input bytes | 5,678,901 (5.7 MB) |"), std::string::npos) << md;
  EXPECT_NE(md.find("| documents kept | 3 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| duplicates removed | 5 (1 near) |"), std::string::npos) << md;
  EXPECT_NE(md.find("| inputs | raw/\\*.jsonl |"), std::string::npos) << md;
  // code points: 13 + 11 + 12 = 36, mean 12.0, min 11, max 13
  EXPECT_NE(md.find("| code points | 36 | 12.0 | 12 | 13 | 13 | 11 | 13 |"), std::string::npos)
      << md;
  EXPECT_NE(md.find("| tokens | 9 | 3.0 | 3 | 4 | 4 | 2 | 4 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| clean | 1,234 | 10 | 234 | 19.0% |"), std::string::npos) << md;
  EXPECT_NE(md.find("| exact dedup | 1,000 | 0 | 7 | 0.7% |"), std::string::npos) << md;
  EXPECT_NE(md.find("| Arabic | 19 | 59.4% | 2 | 66.7% |"), std::string::npos) << md;
  EXPECT_NE(md.find("| Latin | 13 | 40.6% | 1 | 33.3% |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 1 | 4 | exact | &lt;script&gt;alert(1)&lt;/script&gt; a\\|b↵c |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| 2 | 1 | near | تكرار قريب |"), std::string::npos) << md;
  EXPECT_NE(md.find("| bad json | 3 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| raw/a.jsonl:7 | bad json | expected '}' &lt;here&gt; |"), std::string::npos)
      << md;
  EXPECT_EQ(md.find("<script"), std::string::npos);
  // every table row of the duplicates section has exactly its 4 cells
  size_t at = md.find("| 1 | 4 |");
  std::string row = md.substr(at, md.find('\n', at) - at);
  size_t bars = 0;
  for (size_t i = 0; i < row.size(); ++i) bars += row[i] == '|' && (i == 0 || row[i - 1] != '\\');
  EXPECT_EQ(bars, 5u) << row;
}

TEST(Report, HtmlIsSelfContainedWellFormedAndEscaped) {
  std::string html = report_html(crafted());
  EXPECT_EQ(html_structure_error(html), "");
  EXPECT_TRUE(valid_utf8(html));
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<SCRIPT"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt; a|b↵c"), std::string::npos);
  EXPECT_EQ(html.find("http"), std::string::npos);  // nothing fetched, no links out
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("url("), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
  EXPECT_NE(html.find("<title>Corpus &lt;b&gt;report&lt;/b&gt;</title>"), std::string::npos);
  EXPECT_NE(html.find("<td dir=\"auto\" class=\"sample\">تكرار قريب</td>"), std::string::npos);
  EXPECT_NE(html.find("<td dir=\"auto\">raw/ب.jsonl:9</td>"), std::string::npos);
  EXPECT_NE(html.find("no &quot;text&quot;"), std::string::npos);
  EXPECT_NE(html.find("prefers-color-scheme: dark"), std::string::npos);
  EXPECT_NE(html.find("@media print"), std::string::npos);
  EXPECT_EQ(occurrences(html, "<svg"),
            5u);  // stages, 2 histograms, letters and documents by script
  EXPECT_NE(html.find("code points per document (log scale)"), std::string::npos);
  EXPECT_NE(html.find("tokens per document (log scale)"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"num\">1,234</td>"), std::string::npos);
  EXPECT_NE(html.find("<td>Arabic</td><td class=\"num\">19</td><td class=\"num\">59.4%</td>"),
            std::string::npos);
}

TEST(Report, EmptyStatsStillMakeBothPages) {
  DataStats s;
  std::string html = report_html(s), md = report_markdown(s);
  EXPECT_EQ(html_structure_error(html), "");
  EXPECT_NE(md.find("No duplicates removed."), std::string::npos);
  EXPECT_NE(html.find("No tokenizer"), std::string::npos);
  EXPECT_EQ(html.find("<svg"), std::string::npos);

  add(s, "", 0);  // one empty document: histograms of only zeros
  s.stages = {{"nothing seen", 0, 0, 0}};
  html = report_html(s);
  md = report_markdown(s);
  EXPECT_EQ(html_structure_error(html), "");
  EXPECT_EQ(occurrences(html, "<svg"), 4u);  // stages, code points, tokens, documents by script
  EXPECT_NE(md.find("| nothing seen | 0 | 0 | 0 | - |"), std::string::npos) << md;
  EXPECT_NE(md.find("| no letters | - | - | 1 | 100.0% |"), std::string::npos) << md;
  EXPECT_NE(md.find("| code points | 0 | 0.0 | 0 | 0 | 0 | 0 | 0 |"), std::string::npos) << md;
}

TEST(Report, InvalidUtf8FromTheDataBecomesReplacementCharacters) {
  DataStats s = crafted();
  s.first_problems.push_back({"raw/\xff.jsonl", 1, "invalid utf-8", "bytes \xC3\x28"});
  s.add_duplicate(9, "\xE2\x82", false);
  std::string html = report_html(s), md = report_markdown(s);
  EXPECT_TRUE(valid_utf8(html));
  EXPECT_TRUE(valid_utf8(md));
  EXPECT_EQ(html_structure_error(html), "");
}

TEST(Report, WritersWriteThePages) {
  test::TempDir dir;
  DataStats s = crafted();
  write_report_markdown(s, dir.path / "out" / "report.md");
  write_report_html(s, dir.path / "out" / "report.html");
  EXPECT_EQ(read_file(dir.path / "out" / "report.md"), report_markdown(s));
  EXPECT_EQ(read_file(dir.path / "out" / "report.html"), report_html(s));
}

TEST(HtmlStructureCheck, CatchesWhatItShould) {
  EXPECT_EQ(html_structure_error("<p>a<br>b<svg><rect/></svg></p>"), "");
  EXPECT_NE(html_structure_error("<p><b>a</p></b>"), "");
  EXPECT_NE(html_structure_error("<p>a < b</p>"), "");
  EXPECT_NE(html_structure_error("<div>"), "");
}

}  // namespace
}  // namespace ilm
