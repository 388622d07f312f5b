#include "ilm/core/memory.h"

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <new>

#include "ilm/core/error.h"

namespace ilm {

namespace {
constexpr size_t kAlign = 64;
constexpr size_t kHugePage = size_t(2) << 20;
size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }
}  // namespace

void* aligned_alloc_zeroed(size_t bytes) {
  if (bytes == 0) bytes = kAlign;
  if (bytes >= kHugePage) {
    // mmap gives zeroed pages; MADV_HUGEPAGE makes first touch 512x cheaper per byte.
    size_t n = round_up(bytes, kHugePage);
    void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) fail("out of memory: could not map {} bytes", n);
    madvise(p, n, MADV_HUGEPAGE);
    return p;
  }
  void* p = std::aligned_alloc(kAlign, round_up(bytes, kAlign));
  if (!p) fail("out of memory: could not allocate {} bytes", bytes);
  std::memset(p, 0, bytes);
  return p;
}

void aligned_free(void* p, size_t bytes) {
  if (!p) return;
  if (bytes == 0) bytes = kAlign;
  if (bytes >= kHugePage) {
    munmap(p, round_up(bytes, kHugePage));
  } else {
    std::free(p);
  }
}

Buffer::Buffer(size_t bytes) : data_(aligned_alloc_zeroed(bytes)), bytes_(bytes), owned_(true) {}

Buffer::Buffer(void* data, size_t bytes, std::shared_ptr<void> keep_alive)
    : data_(data), bytes_(bytes), owned_(false), keep_alive_(std::move(keep_alive)) {}

Buffer::~Buffer() {
  if (owned_) aligned_free(data_, bytes_);
}

Arena::~Arena() {
  for (auto& b : blocks_) aligned_free(b.data, b.size);
}

void* Arena::alloc(size_t bytes) {
  bytes = round_up(bytes == 0 ? kAlign : bytes, kAlign);
  if (blocks_.empty() || blocks_.back().offset + bytes > blocks_.back().size) {
    // Grow geometrically; reset() merges the blocks, so the steady state is one block.
    size_t size = std::max(bytes, blocks_.empty() ? size_t(1) << 20 : 2 * blocks_.back().size);
    blocks_.push_back({static_cast<char*>(aligned_alloc_zeroed(size)), size, 0});
  }
  Block& b = blocks_.back();
  void* p = b.data + b.offset;
  b.offset += bytes;
  used_ += bytes;
  peak_ = std::max(peak_, used_);
  return p;
}

void Arena::reset() {
  if (blocks_.size() > 1) {
    // One block of the high-water mark (plus a little): the next step fits exactly.
    size_t total = peak_ + peak_ / 64;
    for (auto& b : blocks_) aligned_free(b.data, b.size);
    blocks_.clear();
    blocks_.push_back({static_cast<char*>(aligned_alloc_zeroed(total)), total, 0});
  }
  for (auto& b : blocks_) b.offset = 0;
  used_ = 0;
}

size_t Arena::capacity() const {
  size_t n = 0;
  for (auto& b : blocks_) n += b.size;
  return n;
}

}  // namespace ilm
