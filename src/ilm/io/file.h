// Files: atomic writes (write aside, fsync, rename), whole-file reads, and
// read-only memory maps. A kill at any moment leaves either the old file or
// the new one, never half of one.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace ilm {

// Writes `data` to `path` atomically: a temporary file beside it, fsync, rename,
// fsync of the folder. Creates missing parent folders.
void write_file_atomic(const std::filesystem::path& path, std::string_view data);

// Streams into a temporary file beside `path`; commit() makes it appear at `path`
// atomically. Destroyed without commit(), it removes the temporary file.
class AtomicWriter {
 public:
  explicit AtomicWriter(std::filesystem::path path);
  ~AtomicWriter();
  AtomicWriter(const AtomicWriter&) = delete;
  AtomicWriter& operator=(const AtomicWriter&) = delete;

  void write(const void* data, size_t bytes);
  void write(std::string_view s) { write(s.data(), s.size()); }
  // Overwrites bytes already written (a header whose counts are known only at the end).
  void write_at(uint64_t offset, const void* data, size_t bytes);
  void commit();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_, tmp_;
  int fd_ = -1;
};

// fsync of a folder, so that a rename inside it is durable.
void fsync_dir(const std::filesystem::path& dir);

// The whole file as a string; throws ilm::Error naming the file.
std::string read_file(const std::filesystem::path& path);

// A read-only map of a whole file. Empty files map to size 0 and data nullptr.
class MappedFile {
 public:
  static std::shared_ptr<MappedFile> open(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  MappedFile() = default;
  std::filesystem::path path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace ilm
