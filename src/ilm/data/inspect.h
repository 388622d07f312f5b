// inspect_data: what a prepared data folder (or one shard or example set) holds, as text
// for `ilm data inspect`: the manifest's counts, each file's header and size, and decoded
// samples, so a user sees what the model will be trained on.
#pragma once

#include <filesystem>
#include <string>

namespace ilm {

struct InspectOptions {
  int samples = 2;          // documents (or examples) decoded per file
  int sample_tokens = 64;   // at most this many tokens of each sample
  bool verify = false;      // recompute each file's sha256 against manifest.json
};

// Throws naming the file when something cannot be read or does not match the manifest.
std::string inspect_data(const std::filesystem::path& path, const InspectOptions& options);

}  // namespace ilm
