#include "ilm/io/paths.h"

#include <glob.h>

#include <algorithm>
#include <set>

#include "ilm/core/error.h"

namespace fs = std::filesystem;

namespace ilm {

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
      std::vector<fs::path> files;
      for (const auto& e : fs::directory_iterator(in, ec))
        if (e.is_regular_file() && (extension.empty() || e.path().extension() == extension))
          files.push_back(e.path());
      ILM_CHECK(!files.empty(), "{}: the folder has no {}files", in,
                extension.empty() ? "" : extension + " ");
      std::sort(files.begin(), files.end());
      for (auto& f : files) add(f);
    } else if (fs::exists(in, ec)) {
      add(in);
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
