// Scripts (Arabic, Latin, ...) of text: which writing system each letter belongs to, for the
// language filter and the script mix of data reports. ICU's Unicode Script property, folded
// into the scripts a reader of a corpus report cares about.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace ilm {

// `common` covers what belongs to no one script: digits, punctuation, symbols, spaces, and
// the combining marks that take the script of their base (Unicode's Common and Inherited).
enum class Script : uint8_t {
  common,
  latin,
  arabic,
  cyrillic,
  greek,
  hebrew,
  devanagari,
  han,
  kana,  // Hiragana and Katakana
  hangul,
  thai,
  other,  // any other script
};
inline constexpr int kScriptCount = 12;

Script script_of(char32_t code_point);
// "Common", "Latin", "Arabic", ..., "Kana", "Other".
std::string_view script_name(Script script);
// The script named `name`, any case; nullopt for an unknown name.
std::optional<Script> script_from_name(std::string_view name);

// Code points of each script in a text; invalid UTF-8 bytes count as `other`.
struct ScriptCounts {
  std::array<int64_t, kScriptCount> count{};

  int64_t of(Script s) const { return count[static_cast<int>(s)]; }
  // Code points of any script but `common`.
  int64_t letters() const;
  // The script with the most code points, ignoring `common`; `common` when there are none.
  Script dominant() const;
  // of(s) / letters(); 0 when there are no letters.
  double fraction(Script s) const;
  void add(const ScriptCounts& other);
};

ScriptCounts count_scripts(std::string_view utf8);

}  // namespace ilm
