#include "ilm/io/expect_tensors.h"

#include <fmt/format.h>

#include <set>

#include "ilm/core/error.h"

namespace ilm {

namespace {

bool is_float_name(const std::string& dtype) {
  return dtype == "F32" || dtype == "BF16" || dtype == "F16";
}

}  // namespace

bool name_matches(const std::string& pattern, const std::string& name) {
  // Iterative wildcard match with one backtrack point: linear in practice.
  size_t p = 0, n = 0, star = std::string::npos, resume = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p;
      ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = n;
    } else if (star != std::string::npos) {
      p = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

std::map<std::string, Tensor> load_expected(const SafetensorsIndex& source,
                                            const std::vector<ExpectedTensor>& expected,
                                            const ExpectOptions& options) {
  std::vector<std::string> problems;
  std::set<std::string> wanted;
  for (const ExpectedTensor& e : expected) {
    if (!wanted.insert(e.name).second)
      fail("load_expected: '{}' is expected twice (a bug in the model's tensor list)", e.name);
    if (!source.has(e.name)) {
      problems.push_back(fmt::format("missing: '{}' (expected {} {})", e.name, dtype_name(e.dtype),
                                     e.shape.to_string()));
      continue;
    }
    const TensorInfo& t = source.info(e.name);
    if (t.shape != e.shape)
      problems.push_back(fmt::format("shape mismatch: '{}' expected {}, found {}", e.name,
                                     e.shape.to_string(), t.shape.to_string()));
    const std::string want(dtype_name(e.dtype));
    const bool convertible =
        options.convert_floats && is_float_name(t.file_dtype) && is_float_name(want);
    if (t.file_dtype != want && !convertible)
      problems.push_back(
          fmt::format("dtype mismatch: '{}' expected {}, found {}", e.name, want, t.file_dtype));
  }
  for (const std::string& name : source.names()) {
    if (wanted.count(name)) continue;
    bool ignored = false;
    for (const std::string& p : options.ignore) ignored = ignored || name_matches(p, name);
    if (!ignored) {
      const TensorInfo& t = source.info(name);
      problems.push_back(
          fmt::format("unexpected: '{}' ({} {})", name, t.file_dtype, t.shape.to_string()));
    }
  }
  if (!problems.empty()) {
    // One line, as every ilm error; a wholly wrong checkpoint lists the first kMaxListed.
    constexpr size_t kMaxListed = 20;
    std::string msg = fmt::format("{}: {} problem{} loading weights: ", source.path().string(),
                                  problems.size(), problems.size() == 1 ? "" : "s");
    for (size_t i = 0; i < problems.size() && i < kMaxListed; ++i)
      msg.append(i ? "; " : "").append(problems[i]);
    if (problems.size() > kMaxListed)
      msg.append(fmt::format("; and {} more", problems.size() - kMaxListed));
    fail("{}", msg);
  }
  std::map<std::string, Tensor> out;
  for (const ExpectedTensor& e : expected) out.emplace(e.name, source.load(e.name, e.dtype));
  return out;
}

}  // namespace ilm
