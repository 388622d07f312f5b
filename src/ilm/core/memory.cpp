#include "ilm/core/memory.h"

#include <sys/mman.h>
#include <unistd.h>

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

namespace {
constexpr size_t kArenaChunk = size_t(64) << 20;  // made usable 64 MiB at a time

// Address space to reserve: twice the machine's memory (no arena can use more), so
// many arenas fit in the address space, sanitizers' shadow mappings included.
size_t arena_reserve() {
  static const size_t n = [] {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    size_t ram = pages > 0 && page > 0 ? size_t(pages) * size_t(page) : size_t(64) << 30;
    return round_up(2 * ram, kArenaChunk);
  }();
  return n;
}
}  // namespace

Arena::~Arena() {
  if (base_) munmap(base_, arena_reserve());
}

void* Arena::alloc(size_t bytes) {
  bytes = round_up(bytes == 0 ? kAlign : bytes, kAlign);
  if (!base_) {
    void* p = mmap(nullptr, arena_reserve(), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED) fail("[arena] cannot reserve address space");
    base_ = static_cast<char*>(p);
  }
  if (used_ + bytes > committed_) {
    size_t want = round_up(used_ + bytes, kArenaChunk);
    if (want > arena_reserve()) fail("[arena] {} bytes requested: more than the arena can hold", want);
    if (mprotect(base_ + committed_, want - committed_, PROT_READ | PROT_WRITE) != 0)
      fail("out of memory: the activation arena cannot grow to {} MiB", want >> 20);
    madvise(base_ + committed_, want - committed_, MADV_HUGEPAGE);
    committed_ = want;
  }
  void* p = base_ + used_;
  used_ += bytes;
  peak_ = std::max(peak_, used_);
  return p;
}

}  // namespace ilm
