// Input paths as users give them: a file, a folder (its files at any depth, sorted, hidden
// ones left out), or a glob pattern (its matches, sorted; "**/" matches any folders).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace ilm {

// Every file the inputs name, in order, without repeats. `extension` (".txt"), when not
// empty, filters the files of folders (not files named directly). Throws naming an input
// that matches nothing.
std::vector<std::filesystem::path> expand_inputs(const std::vector<std::string>& inputs,
                                                 const std::string& extension = "");

}  // namespace ilm
