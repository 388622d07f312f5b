// Cleaner: runs the enabled stages of clean_stages.h in order and counts what each did;
// clean_config_from_json reads the `clean:` section of a data config.
#include "ilm/data/clean.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

#include "ilm/core/error.h"
#include "ilm/data/clean_stages.h"
#include "ilm/io/json_config.h"

namespace ilm {
namespace {

enum Stage : int {
  kUtf8,
  kNfc,
  kControl,
  kWhitespace,
  kHtml,
  kLength,
  kLetterRatio,
  kScript,
  kRepetition,
  kSymbolRatio,
};

void check_fraction(double value, const char* field) {
  ILM_CHECK(std::isfinite(value) && value >= 0 && value <= 1,
            "clean.{}: expected a number in [0, 1], got {}", field, value);
}

}  // namespace

void CleanStats::merge(const CleanStats& other) {
  for (const StageCount& o : other.stages) {
    auto it = std::find_if(stages.begin(), stages.end(),
                           [&](const StageCount& s) { return s.stage == o.stage; });
    if (it == stages.end()) {
      stages.push_back(o);
    } else {
      it->seen += o.seen;
      it->modified += o.modified;
      it->dropped += o.dropped;
    }
  }
}

Cleaner::Cleaner(CleanConfig config) : config_(std::move(config)) {
  const CleanConfig& c = config_;
  ILM_CHECK(c.min_chars >= 0, "clean.min_chars: expected 0 (no bound) or more, got {}",
            c.min_chars);
  ILM_CHECK(c.max_chars >= 0, "clean.max_chars: expected 0 (no bound) or more, got {}",
            c.max_chars);
  ILM_CHECK(c.max_chars == 0 || c.min_chars <= c.max_chars,
            "clean.min_chars: {} is above clean.max_chars {}", c.min_chars, c.max_chars);
  check_fraction(c.min_letter_ratio, "min_letter_ratio");
  check_fraction(c.min_script_fraction, "min_script_fraction");
  check_fraction(c.max_repeated_line_fraction, "max_repeated_line_fraction");
  check_fraction(c.max_top_ngram_fraction, "max_top_ngram_fraction");
  check_fraction(c.max_symbol_ratio, "max_symbol_ratio");
  ILM_CHECK(c.min_script_fraction == 0 || !c.scripts.empty(),
            "clean.min_script_fraction: needs clean.scripts, the scripts it counts");

  const bool enabled[] = {
      true,
      c.nfc,
      c.strip_control,
      c.normalize_whitespace,
      c.strip_html,
      c.min_chars > 0 || c.max_chars > 0,
      c.min_letter_ratio > 0,
      !c.scripts.empty(),
      c.max_repeated_line_fraction > 0 || c.max_top_ngram_fraction > 0,
      c.max_symbol_ratio > 0,
  };
  for (int s = 0; s < static_cast<int>(std::size(kCleanStages)); ++s)
    if (enabled[s]) stages_.push_back(kCleanStages[s]);
}

CleanStats Cleaner::new_stats() const {
  CleanStats stats;
  for (std::string_view s : stages_) stats.stages.push_back(StageCount{std::string(s)});
  return stats;
}

std::string_view Cleaner::apply(std::string& text, CleanStats& stats) const {
  if (stats.stages.empty()) stats = new_stats();
  ILM_CHECK(stats.stages.size() == stages_.size(),
            "Cleaner::apply: the stats have {} stages, the cleaner {} (use new_stats())",
            stats.stages.size(), stages_.size());
  const CleanConfig& c = config_;
  size_t next = 0;  // the next entry of stats.stages
  // Each stage: count it as seen, run it, count a change; a document it empties is dropped.
  auto transform = [&](auto&& run) -> bool {
    StageCount& count = stats.stages[next++];
    ++count.seen;
    if (run()) ++count.modified;
    if (!text.empty()) return true;
    ++count.dropped;
    return false;
  };
  auto filter = [&](bool keep) -> bool {
    StageCount& count = stats.stages[next++];
    ++count.seen;
    if (!keep) ++count.dropped;
    return keep;
  };

  {
    StageCount& count = stats.stages[next++];
    ++count.seen;
    if (c.invalid_utf8 == Utf8Policy::drop) {
      if (!clean::is_valid_utf8(text)) {
        ++count.dropped;
        return kCleanStages[kUtf8];
      }
    } else if (clean::repair_utf8(text)) {
      ++count.modified;
    }
    if (text.empty()) {
      ++count.dropped;
      return kCleanStages[kUtf8];
    }
  }
  if (c.nfc && !transform([&] { return clean::to_nfc(text); })) return kCleanStages[kNfc];
  if (c.strip_control && !transform([&] { return clean::strip_controls(text); }))
    return kCleanStages[kControl];
  if (c.normalize_whitespace && !transform([&] { return clean::normalize_whitespace(text); }))
    return kCleanStages[kWhitespace];
  if (c.strip_html && !transform([&] {
        if (!clean::strip_html(text, c.strip_control)) return false;
        // Decoded references and removed tags can undo what the stages before did.
        if (c.nfc) clean::to_nfc(text);
        if (c.normalize_whitespace) clean::normalize_whitespace(text);
        return true;
      }))
    return kCleanStages[kHtml];

  if (c.min_chars > 0 || c.max_chars > 0) {
    const int64_t chars = clean::count_code_points(text);
    if (!filter(chars >= c.min_chars && (c.max_chars == 0 || chars <= c.max_chars)))
      return kCleanStages[kLength];
  }
  if (c.min_letter_ratio > 0 && !filter(clean::letter_ratio(text) >= c.min_letter_ratio))
    return kCleanStages[kLetterRatio];
  if (!c.scripts.empty()) {
    const ScriptCounts counts = clean::script_counts(text);
    const Script dominant = counts.dominant();
    bool keep = std::find(c.scripts.begin(), c.scripts.end(), dominant) != c.scripts.end();
    if (keep && c.min_script_fraction > 0) {
      double fraction = 0;
      for (Script s : c.scripts) fraction += counts.fraction(s);
      keep = fraction >= c.min_script_fraction;
    }
    if (!filter(keep)) return kCleanStages[kScript];
  }
  if (c.max_repeated_line_fraction > 0 || c.max_top_ngram_fraction > 0) {
    bool keep = c.max_repeated_line_fraction == 0 ||
                clean::repeated_line_fraction(text) <= c.max_repeated_line_fraction;
    if (keep && c.max_top_ngram_fraction > 0)
      keep = clean::top_ngram_fraction(text) <= c.max_top_ngram_fraction;
    if (!filter(keep)) return kCleanStages[kRepetition];
  }
  if (c.max_symbol_ratio > 0 && !filter(clean::symbol_word_ratio(text) <= c.max_symbol_ratio))
    return kCleanStages[kSymbolRatio];
  return {};
}

// ---- config -----------------------------------------------------------------------------

namespace {

enum class KeyType { boolean, integer, number, policy, scripts };

struct Key {
  std::string_view name;
  KeyType type;
};

constexpr Key kKeys[] = {
    {"invalid_utf8", KeyType::policy},
    {"nfc", KeyType::boolean},
    {"strip_control", KeyType::boolean},
    {"normalize_whitespace", KeyType::boolean},
    {"strip_html", KeyType::boolean},
    {"min_chars", KeyType::integer},
    {"max_chars", KeyType::integer},
    {"min_letter_ratio", KeyType::number},
    {"scripts", KeyType::scripts},
    {"min_script_fraction", KeyType::number},
    {"max_repeated_line_fraction", KeyType::number},
    {"max_top_ngram_fraction", KeyType::number},
    {"max_symbol_ratio", KeyType::number},
};

std::string known_keys() {
  std::string out;
  for (const Key& k : kKeys) {
    if (!out.empty()) out += ", ";
    out += k.name;
  }
  return out;
}

std::string script_names() {
  std::string out;
  for (int i = 0; i < kScriptCount; ++i) {
    if (!out.empty()) out += ", ";
    out += script_name(static_cast<Script>(i));
  }
  return out;
}

// The value's JSON, shortened, for messages.
std::string shown(const nlohmann::json& v) {
  std::string s = v.dump();
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return s;
}

}  // namespace

CleanConfig clean_config_from_json(const nlohmann::json& j, const std::string& source) {
  CleanConfig config;
  if (j.is_null()) return config;  // "clean:" with nothing under it
  ILM_CHECK(j.is_object(), "{}: clean: expected an object of cleaning options, got {}", source,
            shown(j));
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& v = it.value();
    const Key* key = nullptr;
    for (const Key& k : kKeys)
      if (k.name == name) key = &k;
    if (!key) {
      std::vector<std::string> names;
      for (const Key& k : kKeys) names.emplace_back(k.name);
      const std::string suggestion = did_you_mean(name, names);
      if (!suggestion.empty()) fail("{}: clean: unknown key '{}'{}", source, name, suggestion);
      fail("{}: clean: unknown key '{}' (known keys: {})", source, name, known_keys());
    }
    const std::string where = fmt::format("{}: clean.{}", source, name);
    switch (key->type) {
      case KeyType::boolean: {
        ILM_CHECK(v.is_boolean(), "{}: expected true or false, got {}", where, shown(v));
        const bool b = v.get<bool>();
        if (name == "nfc") config.nfc = b;
        if (name == "strip_control") config.strip_control = b;
        if (name == "normalize_whitespace") config.normalize_whitespace = b;
        if (name == "strip_html") config.strip_html = b;
        break;
      }
      case KeyType::integer: {
        int64_t n = 0;
        if (v.is_number_integer()) {
          n = v.get<int64_t>();
        } else {
          ILM_CHECK(v.is_number_float() && std::floor(v.get<double>()) == v.get<double>() &&
                        std::abs(v.get<double>()) < 9e15,
                    "{}: expected a whole number of characters, got {}", where, shown(v));
          n = static_cast<int64_t>(v.get<double>());
        }
        (name == "min_chars" ? config.min_chars : config.max_chars) = n;
        break;
      }
      case KeyType::number: {
        ILM_CHECK(v.is_number(), "{}: expected a number, got {}", where, shown(v));
        const double x = v.get<double>();
        if (name == "min_letter_ratio") config.min_letter_ratio = x;
        if (name == "min_script_fraction") config.min_script_fraction = x;
        if (name == "max_repeated_line_fraction") config.max_repeated_line_fraction = x;
        if (name == "max_top_ngram_fraction") config.max_top_ngram_fraction = x;
        if (name == "max_symbol_ratio") config.max_symbol_ratio = x;
        break;
      }
      case KeyType::policy: {
        ILM_CHECK(v.is_string() && (v == "repair" || v == "drop"),
                  "{}: expected \"repair\" or \"drop\", got {}", where, shown(v));
        config.invalid_utf8 = v == "repair" ? Utf8Policy::repair : Utf8Policy::drop;
        break;
      }
      case KeyType::scripts: {
        ILM_CHECK(v.is_array(), "{}: expected a list of script names ({}), got {}", where,
                  script_names(), shown(v));
        config.scripts.clear();
        for (const nlohmann::json& s : v) {
          ILM_CHECK(s.is_string(), "{}: expected a script name ({}), got {}", where, script_names(),
                    shown(s));
          const std::optional<Script> script = script_from_name(s.get<std::string>());
          ILM_CHECK(script.has_value(), "{}: unknown script '{}' (scripts: {})", where,
                    s.get<std::string>(), script_names());
          config.scripts.push_back(*script);
        }
        break;
      }
    }
  }
  try {
    Cleaner check(config);
  } catch (const Error& e) {
    throw e.with_context(source);
  }
  return config;
}

}  // namespace ilm
