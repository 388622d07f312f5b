// The statistics report of a corpus (`ilm data stats`): what the documents that came through
// cleaning and dedup look like (lengths, tokens, scripts), what each stage removed, the most
// duplicated texts and the input problems; written as Markdown and as one self-contained HTML
// page (inline CSS and SVG, no scripts, no links out) that reads right-to-left text correctly.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ilm/data/script.h"

namespace ilm {

// A streaming histogram of values >= 0 with fixed log-spaced bins, so its memory is constant
// (505 counters): bin 0 holds 0, then 8 bins per power of two, bin k covering
// [ceil(2^(k/8)), ceil(2^((k+1)/8))). Count, sum, min, max and mean are exact; a quantile is
// the geometric middle of the bin that holds the exact quantile, clamped to [min, max], so it
// is off by less than one bin: a relative error below 2^(1/8) - 1 (9.1%), usually half that.
// Values below 12 each have a bin of their own and are exact.
class LogHistogram {
 public:
  static constexpr int kBinsPerOctave = 8;
  static constexpr int kBinCount = 1 + kBinsPerOctave * 63;

  void add(int64_t value);  // value >= 0; a negative value counts as 0
  void merge(const LogHistogram& other);

  int64_t count() const { return count_; }
  int64_t sum() const { return sum_; }
  int64_t min() const { return count_ ? min_ : 0; }  // 0 when empty
  int64_t max() const { return count_ ? max_ : 0; }
  double mean() const { return count_ ? static_cast<double>(sum_) / count_ : 0.0; }
  // The value of rank ceil(q * count) (1-based; q in [0, 1]) within one bin; 0 when empty.
  int64_t quantile(double q) const;

  // The non-empty bins, as [lo, hi) ranges of values and their counts, in increasing order.
  struct Bin {
    int64_t lo, hi, count;
  };
  std::vector<Bin> bins() const;

  // The bin a value falls in, and the range of a bin (for tests and drawing).
  static int bin_of(int64_t value);
  static int64_t bin_lo(int bin);
  static int64_t bin_hi(int bin);

 private:
  std::array<int64_t, kBinCount> counts_{};
  int64_t count_ = 0, sum_ = 0, min_ = 0, max_ = 0;
};

// A row of the per-stage table: cleaning and dedup stages, in pipeline order.
struct StageRow {
  std::string stage;
  int64_t seen = 0, modified = 0, dropped = 0;
};

// An input record that could not be read (bad JSON, missing field, invalid UTF-8, ...).
struct ProblemRow {
  std::string file;
  int64_t line;
  std::string kind, message;
};

// Copies of one text removed as duplicates, with a sample of it.
struct DuplicateGroup {
  uint64_t group = 0;
  int64_t count = 0;   // copies removed (the kept document not included)
  int64_t near = 0;    // of which near-duplicates
  std::string sample;  // first 200 code points, valid UTF-8, "…" when cut; empty when not kept
};

// What a report shows. One per thread, merged at the end.
class DataStats {
 public:
  // Distinct duplicate groups counted at most; samples are kept for the kTopSamples groups with
  // the most copies (a group outside them never has more copies than the fewest among them).
  static constexpr size_t kDefaultMaxDuplicateGroups = 100000;
  static constexpr size_t kTopSamples = 64;
  static constexpr size_t kSampleCodePoints = 200;

  DataStats() : DataStats(kDefaultMaxDuplicateGroups) {}
  explicit DataStats(size_t max_duplicate_groups);  // at least 2 * kTopSamples

  // A document that made it through every stage: its text, its token count (-1 when no
  // tokenizer) and its scripts.
  void add_document(std::string_view text, int64_t tokens, const ScriptCounts& scripts);
  // A document removed as a duplicate of another; `group` identifies what it duplicates (the
  // hash or the id of the kept document), so the report lists the most duplicated texts.
  void add_duplicate(uint64_t group, std::string_view text, bool near);
  void merge(const DataStats& other);

  // Filled by the pipeline before writing.
  std::string title = "Data report";
  std::vector<std::pair<std::string, std::string>> summary;  // inputs, tokenizer, elapsed, ...
  int64_t input_files = 0, input_records = 0, input_bytes = 0;
  std::map<std::string, int64_t> problem_counts;    // kind -> records
  std::vector<ProblemRow> first_problems;           // the first few, for the report
  static constexpr size_t kMaxFirstProblems = 100;  // merge keeps at most this many
  std::vector<StageRow> stages;

  // Documents kept, and per document: UTF-8 bytes, code points, words (runs of non-space),
  // tokens (only documents with a token count).
  int64_t documents() const { return bytes_.count(); }
  const LogHistogram& bytes() const { return bytes_; }
  const LogHistogram& chars() const { return chars_; }
  const LogHistogram& words() const { return words_; }
  const LogHistogram& tokens() const { return tokens_; }
  // Code points of each script over all documents.
  const ScriptCounts& scripts() const { return scripts_; }
  // Documents whose dominant script is `s` (`common`: documents without letters).
  int64_t documents_by_script(Script s) const { return by_dominant_[static_cast<size_t>(s)]; }

  int64_t duplicates() const { return duplicates_; }  // copies removed, exact and near
  int64_t near_duplicates() const { return near_duplicates_; }
  // Groups now counted, and whether any were forgotten to keep the table bounded: when the
  // table is full the half with the fewest copies is dropped, so a count can then miss the
  // copies a group had before it was dropped (at most max_forgotten_count() of them each time).
  size_t duplicate_groups() const { return groups_.size(); }
  int64_t forgotten_groups() const { return forgotten_groups_; }
  int64_t max_forgotten_count() const { return max_forgotten_count_; }
  // The n groups with the most copies, most first, with their samples (ties: groups with a
  // sample first, then by group id). In one stream every one of the first kTopSamples has one.
  std::vector<DuplicateGroup> top_duplicates(size_t n = 20) const;

 private:
  struct GroupCount {
    int64_t count = 0, near = 0;
  };
  void forget_rare_groups();
  void offer_sample(uint64_t group, int64_t count, std::string_view text);

  size_t max_groups_;
  LogHistogram bytes_, chars_, words_, tokens_;
  ScriptCounts scripts_;
  std::array<int64_t, kScriptCount> by_dominant_{};
  int64_t duplicates_ = 0, near_duplicates_ = 0;
  std::unordered_map<uint64_t, GroupCount> groups_;
  int64_t forgotten_groups_ = 0, max_forgotten_count_ = 0;
  // The groups with the most copies and their samples; `count` mirrors groups_.
  struct Sampled {
    uint64_t group;
    int64_t count;
    std::string sample;
  };
  std::vector<Sampled> sampled_;
};

// The first `max_code_points` code points of `text` as valid UTF-8 (an invalid sequence becomes
// U+FFFD, control characters other than newline become spaces), with "…" appended when cut.
std::string text_sample(std::string_view text, size_t max_code_points);

// Markdown report: tables only, samples with | and newlines escaped. Written atomically.
void write_report_markdown(const DataStats& stats, const std::filesystem::path& path);
// One self-contained HTML page (inline CSS and SVG charts, no scripts, no external resources),
// light and dark, printable; every text from the data is escaped and shown with dir="auto".
// Written atomically.
void write_report_html(const DataStats& stats, const std::filesystem::path& path);

// The pages as strings (what the writers write).
std::string report_markdown(const DataStats& stats);
std::string report_html(const DataStats& stats);

}  // namespace ilm
