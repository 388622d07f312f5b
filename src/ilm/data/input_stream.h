// InputStream: the bytes of an input file, with gzip or zstd compression undone. The
// compression is recognised by the file's first bytes (gzip 1f 8b, zstd 28 b5 2f fd),
// not by its name, so a misnamed file is still read right. Reads go through a fixed
// buffer: memory stays the same whatever the file's size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "ilm/core/error.h"

namespace ilm {

// What went wrong with a stream: kind() is "unreadable file" (open or read failed, a
// folder) or "decompression" (a corrupt or truncated gzip/zstd stream).
class InputStreamError : public Error {
 public:
  InputStreamError(std::string kind, const std::filesystem::path& file, std::string detail)
      : Error(fmt::format("{}: {}", file.string(), detail)),
        kind_(std::move(kind)),
        detail_(std::move(detail)) {}
  const std::string& kind() const { return kind_; }
  const std::string& detail() const { return detail_; }  // the message without the file

 private:
  std::string kind_, detail_;
};

enum class Compression { none, gzip, zstd };

class InputStream {
 public:
  // Throws InputStreamError naming the file when it cannot be opened or is a folder.
  static std::unique_ptr<InputStream> open(const std::filesystem::path& path);
  ~InputStream();
  InputStream(const InputStream&) = delete;
  InputStream& operator=(const InputStream&) = delete;

  // Up to n uncompressed bytes into buf; 0 only at the end. Throws InputStreamError naming
  // the file on a read error or a corrupt or truncated compressed stream.
  size_t read(char* buf, size_t n);

  Compression compression() const { return compression_; }
  const std::filesystem::path& path() const { return path_; }
  int64_t raw_bytes_read() const { return raw_read_; }  // bytes taken from the file
  int64_t bytes_out() const { return out_; }            // uncompressed bytes given

 private:
  InputStream() = default;
  size_t read_raw(char* buf, size_t n);
  bool refill();  // more raw bytes into in_; false at the end of the file
  size_t read_gzip(char* buf, size_t n);
  size_t read_zstd(char* buf, size_t n);

  std::filesystem::path path_;
  int fd_ = -1;
  Compression compression_ = Compression::none;
  std::unique_ptr<char[]> in_;  // raw bytes not yet decompressed: in_[in_pos_, in_end_)
  size_t in_pos_ = 0, in_end_ = 0;
  bool raw_eof_ = false;
  bool finished_ = false;    // the compressed stream ended cleanly and no bytes follow
  bool frame_open_ = false;  // inside a gzip member or zstd frame not yet complete
  int64_t raw_read_ = 0, out_ = 0;
  struct Codec;
  std::unique_ptr<Codec> codec_;
};

}  // namespace ilm
