// The data report's two pages: Markdown (tables, text bars) and one self-contained HTML page
// (inline CSS and SVG; nothing fetched, no scripts). Every string that came from the data is
// untrusted: it is made valid UTF-8 and escaped before it reaches either page.
#include <fmt/format.h>
#include <algorithm>
#include <cmath>

#include "ilm/data/report.h"
#include "ilm/io/file.h"
#include "ilm/tokenizer/tokenizer.h"

namespace ilm {
namespace {

constexpr size_t kTopDuplicates = 20;
constexpr std::string_view kReturnSymbol = "\xE2\x86\xB5";  // ↵ stands for a newline in a sample

// ---- numbers ----

std::string grouped(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string grouped_mean(double v) {
  double whole = std::floor(v);
  int tenth = static_cast<int>(std::lround((v - whole) * 10));
  if (tenth == 10) whole += 1, tenth = 0;
  return fmt::format("{}.{}", grouped(static_cast<int64_t>(whole)), tenth);
}

std::string percent(int64_t part, int64_t whole) {
  if (whole <= 0) return "-";
  double p = 100.0 * static_cast<double>(part) / static_cast<double>(whole);
  if (part > 0 && p < 0.05) return "<0.1%";
  return fmt::format("{:.1f}%", p);
}

std::string human_bytes(int64_t n) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1000 && u < 5) v /= 1000, ++u;
  return u == 0 ? fmt::format("{} B", n) : fmt::format("{:.1f} {}", v, units[u]);
}

// "1", "10", "1k", "10M": an axis label.
std::string short_number(int64_t n) {
  if (n >= 1000000000 && n % 1000000000 == 0) return fmt::format("{}G", n / 1000000000);
  if (n >= 1000000 && n % 1000000 == 0) return fmt::format("{}M", n / 1000000);
  if (n >= 1000 && n % 1000 == 0) return fmt::format("{}k", n / 1000);
  return std::to_string(n);
}

// ---- untrusted text ----

// Calls f(code point, its bytes) for each code point, with invalid UTF-8 as U+FFFD.
template <typename F>
void for_each_code_point(std::string_view text, F&& f) {
  size_t i = 0;
  while (i < text.size()) {
    unsigned char b = static_cast<unsigned char>(text[i]);
    if (b < 0x80) {
      f(char32_t{b}, text.substr(i, 1));
      ++i;
      continue;
    }
    Utf8Scan s = scan_utf8(text, i);
    if (s.status == Utf8Status::ok) {
      f(s.code_point, text.substr(i, static_cast<size_t>(s.length)));
    } else {
      f(char32_t{0xFFFD}, std::string_view("\xEF\xBF\xBD"));
    }
    i += static_cast<size_t>(s.length);
  }
}

bool is_control(char32_t c) {
  return c < 0x20 || (c >= 0x7F && c < 0xA0);
}

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for_each_code_point(text, [&](char32_t c, std::string_view bytes) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      case '\n':
        out += kReturnSymbol;
        break;
      default:
        out += is_control(c) ? std::string_view(" ") : bytes;
    }
  });
  return out;
}

// Text for a Markdown table cell: no | or newline can end the cell, no markup takes effect.
std::string markdown_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for_each_code_point(text, [&](char32_t c, std::string_view bytes) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '\n':
        out += kReturnSymbol;
        break;
      case '\\':
      case '|':
      case '`':
      case '*':
      case '_':
      case '[':
      case ']':
      case '~':
        out += '\\';
        out += static_cast<char>(c);
        break;
      default:
        out += is_control(c) ? std::string_view(" ") : bytes;
    }
  });
  return out;
}

// The first n code points of already valid text, "…" when cut (for SVG labels).
std::string first_code_points(std::string_view text, size_t n) {
  return text_sample(text, n);
}

// ---- what both pages show ----

struct Measure {
  const char* name;
  const LogHistogram* h;
};

std::vector<Measure> measures(const DataStats& s) {
  return {{"bytes", &s.bytes()},
          {"code points", &s.chars()},
          {"words", &s.words()},
          {"tokens", &s.tokens()}};
}

std::vector<std::string> measure_cells(const LogHistogram& h) {
  if (h.count() == 0) return {"-", "-", "-", "-", "-", "-", "-"};
  return {grouped(h.sum()),         grouped_mean(h.mean()),    grouped(h.quantile(0.5)),
          grouped(h.quantile(0.9)), grouped(h.quantile(0.99)), grouped(h.min()),
          grouped(h.max())};
}

// Scripts in a fixed order, most letters first; `common` last.
std::vector<Script> scripts_by_letters(const DataStats& s) {
  std::vector<Script> out;
  for (int i = 1; i < kScriptCount; ++i) {
    auto sc = static_cast<Script>(i);
    if (s.scripts().of(sc) > 0 || s.documents_by_script(sc) > 0) out.push_back(sc);
  }
  std::stable_sort(out.begin(), out.end(),
                   [&](Script a, Script b) { return s.scripts().of(a) > s.scripts().of(b); });
  return out;
}

std::string duplicate_kind(const DuplicateGroup& d) {
  if (d.near == 0) return "exact";
  if (d.near == d.count) return "near";
  return fmt::format("exact and near ({} near)", grouped(d.near));
}

std::string problem_place(const ProblemRow& p) {
  return p.line > 0 ? fmt::format("{}:{}", p.file, p.line) : p.file;
}

// Octaves [2^e, 2^(e+1)) of a histogram (and [0, 1) first), from the first non-empty one to
// the last: what the Markdown page draws as text bars.
struct Octave {
  int64_t lo, hi, count;
};
std::vector<Octave> octaves(const LogHistogram& h) {
  std::vector<Octave> out;
  for (const LogHistogram::Bin& b : h.bins()) {
    int64_t lo = b.lo == 0 ? 0 : int64_t{1} << (63 - __builtin_clzll(static_cast<uint64_t>(b.lo)));
    int64_t hi = lo == 0 ? 1 : (lo >= (int64_t{1} << 62) ? b.hi : lo * 2);
    if (!out.empty() && out.back().lo == lo) {
      out.back().count += b.count;
      continue;
    }
    while (!out.empty() && out.back().hi < lo) {  // empty octaves in between
      int64_t next = out.back().hi;
      out.push_back({next, next * 2, 0});
    }
    out.push_back({lo, hi, b.count});
  }
  return out;
}

// ---- Markdown ----

std::string md_table(const std::vector<std::string>& head, std::string_view align,
                     const std::vector<std::vector<std::string>>& rows) {
  std::string out = "|";
  for (const std::string& h : head) out += " " + h + " |";
  out += "\n|";
  for (char a : align) out += a == 'r' ? "--:|" : "---|";
  out += "\n";
  for (const auto& row : rows) {
    out += "|";
    for (const std::string& c : row) out += " " + c + " |";
    out += "\n";
  }
  return out + "\n";
}

std::string md_octave_bars(const LogHistogram& h, std::string_view unit) {
  std::vector<Octave> rows = octaves(h);
  int64_t most = 1;
  for (const Octave& o : rows) most = std::max(most, o.count);
  std::vector<std::vector<std::string>> cells;
  for (const Octave& o : rows) {
    int width = static_cast<int>(std::lround(30.0 * static_cast<double>(o.count) / most));
    std::string bar;
    for (int i = 0; i < width; ++i) bar += "\xE2\x96\x88";  // █
    if (width == 0 && o.count > 0) bar = "\xE2\x96\x8F";    // ▏
    std::string range =
        o.hi - o.lo == 1 ? grouped(o.lo) : fmt::format("{}–{}", grouped(o.lo), grouped(o.hi - 1));
    cells.push_back({range, grouped(o.count), percent(o.count, h.count()), bar});
  }
  return md_table({std::string(unit), "documents", "%", ""}, "lrrl", cells);
}

}  // namespace

std::string report_markdown(const DataStats& s) {
  std::string out = fmt::format("# {}\n\n", markdown_escape(s.title));

  std::vector<std::vector<std::string>> inputs = {
      {"input files", grouped(s.input_files)},
      {"input records", grouped(s.input_records)},
      {"input bytes", fmt::format("{} ({})", grouped(s.input_bytes), human_bytes(s.input_bytes))},
      {"documents kept", grouped(s.documents())},
      {"duplicates removed",
       fmt::format("{} ({} near)", grouped(s.duplicates()), grouped(s.near_duplicates()))}};
  for (const auto& [k, v] : s.summary) inputs.push_back({markdown_escape(k), markdown_escape(v)});
  out += md_table({"", ""}, "ll", inputs);

  out += "## Documents\n\n";
  out += fmt::format("Per document, over the {} documents kept", grouped(s.documents()));
  if (s.tokens().count() > 0 && s.tokens().count() != s.documents()) {
    out += fmt::format(" (tokens: over the {} with a token count)", grouped(s.tokens().count()));
  }
  out += ". Quantiles are within one bin of 2^(1/8) (9%).\n\n";
  std::vector<std::vector<std::string>> rows;
  for (const Measure& m : measures(s)) {
    std::vector<std::string> row = {m.name};
    for (std::string& c : measure_cells(*m.h)) row.push_back(std::move(c));
    rows.push_back(std::move(row));
  }
  out += md_table({"", "total", "mean", "p50", "p90", "p99", "min", "max"}, "lrrrrrrr", rows);
  if (s.tokens().count() == 0) out += "No tokenizer: tokens were not counted.\n\n";

  out += "## Stages\n\n";
  if (s.stages.empty()) {
    out += "No stages recorded.\n\n";
  } else {
    rows.clear();
    for (const StageRow& r : s.stages) {
      rows.push_back({markdown_escape(r.stage), grouped(r.seen), grouped(r.modified),
                      grouped(r.dropped), percent(r.dropped, r.seen)});
    }
    out += md_table({"stage", "seen", "modified", "dropped", "% dropped"}, "lrrrr", rows);
  }

  out += "## Code points per document\n\n";
  out += s.documents() ? md_octave_bars(s.chars(), "code points") : "No documents.\n\n";
  out += "## Tokens per document\n\n";
  out += s.tokens().count() ? md_octave_bars(s.tokens(), "tokens") : "No tokenizer.\n\n";

  out += "## Scripts\n\n";
  out +=
      "Letters: code points of a script (digits, punctuation, spaces and marks are Common and "
      "not counted). Documents: by the script with most letters.\n\n";
  rows.clear();
  for (Script sc : scripts_by_letters(s)) {
    rows.push_back({std::string(script_name(sc)), grouped(s.scripts().of(sc)),
                    percent(s.scripts().of(sc), s.scripts().letters()),
                    grouped(s.documents_by_script(sc)),
                    percent(s.documents_by_script(sc), s.documents())});
  }
  if (s.documents_by_script(Script::common) > 0) {
    rows.push_back({"no letters", "-", "-", grouped(s.documents_by_script(Script::common)),
                    percent(s.documents_by_script(Script::common), s.documents())});
  }
  out += rows.empty()
             ? "No letters.\n\n"
             : md_table({"script", "letters", "% of letters", "documents", "% of documents"},
                        "lrrrr", rows);

  out += "## Top duplicates\n\n";
  std::vector<DuplicateGroup> top = s.top_duplicates(kTopDuplicates);
  if (top.empty()) {
    out += "No duplicates removed.\n\n";
  } else {
    if (s.forgotten_groups() > 0) {
      out += fmt::format(
          "Counts are lower bounds: {} rare groups were forgotten to bound memory "
          "(each had at most {} copies).\n\n",
          grouped(s.forgotten_groups()), grouped(s.max_forgotten_count()));
    }
    rows.clear();
    for (size_t i = 0; i < top.size(); ++i) {
      rows.push_back(
          {std::to_string(i + 1), grouped(top[i].count), duplicate_kind(top[i]),
           top[i].sample.empty() ? "*(sample not kept)*" : markdown_escape(top[i].sample)});
    }
    out += md_table({"#", "copies removed", "kind", "sample"}, "rrll", rows);
  }

  out += "## Input problems\n\n";
  if (s.problem_counts.empty()) {
    out += "None.\n";
  } else {
    rows.clear();
    for (const auto& [kind, n] : s.problem_counts)
      rows.push_back({markdown_escape(kind), grouped(n)});
    out += md_table({"kind", "records"}, "lr", rows);
    if (!s.first_problems.empty()) {
      rows.clear();
      for (const ProblemRow& p : s.first_problems) {
        rows.push_back({markdown_escape(problem_place(p)), markdown_escape(p.kind),
                        markdown_escape(p.message)});
      }
      out += "First problems:\n\n";
      out += md_table({"where", "kind", "message"}, "lll", rows);
    }
  }
  return out;
}

// ---- HTML ----

namespace {

constexpr std::string_view kHistogramCaption =
    "<figcaption>Bins 2<sup>1/8</sup> (9%) wide; a bar's area is its documents (bins of small "
    "values hold fewer values and are drawn lower). Dashed: median (p50) and p90. Hover a bar "
    "for its count.</figcaption>";

constexpr std::string_view kStyle = R"(
:root { color-scheme: light dark; --bg: #ffffff; --fg: #1f2328; --muted: #59636e;
  --line: #d1d9e0; --grid: #e8ebef; --zebra: #f6f8fa; --accent: #2f6fb3; --accent2: #d3922a;
  --drop: #c6403a; }
@media (prefers-color-scheme: dark) { :root { --bg: #0f1419; --fg: #e6edf3; --muted: #9aa3ad;
  --line: #3d444d; --grid: #262c36; --zebra: #161c24; --accent: #5ea1ee; --accent2: #e3b341;
  --drop: #f07068; } }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 980px; padding: 1.5rem 1rem 3rem; background: var(--bg);
  color: var(--fg); font: 15px/1.5 system-ui, -apple-system, "Segoe UI", "Noto Sans",
  "Noto Sans Arabic", Tahoma, sans-serif; }
h1 { font-size: 1.6rem; margin: 0 0 1rem; }
h2 { font-size: 1.2rem; margin: 2rem 0 .6rem; padding-bottom: .2rem;
  border-bottom: 1px solid var(--line); }
p.note { color: var(--muted); margin: .3rem 0 .8rem; }
table { border-collapse: collapse; margin: .4rem 0 1rem; }
th, td { padding: .25rem .6rem; border-bottom: 1px solid var(--line); text-align: start;
  vertical-align: top; }
th { font-weight: 600; }
tbody tr:nth-child(even) { background: var(--zebra); }
td.num, th.num { text-align: end; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.sample { max-width: 40rem; overflow-wrap: anywhere; unicode-bidi: plaintext; }
figure { margin: .5rem 0 1.2rem; }
figcaption { color: var(--muted); font-size: .9rem; }
svg { width: 100%; height: auto; display: block; }
svg text { fill: var(--fg); font: 12px system-ui, sans-serif; }
svg .muted { fill: var(--muted); }
svg .axis { stroke: var(--muted); stroke-width: 1; }
svg .grid { stroke: var(--grid); stroke-width: 1; }
svg .track { fill: var(--grid); }
svg .bar { fill: var(--accent); }
svg .bar2 { fill: var(--accent2); }
svg .drop { fill: var(--drop); }
svg .mark { stroke: var(--drop); stroke-width: 1.5; stroke-dasharray: 4 3; }
.legend span { display: inline-block; width: .8em; height: .8em; margin: 0 .3em 0 1em;
  vertical-align: -.05em; }
.legend .bar { background: var(--accent); } .legend .bar2 { background: var(--accent2); }
.legend .drop { background: var(--drop); }
@media print { :root { color-scheme: light; --bg: #fff; --fg: #000; --muted: #444; --line: #bbb;
  --grid: #ddd; --zebra: #f3f3f3; --accent: #2f6fb3; --accent2: #d3922a; --drop: #c6403a; }
  body { max-width: none; padding: 0; font-size: 11pt; }
  * { print-color-adjust: exact; -webkit-print-color-adjust: exact; }
  figure, table, tr { break-inside: avoid; } h2 { break-after: avoid; } }
)";

// A table cell: 'l' text we wrote, 'r' a number, 'd' text from the data (dir="auto"),
// 's' a sample (dir="auto", wraps anywhere). Cells hold HTML, already escaped.
std::string html_table(const std::vector<std::string>& head, std::string_view kinds,
                       const std::vector<std::vector<std::string>>& rows) {
  std::string out = "<table>\n";
  if (!head.empty()) {
    out += "<thead><tr>";
    for (size_t i = 0; i < head.size(); ++i) {
      out += kinds[i] == 'r' ? "<th class=\"num\">" : "<th>";
      out += head[i] + "</th>";
    }
    out += "</tr></thead>\n";
  }
  out += "<tbody>\n";
  for (const auto& row : rows) {
    out += "<tr>";
    for (size_t i = 0; i < row.size(); ++i) {
      switch (kinds[i]) {
        case 'r':
          out += "<td class=\"num\">";
          break;
        case 'd':
          out += "<td dir=\"auto\">";
          break;
        case 's':
          out += "<td dir=\"auto\" class=\"sample\">";
          break;
        default:
          out += "<td>";
      }
      out += row[i] + "</td>";
    }
    out += "</tr>\n";
  }
  return out + "</tbody>\n</table>\n";
}

// A "nice" step (1, 2 or 5 times a power of ten) for about `ticks` ticks up to `top`.
int64_t nice_step(int64_t top, int ticks) {
  double raw = std::max(1.0, static_cast<double>(top) / ticks);
  double p = std::pow(10.0, std::floor(std::log10(raw)));
  double step = raw <= p ? p : raw <= 2 * p ? 2 * p : raw <= 5 * p ? 5 * p : 10 * p;
  return std::max<int64_t>(1, static_cast<int64_t>(step));
}

// Histogram of documents over a log x axis: x = log10(value + 1), so 0 has a place. A bar's
// area, not its height, is its count: bins that hold fewer values than 2^(1/8) would (below 12,
// and the rounding of integer bounds) are drawn wider than the rest and lower by as much, so
// the shape does not saw-tooth. The height reads as documents per bin of 2^(1/8).
std::string svg_histogram(const LogHistogram& h, std::string_view x_label) {
  constexpr double W = 720, H = 270, L = 64, R = 16, T = 14, B = 52;
  std::vector<LogHistogram::Bin> bins = h.bins();
  auto log_x = [](double v) { return std::log10(v + 1); };
  double d0 = std::floor(log_x(static_cast<double>(bins.front().lo)));
  double d1 = std::ceil(log_x(static_cast<double>(bins.back().hi)));
  if (d1 <= d0) d1 = d0 + 1;
  auto x_of = [&](double v) { return L + (log_x(v) - d0) / (d1 - d0) * (W - L - R); };
  const double nominal = std::log10(2.0) / LogHistogram::kBinsPerOctave;
  std::vector<double> heights;
  double most = 1;
  for (const auto& b : bins) {
    double width = log_x(static_cast<double>(b.hi)) - log_x(static_cast<double>(b.lo));
    heights.push_back(static_cast<double>(b.count) * std::min(1.0, nominal / width));
    most = std::max(most, heights.back());
  }
  int64_t step = nice_step(static_cast<int64_t>(std::ceil(most)), 4);
  int64_t top = (static_cast<int64_t>(std::ceil(most)) + step - 1) / step * step;
  auto y_of = [&](double c) { return H - B - c / static_cast<double>(top) * (H - T - B); };

  std::string out =
      fmt::format("<svg viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"histogram of {}\">\n", W, H,
                  html_escape(x_label));
  for (int64_t c = 0; c <= top; c += step) {  // horizontal grid and y labels
    double y = y_of(static_cast<double>(c));
    out += fmt::format("<line class=\"grid\" x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\"/>", L,
                       y, W - R, y);
    out += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", L - 6, y + 4,
                       grouped(c));
  }
  for (size_t i = 0; i < bins.size(); ++i) {
    const LogHistogram::Bin& b = bins[i];
    double x0 = x_of(static_cast<double>(b.lo)), x1 = x_of(static_cast<double>(b.hi));
    double y = y_of(heights[i]);
    std::string range =
        b.hi - b.lo == 1 ? grouped(b.lo) : fmt::format("{}–{}", grouped(b.lo), grouped(b.hi - 1));
    out += fmt::format(
        "<rect class=\"bar\" x=\"{:.2f}\" y=\"{:.2f}\" width=\"{:.2f}\" height=\"{:.2f}\">"
        "<title>{}: {} documents</title></rect>\n",
        x0, y, std::max(0.8, x1 - x0 - 0.4), H - B - y, range, grouped(b.count));
  }
  for (double d = d0; d <= d1; d += 1) {  // x ticks at 0 (when shown) and powers of ten
    auto v = static_cast<int64_t>(std::llround(std::pow(10.0, d)));
    if (d == 0) {
      out += fmt::format(
          "<line class=\"axis\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>"
          "<text x=\"{0}\" y=\"{3}\" text-anchor=\"middle\">0</text>\n",
          L, H - B, H - B + 5, H - B + 18);
    }
    double x = x_of(static_cast<double>(v));
    if (x > W - R + 0.5) break;
    out += fmt::format(
        "<line class=\"axis\" x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\"/>"
        "<text x=\"{0:.1f}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>\n",
        x, H - B, H - B + 5, H - B + 18, short_number(v));
  }
  for (auto [q, name] : {std::pair{0.5, "p50"}, std::pair{0.9, "p90"}}) {  // quantile marks
    double x = x_of(static_cast<double>(h.quantile(q)));
    out += fmt::format(
        "<line class=\"mark\" x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\"/>"
        "<text x=\"{3:.1f}\" y=\"{4}\" class=\"muted\">{5}</text>\n",
        x, T, H - B, x + 3, T + 10, name);
  }
  out += fmt::format("<line class=\"axis\" x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\"/>", L, H - B,
                     W - R);
  out += fmt::format("<line class=\"axis\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>\n", L, T,
                     H - B);
  out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{} (log scale)</text>\n",
                     (L + W - R) / 2, H - 10, html_escape(x_label));
  out += fmt::format(
      "<text x=\"14\" y=\"{0}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {0})\">"
      "documents per bin</text>\n</svg>\n",
      (T + H - B) / 2);
  return out;
}

// Horizontal bars: one row per label, a value in [0, 1] and the text written after the bar.
struct BarRow {
  std::string label;  // escaped
  double value;
  std::string text;   // escaped
  std::string title;  // escaped tooltip
};
std::string svg_bars(const std::vector<BarRow>& rows, std::string_view aria) {
  constexpr double W = 720, L = 120, Bar = 460, RowH = 24;
  double h = 8 + RowH * static_cast<double>(rows.size());
  std::string out =
      fmt::format("<svg viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"{}\">\n", W, h, aria);
  for (size_t i = 0; i < rows.size(); ++i) {
    double y = 4 + RowH * static_cast<double>(i);
    double w = std::max(rows[i].value > 0 ? 1.0 : 0.0, Bar * rows[i].value);
    out += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>", L - 8, y + 16,
                       rows[i].label);
    out += fmt::format("<rect class=\"track\" x=\"{}\" y=\"{:.1f}\" width=\"{}\" height=\"18\"/>",
                       L, y + 3, Bar);
    out += fmt::format(
        "<rect class=\"bar\" x=\"{}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"18\">"
        "<title>{}</title></rect>",
        L, y + 3, w, rows[i].title);
    out +=
        fmt::format("<text x=\"{}\" y=\"{:.1f}\">{}</text>\n", L + Bar + 8, y + 16, rows[i].text);
  }
  return out + "</svg>\n";
}

// One stacked bar per stage, scaled to the stage that saw the most: unchanged, modified, dropped.
std::string svg_stages(const std::vector<StageRow>& stages) {
  constexpr double W = 720, L = 160, Bar = 420, RowH = 24;
  int64_t most = 1;
  for (const StageRow& r : stages) most = std::max(most, r.seen);
  double h = 8 + RowH * static_cast<double>(stages.size());
  std::string out = fmt::format(
      "<svg viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"documents dropped per stage\">\n", W,
      h);
  for (size_t i = 0; i < stages.size(); ++i) {
    const StageRow& r = stages[i];
    double y = 4 + RowH * static_cast<double>(i);
    double scale = Bar / static_cast<double>(most);
    int64_t modified = std::clamp<int64_t>(r.modified, 0, r.seen);
    int64_t dropped = std::clamp<int64_t>(r.dropped, 0, r.seen - modified);
    int64_t unchanged = r.seen - modified - dropped;
    out += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>", L - 8, y + 16,
                       html_escape(first_code_points(r.stage, 22)));
    double x = L;
    for (auto [n, cls, what] :
         {std::tuple{unchanged, "bar", "unchanged"}, std::tuple{modified, "bar2", "modified"},
          std::tuple{dropped, "drop", "dropped"}}) {
      if (n <= 0) continue;
      double w = std::max(1.0, scale * static_cast<double>(n));
      out += fmt::format(
          "<rect class=\"{}\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" "
          "height=\"18\"><title>{}: {} {}</title></rect>",
          cls, x, y + 3, w, html_escape(r.stage), grouped(n), what);
      x += w;
    }
    out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\">{} dropped</text>\n", x + 8, y + 16,
                       percent(r.dropped, r.seen));
  }
  return out + "</svg>\n";
}

}  // namespace

std::string report_html(const DataStats& s) {
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<meta name=\"color-scheme\" content=\"light dark\">\n";
  out += fmt::format("<title>{}</title>\n<style>{}</style>\n</head>\n<body>\n",
                     html_escape(s.title), kStyle);
  out += fmt::format("<h1 dir=\"auto\">{}</h1>\n", html_escape(s.title));

  std::vector<std::vector<std::string>> rows = {
      {"input files", grouped(s.input_files)},
      {"input records", grouped(s.input_records)},
      {"input bytes", fmt::format("{} ({})", grouped(s.input_bytes), human_bytes(s.input_bytes))},
      {"documents kept", grouped(s.documents())},
      {"duplicates removed",
       fmt::format("{} ({} near)", grouped(s.duplicates()), grouped(s.near_duplicates()))}};
  for (const auto& [k, v] : s.summary) rows.push_back({html_escape(k), html_escape(v)});
  out += "<section>\n" + html_table({}, "dd", rows) + "</section>\n";

  out += "<section>\n<h2>Documents</h2>\n";
  out += fmt::format("<p class=\"note\">Per document, over the {} documents kept",
                     grouped(s.documents()));
  if (s.tokens().count() > 0 && s.tokens().count() != s.documents()) {
    out += fmt::format(" (tokens: over the {} with a token count)", grouped(s.tokens().count()));
  }
  out += ". Quantiles are within one bin of 2<sup>1/8</sup> (9%).</p>\n";
  rows.clear();
  for (const Measure& m : measures(s)) {
    std::vector<std::string> row = {m.name};
    for (std::string& c : measure_cells(*m.h)) row.push_back(std::move(c));
    rows.push_back(std::move(row));
  }
  out += html_table({"", "total", "mean", "p50", "p90", "p99", "min", "max"}, "lrrrrrrr", rows);
  if (s.tokens().count() == 0)
    out += "<p class=\"note\">No tokenizer: tokens were not counted.</p>\n";
  out += "</section>\n";

  out += "<section>\n<h2>Stages</h2>\n";
  if (s.stages.empty()) {
    out += "<p class=\"note\">No stages recorded.</p>\n";
  } else {
    out += "<figure>\n" + svg_stages(s.stages);
    out +=
        "<figcaption class=\"legend\">Documents seen by each stage:<span class=\"bar\"></span>"
        "unchanged<span class=\"bar2\"></span>modified<span class=\"drop\"></span>dropped"
        "</figcaption>\n</figure>\n";
    rows.clear();
    for (const StageRow& r : s.stages) {
      rows.push_back({html_escape(r.stage), grouped(r.seen), grouped(r.modified),
                      grouped(r.dropped), percent(r.dropped, r.seen)});
    }
    out += html_table({"stage", "seen", "modified", "dropped", "% dropped"}, "drrrr", rows);
  }
  out += "</section>\n";

  out += "<section>\n<h2>Code points per document</h2>\n";
  if (s.documents() > 0) {
    out += "<figure>\n" + svg_histogram(s.chars(), "code points per document") +
           std::string(kHistogramCaption) + "\n</figure>\n";
  } else {
    out += "<p class=\"note\">No documents.</p>\n";
  }
  out += "</section>\n<section>\n<h2>Tokens per document</h2>\n";
  if (s.tokens().count() > 0) {
    out += "<figure>\n" + svg_histogram(s.tokens(), "tokens per document") +
           std::string(kHistogramCaption) + "\n</figure>\n";
  } else {
    out += "<p class=\"note\">No tokenizer: tokens were not counted.</p>\n";
  }
  out += "</section>\n";

  out += "<section>\n<h2>Scripts</h2>\n";
  std::vector<Script> scripts = scripts_by_letters(s);
  if (scripts.empty() && s.documents_by_script(Script::common) == 0) {
    out += "<p class=\"note\">No letters.</p>\n";
  } else {
    std::vector<BarRow> letters, docs;
    rows.clear();
    int64_t total_letters = s.scripts().letters();
    for (Script sc : scripts) {
      int64_t n = s.scripts().of(sc), d = s.documents_by_script(sc);
      std::string name(script_name(sc));
      if (n > 0) {
        letters.push_back({name, total_letters ? static_cast<double>(n) / total_letters : 0.0,
                           percent(n, total_letters),
                           fmt::format("{}: {} letters", name, grouped(n))});
      }
      docs.push_back({name, s.documents() ? static_cast<double>(d) / s.documents() : 0.0,
                      percent(d, s.documents()),
                      fmt::format("{}: {} documents", name, grouped(d))});
      rows.push_back(
          {name, grouped(n), percent(n, total_letters), grouped(d), percent(d, s.documents())});
    }
    int64_t none = s.documents_by_script(Script::common);
    if (none > 0) {
      docs.push_back({"no letters", static_cast<double>(none) / s.documents(),
                      percent(none, s.documents()),
                      fmt::format("no letters: {} documents", grouped(none))});
      rows.push_back({"no letters", "-", "-", grouped(none), percent(none, s.documents())});
    }
    if (!letters.empty()) {
      out += "<figure>\n" + svg_bars(letters, "fraction of letters per script") +
             "<figcaption>Share of letters by script (digits, punctuation, spaces and marks "
             "belong to no script and are not counted).</figcaption>\n</figure>\n";
    }
    out += "<figure>\n" + svg_bars(docs, "documents by dominant script") +
           "<figcaption>Share of documents by dominant script (the one with most letters)."
           "</figcaption>\n</figure>\n";
    out += html_table({"script", "letters", "% of letters", "documents", "% of documents"}, "lrrrr",
                      rows);
  }
  out += "</section>\n";

  out += "<section>\n<h2>Top duplicates</h2>\n";
  std::vector<DuplicateGroup> top = s.top_duplicates(kTopDuplicates);
  if (top.empty()) {
    out += "<p class=\"note\">No duplicates removed.</p>\n";
  } else {
    if (s.forgotten_groups() > 0) {
      out += fmt::format(
          "<p class=\"note\">Counts are lower bounds: {} rare groups were "
          "forgotten to bound memory (each had at most {} copies).</p>\n",
          grouped(s.forgotten_groups()), grouped(s.max_forgotten_count()));
    }
    rows.clear();
    for (size_t i = 0; i < top.size(); ++i) {
      rows.push_back(
          {std::to_string(i + 1), grouped(top[i].count), duplicate_kind(top[i]),
           top[i].sample.empty() ? "<em>sample not kept</em>" : html_escape(top[i].sample)});
    }
    out += html_table({"#", "copies removed", "kind", "sample"}, "rrls", rows);
  }
  out += "</section>\n";

  out += "<section>\n<h2>Input problems</h2>\n";
  if (s.problem_counts.empty()) {
    out += "<p class=\"note\">None.</p>\n";
  } else {
    rows.clear();
    for (const auto& [kind, n] : s.problem_counts) rows.push_back({html_escape(kind), grouped(n)});
    out += html_table({"kind", "records"}, "dr", rows);
    if (!s.first_problems.empty()) {
      rows.clear();
      for (const ProblemRow& p : s.first_problems) {
        rows.push_back(
            {html_escape(problem_place(p)), html_escape(p.kind), html_escape(p.message)});
      }
      out += "<p class=\"note\">First problems:</p>\n";
      out += html_table({"where", "kind", "message"}, "dds", rows);
    }
  }
  out += "</section>\n</body>\n</html>\n";
  return out;
}

void write_report_markdown(const DataStats& stats, const std::filesystem::path& path) {
  write_file_atomic(path, report_markdown(stats));
}

void write_report_html(const DataStats& stats, const std::filesystem::path& path) {
  write_file_atomic(path, report_html(stats));
}

}  // namespace ilm
