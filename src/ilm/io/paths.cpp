#include "ilm/io/paths.h"

#include <fnmatch.h>
#include <glob.h>

#include <algorithm>
#include <set>

#include "ilm/core/error.h"

namespace fs = std::filesystem;

namespace ilm {
namespace {

// Files under `dir` at any depth, without hidden ones (".git", ".DS_Store").
std::vector<fs::path> files_under(const fs::path& dir, const std::string& extension) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it); it.increment(ec)) {
    if (it->path().filename().string().starts_with(".")) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file() && (extension.empty() || it->path().extension() == extension))
      files.push_back(it->path());
  }
  return files;
}

// "a/**/b*.txt": "**/" matches any number of folders (none included), as in bash's globstar.
std::vector<fs::path> globstar(const std::string& pattern) {
  const size_t at = pattern.find("**/");
  const fs::path base = at == 0 ? fs::path(".") : fs::path(pattern.substr(0, at));
  const std::string tail = pattern.substr(at + 3);
  std::vector<fs::path> files;
  std::error_code ec;
  if (!fs::is_directory(base, ec)) return files;
  for (const fs::path& f : files_under(base, "")) {
    const std::string rel = f.lexically_relative(base).string();
    // Try the tail against the relative path from each folder boundary.
    for (size_t start = 0; start != std::string::npos;) {
      if (fnmatch(tail.c_str(), rel.c_str() + start, FNM_PATHNAME) == 0) {
        files.push_back(at == 0 ? fs::path(rel) : f);
        break;
      }
      const size_t slash = rel.find('/', start);
      start = slash == std::string::npos ? slash : slash + 1;
    }
  }
  return files;
}

}  // namespace

std::vector<fs::path> expand_inputs(const std::vector<std::string>& inputs,
                                    const std::string& extension) {
  ILM_CHECK(!inputs.empty(), "no input files given");
  std::vector<fs::path> out;
  std::set<fs::path> seen;
  auto add = [&](const fs::path& p) {
    if (seen.insert(p).second) out.push_back(p);
  };
  for (const std::string& in : inputs) {
    std::error_code ec;
    if (fs::is_directory(in, ec)) {
      std::vector<fs::path> files = files_under(in, extension);
      ILM_CHECK(!files.empty(), "{}: the folder has no {}files", in,
                extension.empty() ? "" : extension + " ");
      std::sort(files.begin(), files.end());
      for (auto& f : files) add(f);
    } else if (fs::exists(in, ec)) {
      add(in);
    } else if (in.find("**/") != std::string::npos) {
      std::vector<fs::path> files = globstar(in);
      ILM_CHECK(!files.empty(), "{}: no matching files", in);
      std::sort(files.begin(), files.end());
      for (auto& f : files) add(f);
    } else {
      glob_t g{};
      int rc = glob(in.c_str(), 0, nullptr, &g);
      std::vector<fs::path> files;
      if (rc == 0)
        for (size_t i = 0; i < g.gl_pathc; ++i)
          if (fs::is_regular_file(g.gl_pathv[i])) files.push_back(g.gl_pathv[i]);
      globfree(&g);
      ILM_CHECK(!files.empty(), "{}: no such file, folder or matching files", in);
      std::sort(files.begin(), files.end());
      for (auto& f : files) add(f);
    }
  }
  return out;
}

}  // namespace ilm
