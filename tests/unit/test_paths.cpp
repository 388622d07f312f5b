#include "ilm/io/paths.h"

#include <gtest/gtest.h>

#include <fstream>

#include "test_util.h"

namespace ilm {
namespace {

namespace fs = std::filesystem;

TEST(Paths, FoldersGlobsAndGlobstar) {
  test::TempDir dir;
  const fs::path r = dir.path;
  for (const char* f : {"raw/a.txt", "raw/b.jsonl", "raw/x/c.txt", "raw/x/y/d.txt", "raw/.hidden/e.txt",
                        "raw/.f.txt"}) {
    fs::create_directories((r / f).parent_path());
    std::ofstream(r / f) << "x";
  }
  auto names = [&](const std::vector<fs::path>& ps) {
    std::vector<std::string> out;
    for (const auto& p : ps) out.push_back(p.lexically_relative(r).string());
    return out;
  };
  using V = std::vector<std::string>;
  // A folder: its files at any depth, sorted, hidden ones left out.
  EXPECT_EQ(names(expand_inputs({(r / "raw").string()})),
            (V{"raw/a.txt", "raw/b.jsonl", "raw/x/c.txt", "raw/x/y/d.txt"}));
  EXPECT_EQ(names(expand_inputs({(r / "raw").string()}, ".txt")),
            (V{"raw/a.txt", "raw/x/c.txt", "raw/x/y/d.txt"}));
  // A plain glob stays in one folder; "**/" crosses any number of them, none included.
  EXPECT_EQ(names(expand_inputs({(r / "raw/*.txt").string()})), (V{"raw/a.txt"}));
  EXPECT_EQ(names(expand_inputs({(r / "raw/**/*.txt").string()})),
            (V{"raw/a.txt", "raw/x/c.txt", "raw/x/y/d.txt"}));
  EXPECT_EQ(names(expand_inputs({(r / "raw/**/y/*.txt").string()})), (V{"raw/x/y/d.txt"}));
  // Each file once, in the order the inputs name them.
  EXPECT_EQ(names(expand_inputs({(r / "raw/x/c.txt").string(), (r / "raw/**/*.txt").string()})),
            (V{"raw/x/c.txt", "raw/a.txt", "raw/x/y/d.txt"}));
  std::string e = test::error_of([&] { expand_inputs({(r / "raw/**/*.csv").string()}); });
  EXPECT_NE(e.find("no matching files"), std::string::npos) << e;
}

}  // namespace
}  // namespace ilm
