// Cleaning of documents before tokenization: a fixed sequence of named stages, each switched
// on and tuned by the `clean:` section of a data config, each counting what it changed and
// what it dropped. docs/data-clean.md describes every stage for users.
//
// Stages, in the order they run (a stage runs only when its config enables it; utf8 always):
//   utf8          invalid UTF-8 repaired (U+FFFD) or the document dropped
//   nfc           Unicode NFC (utf8proc); ASCII and quick-check-stable text is left alone
//   control       C0/C1 controls and U+FEFF removed; ZWJ, ZWNJ and bidi marks kept
//   whitespace    line ends, trailing blanks, runs of blank lines, leading/trailing space
//   html          tags, <script>/<style>, comments removed; common entities decoded
//   length        code points outside [min_chars, max_chars] drop the document
//   letter_ratio  too few letters (L*, M*) among visible code points
//   script        dominant script not among `scripts`, or too small a fraction of letters
//   repetition    repeated lines or one word 3-gram covering too much of the text
//   symbol_ratio  too many words made only of punctuation and symbols
// A stage that leaves a document empty drops it.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ilm/data/script.h"

namespace ilm {

// repair: each maximal invalid subpart becomes U+FFFD (as scan_utf8 defines); drop: drop the
// document.
enum class Utf8Policy { repair, drop };

struct CleanConfig {
  Utf8Policy invalid_utf8 = Utf8Policy::repair;
  bool nfc = true;
  // C0/C1 controls except \t \n (\r is left to whitespace), and U+FEFF anywhere; never
  // ZWJ/ZWNJ or other format characters.
  bool strip_control = true;
  // \r\n and \r -> \n; trailing spaces/tabs on lines removed; 3+ newlines -> 2; leading and
  // trailing spaces, tabs and newlines of the document removed. Inner spaces are kept (code).
  bool normalize_whitespace = true;
  // Drops tags, <script>/<style> contents and comments; decodes &amp; &lt; &gt; &quot; &#39;
  // &apos; &nbsp; and numeric references.
  bool strip_html = false;
  int64_t min_chars = 0, max_chars = 0;   // code points after the above; 0 = no bound
  double min_letter_ratio = 0;            // letters (L*, M*) / visible code points; 0 = off
  std::vector<Script> scripts;            // allowed dominant scripts; empty = all
  double min_script_fraction = 0;         // letters of `scripts` / all letters; 0 = off
  double max_repeated_line_fraction = 0;  // characters in lines seen twice or more; 0 = off
  double max_top_ngram_fraction = 0;      // word characters covered by the top word 3-gram; 0 = off
  double max_symbol_ratio = 0;            // punctuation/symbol-only words per word; 0 = off
};

// The stage names, in the order they run.
inline constexpr std::string_view kCleanStages[] = {
    "utf8",   "nfc",          "control", "whitespace", "html",
    "length", "letter_ratio", "script",  "repetition", "symbol_ratio"};

struct StageCount {
  std::string stage;
  int64_t seen = 0, modified = 0, dropped = 0;
};

struct CleanStats {
  std::vector<StageCount> stages;  // one per enabled stage, in order
  // Adds `other`'s counts stage by stage (by name); stages only `other` has are appended.
  void merge(const CleanStats& other);
};

class Cleaner {
 public:
  // Validates: ratios in [0, 1], 0 <= min_chars <= max_chars (when max_chars is set),
  // min_script_fraction only with scripts. Throws ilm::Error naming the field.
  explicit Cleaner(CleanConfig config);
  const CleanConfig& config() const { return config_; }
  // Zeroed counts, one per enabled stage.
  CleanStats new_stats() const;
  // Cleans `text` in place. Returns the name of the stage that dropped the document, or an
  // empty view when it is kept. Thread-safe: one CleanStats per thread, merged afterwards;
  // an empty CleanStats is set to new_stats() on first use.
  std::string_view apply(std::string& text, CleanStats& stats) const;

 private:
  CleanConfig config_;
  std::vector<std::string_view> stages_;  // the enabled ones
};

// The `clean:` section of a data config (YAML converted to JSON): an object with the fields of
// CleanConfig by name; invalid_utf8 is "repair" or "drop", scripts a list of script names.
// Unknown keys, wrong types and invalid values are errors naming `source` and the key.
CleanConfig clean_config_from_json(const nlohmann::json& j, const std::string& source);

}  // namespace ilm
