#include "ilm/data/script.h"

#include <unicode/uscript.h>

#include <algorithm>
#include <cctype>
#include <string>

#include "ilm/tokenizer/tokenizer.h"

namespace ilm {
namespace {

constexpr std::array<std::string_view, kScriptCount> kNames = {
    "Common", "Latin", "Arabic", "Cyrillic", "Greek", "Hebrew",
    "Devanagari", "Han", "Kana", "Hangul", "Thai", "Other"};

Script from_icu(UScriptCode code) {
  switch (code) {
    case USCRIPT_COMMON:
    case USCRIPT_INHERITED:
    case USCRIPT_UNKNOWN:  // unassigned code points
      return Script::common;
    case USCRIPT_LATIN: return Script::latin;
    case USCRIPT_ARABIC: return Script::arabic;
    case USCRIPT_CYRILLIC: return Script::cyrillic;
    case USCRIPT_GREEK: return Script::greek;
    case USCRIPT_HEBREW: return Script::hebrew;
    case USCRIPT_DEVANAGARI: return Script::devanagari;
    case USCRIPT_HAN: return Script::han;
    case USCRIPT_HIRAGANA:
    case USCRIPT_KATAKANA:
    case USCRIPT_KATAKANA_OR_HIRAGANA: return Script::kana;
    case USCRIPT_HANGUL: return Script::hangul;
    case USCRIPT_THAI: return Script::thai;
    default: return Script::other;
  }
}

}  // namespace

Script script_of(char32_t code_point) {
  // ASCII is most of most corpora: answer it without ICU.
  if (code_point < 0x80) {
    return std::isalpha(static_cast<int>(code_point)) ? Script::latin : Script::common;
  }
  UErrorCode err = U_ZERO_ERROR;
  UScriptCode code = uscript_getScript(static_cast<UChar32>(code_point), &err);
  return U_FAILURE(err) ? Script::other : from_icu(code);
}

std::string_view script_name(Script script) { return kNames[static_cast<int>(script)]; }

std::optional<Script> script_from_name(std::string_view name) {
  for (int i = 0; i < kScriptCount; ++i) {
    std::string_view n = kNames[static_cast<size_t>(i)];
    if (n.size() == name.size() &&
        std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      return static_cast<Script>(i);
    }
  }
  return std::nullopt;
}

int64_t ScriptCounts::letters() const {
  int64_t n = 0;
  for (int i = 1; i < kScriptCount; ++i) n += count[static_cast<size_t>(i)];
  return n;
}

Script ScriptCounts::dominant() const {
  int best = 0;
  for (int i = 1; i < kScriptCount; ++i) {
    if (count[static_cast<size_t>(i)] > 0 &&
        (best == 0 || count[static_cast<size_t>(i)] > count[static_cast<size_t>(best)])) {
      best = i;
    }
  }
  return static_cast<Script>(best);
}

double ScriptCounts::fraction(Script s) const {
  int64_t total = letters();
  return s == Script::common || total == 0 ? 0.0 : static_cast<double>(of(s)) / total;
}

void ScriptCounts::add(const ScriptCounts& other) {
  for (int i = 0; i < kScriptCount; ++i) count[static_cast<size_t>(i)] += other.count[static_cast<size_t>(i)];
}

ScriptCounts count_scripts(std::string_view utf8) {
  ScriptCounts c;
  size_t i = 0;
  while (i < utf8.size()) {
    unsigned char b = static_cast<unsigned char>(utf8[i]);
    if (b < 0x80) {
      ++c.count[static_cast<size_t>(std::isalpha(b) ? Script::latin : Script::common)];
      ++i;
      continue;
    }
    Utf8Scan s = scan_utf8(utf8, i);
    Script script = s.status == Utf8Status::ok ? script_of(s.code_point) : Script::other;
    ++c.count[static_cast<size_t>(script)];
    i += static_cast<size_t>(s.length);
  }
  return c;
}

}  // namespace ilm
