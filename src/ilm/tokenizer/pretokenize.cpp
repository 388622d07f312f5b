#include "ilm/tokenizer/pretokenize.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <map>
#include <memory>
#include <mutex>

#include "ilm/core/error.h"

namespace ilm {

namespace {

// The patterns of tiktoken's tiktoken_ext/openai_public.py (r50k_base and p50k_base share
// GPT-2's; it is also GPT-2's encoder.py pattern). Written with \s and \S as there; see
// white_space_as_property for how they are run.
constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

constexpr std::string_view kCl100kPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*)"
    R"(|\s*[\r\n]+|\s+(?!\S)|\s+)";

constexpr std::string_view kO200kPattern =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+)"
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)?)"
    R"(|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*)"
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)?)"
    R"(|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  pcre2_get_error_message(code, buffer, sizeof(buffer));
  return reinterpret_cast<const char*>(buffer);
}

// Match data, match context and JIT stack of one thread: allocating them per call would cost
// more than splitting a short text.
struct MatchScratch {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* jit_stack = nullptr;

  MatchScratch() {
    data = pcre2_match_data_create(1, nullptr);
    context = pcre2_match_context_create(nullptr);
    jit_stack = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, nullptr);
    if (!data || !context || !jit_stack) fail("pretokenizer: out of memory for PCRE2 match data");
    pcre2_jit_stack_assign(context, nullptr, jit_stack);
  }
  ~MatchScratch() {
    pcre2_jit_stack_free(jit_stack);
    pcre2_match_context_free(context);
    pcre2_match_data_free(data);
  }
  MatchScratch(const MatchScratch&) = delete;
  MatchScratch& operator=(const MatchScratch&) = delete;
};

MatchScratch& thread_scratch() {
  thread_local MatchScratch scratch;
  return scratch;
}

}  // namespace

// tiktoken runs these patterns with Rust's regex crates, where \s is Unicode's White_Space
// property. PCRE2's \s with UCP also matches U+180E (through \h), so \s and \S become the
// property itself to cut text exactly where tiktoken does.
std::string white_space_as_property(std::string_view pattern) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\\' && i + 1 < pattern.size()) {
      const char c = pattern[++i];
      if (c == 's') {
        out += R"(\p{White_Space})";
      } else if (c == 'S') {
        out += R"(\P{White_Space})";
      } else {
        out += '\\';
        out += c;
      }
    } else {
      out += pattern[i];
    }
  }
  return out;
}

std::vector<std::string> Pretokenizer::known_patterns() {
  return {"gpt2", "cl100k_base", "o200k_base"};
}

const Pretokenizer& Pretokenizer::get(std::string_view name) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<Pretokenizer>, std::less<>> compiled;
  std::lock_guard lock(mutex);
  auto it = compiled.find(name);
  if (it != compiled.end()) return *it->second;
  std::string_view pattern;
  if (name == "gpt2") {
    pattern = kGpt2Pattern;
  } else if (name == "cl100k_base") {
    pattern = kCl100kPattern;
  } else if (name == "o200k_base") {
    pattern = kO200kPattern;
  } else {
    fail(
        "pretokenizer: unknown pattern \"{}\", expected \"gpt2\", \"cl100k_base\" or "
        "\"o200k_base\"",
        name);
  }
  auto p = std::make_unique<Pretokenizer>(std::string(name), pattern);
  const Pretokenizer& ref = *p;
  compiled.emplace(std::string(name), std::move(p));
  return ref;
}

Pretokenizer::Pretokenizer(std::string name, std::string_view pattern)
    : name_(std::move(name)), pattern_(pattern) {
  const std::string full = white_space_as_property(pattern);
  int error = 0;
  PCRE2_SIZE error_offset = 0;
  // MATCH_INVALID_UTF: ill-formed bytes are never matched (and never crash the matcher), so
  // they fall between matches and split() turns them into pieces of their own.
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(full.data()), full.size(),
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &error,
                                   &error_offset, nullptr);
  if (!code) {
    fail("pretokenizer \"{}\": PCRE2 cannot compile the pattern at offset {}: {}", name_,
         error_offset, pcre2_message(error));
  }
  // Without JIT (an unsupported CPU), pcre2_match interprets the pattern: slower, same pieces.
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  code_ = code;
}

Pretokenizer::~Pretokenizer() {
  pcre2_code_free(static_cast<pcre2_code*>(code_));
}

void Pretokenizer::split(std::string_view text, std::vector<std::string_view>& pieces) const {
  pieces.clear();
  auto* code = static_cast<pcre2_code*>(code_);
  MatchScratch& scratch = thread_scratch();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(scratch.data);
  size_t pos = 0;
  while (pos < text.size()) {
    const int rc = pcre2_match(code, subject, text.size(), pos, 0, scratch.data, scratch.context);
    if (rc == PCRE2_ERROR_NOMATCH) {
      pieces.push_back(text.substr(pos));
      break;
    }
    if (rc < 0) {
      fail("pretokenizer \"{}\": PCRE2 match failed at byte offset {}: {}", name_, pos,
           pcre2_message(rc));
    }
    const size_t start = ovector[0], end = ovector[1];
    // Every alternative consumes a character, so a match is never empty.
    ILM_CHECK(end > start, "pretokenizer \"{}\": empty match at byte offset {}", name_, start);
    if (start > pos) pieces.push_back(text.substr(pos, start - pos));
    pieces.push_back(text.substr(start, end - start));
    pos = end;
  }
}

}  // namespace ilm
