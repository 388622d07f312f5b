// Memory: aligned host buffers and the per-step arena.
//
// A first touch of a fresh 4 KiB page costs ~11 us in the VMs we run on, so
// memory that is freed and re-faulted every step is ruinous. Parameters,
// gradients and optimizer state are allocated once; activations come from an
// Arena whose blocks survive reset(), so step N+1 reuses step N's pages.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace ilm {

// Owned, 64-byte aligned, zero-filled memory. Large buffers ask for huge pages.
class Buffer {
 public:
  explicit Buffer(size_t bytes);
  // A view of memory owned by someone else; `keep_alive` holds it (an mmap, an arena).
  Buffer(void* data, size_t bytes, std::shared_ptr<void> keep_alive);
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  void* data() const { return data_; }
  size_t size() const { return bytes_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  bool owned_ = false;
  std::shared_ptr<void> keep_alive_;
};

void* aligned_alloc_zeroed(size_t bytes);  // 64-byte aligned; huge pages past 2 MiB
void aligned_free(void* p, size_t bytes);

// A bump allocator over one reserved range of address space: it reserves twice
// the machine's memory in addresses up front (no memory: PROT_NONE) and makes a growing prefix usable
// as allocations need it, so the arena never moves, never merges blocks, and a
// page is faulted in once in the life of the arena. reset() forgets every
// allocation and keeps the pages, so a steady-state training loop allocates and
// faults nothing.
class Arena {
 public:
  Arena() = default;
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  void* alloc(size_t bytes);  // 64-byte aligned, NOT zeroed
  void reset() { used_ = 0; }
  size_t used() const { return used_; }
  size_t capacity() const { return committed_; }  // usable bytes
  size_t peak() const { return peak_; }

 private:
  char* base_ = nullptr;
  size_t committed_ = 0;
  size_t used_ = 0;
  size_t peak_ = 0;
};

}  // namespace ilm
