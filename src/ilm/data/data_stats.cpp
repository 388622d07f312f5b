// LogHistogram and DataStats: the numbers behind a data report (the writers are in report.cpp).
#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_set>

#include "ilm/core/error.h"
#include "ilm/data/report.h"
#include "ilm/tokenizer/tokenizer.h"

namespace ilm {
namespace {

constexpr int kBounds = LogHistogram::kBinCount - 1;  // 504 lower ends of bins 1..504

// bounds[k] = ceil(2^(k/8)): the lowest value of bin k + 1. Multiples of 8 are exact powers
// of two, so each octave [2^e, 2^(e+1)) is exactly 8 bins (some empty below 12).
const std::array<int64_t, kBounds>& bin_bounds() {
  static const std::array<int64_t, kBounds> bounds = [] {
    std::array<int64_t, kBounds> b{};
    for (int k = 0; k < kBounds; ++k) {
      if (k % LogHistogram::kBinsPerOctave == 0) {
        b[static_cast<size_t>(k)] = int64_t{1} << (k / LogHistogram::kBinsPerOctave);
      } else {
        long double v =
            std::ceil(std::exp2(static_cast<long double>(k) / LogHistogram::kBinsPerOctave));
        b[static_cast<size_t>(k)] = static_cast<int64_t>(v);
      }
      if (k > 0)
        b[static_cast<size_t>(k)] =
            std::max(b[static_cast<size_t>(k)], b[static_cast<size_t>(k - 1)]);
    }
    return b;
  }();
  return bounds;
}

// Unicode's White_Space property.
bool is_white_space(char32_t c) {
  if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D);
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

}  // namespace

// ---- LogHistogram ----

int LogHistogram::bin_of(int64_t value) {
  if (value <= 0) return 0;
  const auto& b = bin_bounds();
  return static_cast<int>(std::upper_bound(b.begin(), b.end(), value) - b.begin());
}

int64_t LogHistogram::bin_lo(int bin) {
  return bin <= 0 ? 0 : bin_bounds()[static_cast<size_t>(bin - 1)];
}

int64_t LogHistogram::bin_hi(int bin) {
  return bin >= kBounds ? std::numeric_limits<int64_t>::max()
                        : bin_bounds()[static_cast<size_t>(bin)];
}

void LogHistogram::add(int64_t value) {
  value = std::max<int64_t>(value, 0);
  ++counts_[static_cast<size_t>(bin_of(value))];
  if (count_ == 0) {
    min_ = max_ = value;
  } else {
    min_ = std::min(min_, value);
    max_ = std::max(max_, value);
  }
  ++count_;
  sum_ += value;
}

void LogHistogram::merge(const LogHistogram& other) {
  if (other.count_ == 0) return;
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  min_ = count_ ? std::min(min_, other.min_) : other.min_;
  max_ = count_ ? std::max(max_, other.max_) : other.max_;
  count_ += other.count_;
  sum_ += other.sum_;
}

int64_t LogHistogram::quantile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  int64_t rank =
      std::max<int64_t>(1, static_cast<int64_t>(std::ceil(q * static_cast<double>(count_))));
  if (rank == 1) return min_;
  if (rank >= count_) return max_;
  int64_t seen = 0;
  for (int b = 0; b < kBinCount; ++b) {
    seen += counts_[static_cast<size_t>(b)];
    if (seen < rank) continue;
    int64_t lo = bin_lo(b), last = bin_hi(b) - 1;  // the bin holds lo..last
    int64_t mid = last <= lo ? lo
                             : static_cast<int64_t>(std::llround(
                                   std::sqrt(static_cast<double>(lo) * static_cast<double>(last))));
    return std::clamp(mid, min_, max_);
  }
  return max_;
}

std::vector<LogHistogram::Bin> LogHistogram::bins() const {
  std::vector<Bin> out;
  for (int b = 0; b < kBinCount; ++b) {
    if (counts_[static_cast<size_t>(b)] > 0) {
      out.push_back({bin_lo(b), bin_hi(b), counts_[static_cast<size_t>(b)]});
    }
  }
  return out;
}

// ---- samples ----

std::string text_sample(std::string_view text, size_t max_code_points) {
  std::string out;
  size_t i = 0, n = 0;
  while (i < text.size() && n < max_code_points) {
    unsigned char b = static_cast<unsigned char>(text[i]);
    if (b < 0x80) {
      bool control = b < 0x20 || b == 0x7F;
      out += control && b != '\n' ? ' ' : static_cast<char>(b);
      ++i;
    } else {
      Utf8Scan s = scan_utf8(text, i);
      if (s.status != Utf8Status::ok) {
        out += "\xEF\xBF\xBD";  // U+FFFD
      } else if (s.code_point < 0xA0) {
        out += ' ';  // C1 controls
      } else {
        out.append(text.substr(i, static_cast<size_t>(s.length)));
      }
      i += static_cast<size_t>(s.length);
    }
    ++n;
  }
  if (i < text.size()) out += "\xE2\x80\xA6";  // …
  return out;
}

// ---- DataStats ----

DataStats::DataStats(size_t max_duplicate_groups) : max_groups_(max_duplicate_groups) {
  ILM_CHECK(max_duplicate_groups >= 2 * kTopSamples,
            "DataStats: max_duplicate_groups is {}, expected at least {}", max_duplicate_groups,
            2 * kTopSamples);
}

void DataStats::add_document(std::string_view text, int64_t tokens, const ScriptCounts& scripts) {
  int64_t code_points = 0, words = 0;
  bool in_word = false;
  size_t i = 0;
  while (i < text.size()) {
    unsigned char b = static_cast<unsigned char>(text[i]);
    char32_t c;
    if (b < 0x80) {
      c = b;
      ++i;
    } else {
      Utf8Scan s = scan_utf8(text, i);
      c = s.status == Utf8Status::ok ? s.code_point : char32_t{0xFFFD};
      i += static_cast<size_t>(s.length);
    }
    ++code_points;
    bool space = is_white_space(c);
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  bytes_.add(static_cast<int64_t>(text.size()));
  chars_.add(code_points);
  words_.add(words);
  if (tokens >= 0) tokens_.add(tokens);
  scripts_.add(scripts);
  ++by_dominant_[static_cast<size_t>(scripts.dominant())];
}

void DataStats::offer_sample(uint64_t group, int64_t count, std::string_view text) {
  size_t fewest = 0;
  for (size_t i = 0; i < sampled_.size(); ++i) {
    if (sampled_[i].group == group) {
      sampled_[i].count = count;
      return;
    }
    if (sampled_[i].count < sampled_[fewest].count) fewest = i;
  }
  if (sampled_.size() < kTopSamples) {
    sampled_.push_back({group, count, text_sample(text, kSampleCodePoints)});
  } else if (count > sampled_[fewest].count) {
    sampled_[fewest] = {group, count, text_sample(text, kSampleCodePoints)};
  }
}

// Drops the groups with at most the median count (never the sampled ones): at least half of
// the table when the counts differ, so this runs once per max_groups_ / 2 new groups.
void DataStats::forget_rare_groups() {
  std::vector<int64_t> counts;
  counts.reserve(groups_.size());
  for (const auto& [g, c] : groups_) counts.push_back(c.count);
  auto middle = counts.begin() + static_cast<std::ptrdiff_t>(counts.size() / 2);
  std::nth_element(counts.begin(), middle, counts.end());
  int64_t threshold = *middle;
  std::unordered_set<uint64_t> keep;
  for (const Sampled& s : sampled_) keep.insert(s.group);
  for (auto it = groups_.begin(); it != groups_.end();) {
    if (it->second.count <= threshold && !keep.count(it->first)) {
      ++forgotten_groups_;
      max_forgotten_count_ = std::max(max_forgotten_count_, it->second.count);
      it = groups_.erase(it);
    } else {
      ++it;
    }
  }
}

void DataStats::add_duplicate(uint64_t group, std::string_view text, bool near) {
  ++duplicates_;
  if (near) ++near_duplicates_;
  auto it = groups_.find(group);
  if (it == groups_.end()) {
    if (groups_.size() >= max_groups_) forget_rare_groups();
    it = groups_.emplace(group, GroupCount{}).first;
  }
  ++it->second.count;
  if (near) ++it->second.near;
  offer_sample(group, it->second.count, text);
}

void DataStats::merge(const DataStats& other) {
  bytes_.merge(other.bytes_);
  chars_.merge(other.chars_);
  words_.merge(other.words_);
  tokens_.merge(other.tokens_);
  scripts_.add(other.scripts_);
  for (size_t i = 0; i < by_dominant_.size(); ++i) by_dominant_[i] += other.by_dominant_[i];

  duplicates_ += other.duplicates_;
  near_duplicates_ += other.near_duplicates_;
  for (const auto& [g, c] : other.groups_) {
    GroupCount& mine = groups_[g];
    mine.count += c.count;
    mine.near += c.near;
  }
  forgotten_groups_ += other.forgotten_groups_;
  max_forgotten_count_ = std::max(max_forgotten_count_, other.max_forgotten_count_);
  // Samples: the union of both, recounted, the ones with the most copies kept.
  std::vector<Sampled> all = sampled_;
  for (const Sampled& s : other.sampled_) {
    bool known =
        std::any_of(all.begin(), all.end(), [&](const Sampled& a) { return a.group == s.group; });
    if (!known) all.push_back(s);
  }
  for (Sampled& s : all) s.count = groups_[s.group].count;
  std::sort(all.begin(), all.end(), [](const Sampled& a, const Sampled& b) {
    return a.count != b.count ? a.count > b.count : a.group < b.group;
  });
  if (all.size() > kTopSamples) all.resize(kTopSamples);
  sampled_ = std::move(all);
  while (groups_.size() > max_groups_) forget_rare_groups();

  input_files += other.input_files;
  input_records += other.input_records;
  input_bytes += other.input_bytes;
  for (const auto& [kind, n] : other.problem_counts) problem_counts[kind] += n;
  for (const ProblemRow& row : other.first_problems) {
    if (first_problems.size() >= kMaxFirstProblems) break;
    first_problems.push_back(row);
  }
  for (const StageRow& row : other.stages) {
    auto mine = std::find_if(stages.begin(), stages.end(),
                             [&](const StageRow& r) { return r.stage == row.stage; });
    if (mine == stages.end()) {
      stages.push_back(row);
    } else {
      mine->seen += row.seen;
      mine->modified += row.modified;
      mine->dropped += row.dropped;
    }
  }
  for (const auto& kv : other.summary) {
    bool known = std::any_of(summary.begin(), summary.end(),
                             [&](const auto& mine) { return mine.first == kv.first; });
    if (!known) summary.push_back(kv);
  }
}

std::vector<DuplicateGroup> DataStats::top_duplicates(size_t n) const {
  struct Ranked {
    DuplicateGroup d;
    const Sampled* sampled;
  };
  std::unordered_map<uint64_t, const Sampled*> sample_of;
  for (const Sampled& s : sampled_) sample_of[s.group] = &s;
  std::vector<Ranked> all;
  all.reserve(groups_.size());
  for (const auto& [g, c] : groups_) {
    auto it = sample_of.find(g);
    all.push_back({{g, c.count, c.near, {}}, it == sample_of.end() ? nullptr : it->second});
  }
  auto before = [](const Ranked& a, const Ranked& b) {
    if (a.d.count != b.d.count) return a.d.count > b.d.count;
    if ((a.sampled != nullptr) != (b.sampled != nullptr)) return a.sampled != nullptr;
    return a.d.group < b.d.group;
  };
  n = std::min(n, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n), all.end(), before);
  std::vector<DuplicateGroup> top;
  for (size_t i = 0; i < n; ++i) {
    top.push_back(all[i].d);
    if (all[i].sampled) top.back().sample = all[i].sampled->sample;
  }
  return top;
}

}  // namespace ilm
