// The cleaning stages of clean.h as plain functions, for Cleaner, tests and benchmarks.
// The text transforms work in place and return whether they changed the text; the measures
// return the number a filter compares with its threshold. All but repair_utf8 and
// is_valid_utf8 require valid UTF-8.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ilm/data/script.h"

namespace ilm::clean {

// True when `text` is well-formed UTF-8 (scan_utf8's definition).
bool is_valid_utf8(std::string_view text);
// Replaces each maximal invalid subpart (and a sequence cut off by the end) with U+FFFD.
bool repair_utf8(std::string& text);

// Unicode NFC. Only the spans around code points that NFC might change go through utf8proc.
bool to_nfc(std::string& text);

// Removes C0 controls but \t \n \r, DEL, C1 controls (U+0080..U+009F) and U+FEFF.
bool strip_controls(std::string& text);

// \r\n and \r -> \n, trailing spaces and tabs of lines removed, 3+ newlines -> 2, leading and
// trailing spaces, tabs and newlines of the text removed.
bool normalize_whitespace(std::string& text);

// Removes tags, comments, <!...> and <?...?> declarations, <script>/<style> elements with their
// contents; block tags (p, div, br, li, h1..h6, tr, ...) become "\n". Decodes &amp; &lt; &gt;
// &quot; &#39; &apos; &nbsp; (to a space) and numeric references (&#128;..&#159; as
// Windows-1252, as browsers do; invalid ones to U+FFFD); decoded C0/C1 controls are removed
// when `drop_controls`.
bool strip_html(std::string& text, bool drop_controls);

// Code points of valid UTF-8.
int64_t count_code_points(std::string_view text);
// Letters and marks (L*, M*) / code points that are neither white space (ASCII, Z*) nor format
// characters (Cf: ZWJ, ZWNJ, bidi marks); 0 when there are none.
double letter_ratio(std::string_view text);
// Code points in non-empty lines that occur more than once / code points in all lines
// (newlines not counted).
double repeated_line_fraction(std::string_view text);
// Words are separated by ASCII white space. Code points of the words covered by the
// occurrences of the most frequent word 3-gram (when it occurs at least twice) / code points
// of all words.
double top_ngram_fraction(std::string_view text);
// count_scripts of valid UTF-8, with the scripts of the BMP looked up in a table.
ScriptCounts script_counts(std::string_view text);
// Words with no letter, mark or digit (#, ..., …, --, emoji) / words; 0 without words.
double symbol_word_ratio(std::string_view text);

}  // namespace ilm::clean
