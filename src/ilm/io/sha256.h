// SHA-256 (OpenSSL's libcrypto) as lowercase hex: the checksums of shard manifests and
// of downloaded files, comparable with `sha256sum`.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace ilm {

// Incremental: update() any number of times, then hex() once.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, size_t bytes);
  void update(std::string_view s) { update(s.data(), s.size()); }
  std::string hex();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

std::string sha256_hex(std::string_view data);
// Reads the file in chunks; throws naming the file when it cannot be read.
std::string sha256_file(const std::filesystem::path& path);

}  // namespace ilm
