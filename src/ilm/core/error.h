// Error: the one exception type of libilm. Its message names the file, key or
// value that was wrong and what was expected; context is prepended as the
// error travels outwards ("loading runs/x/ckpt: model.safetensors: ...").
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace ilm {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}

  // A new error whose message is "context: original message".
  Error with_context(const std::string& context) const { return Error(context + ": " + what()); }
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace ilm

// ILM_CHECK(cond, "format {}", args...): throws ilm::Error with the message when cond is false.
#define ILM_CHECK(cond, ...)          \
  do {                                \
    if (!(cond)) ::ilm::fail(__VA_ARGS__); \
  } while (0)
