// BpeRanks: byte-level BPE over a rank table, as tiktoken defines it. Every token is a byte
// string with a rank, which is also its id; a piece of text starts as single bytes and the
// adjacent pair whose concatenation has the lowest rank merges first, the leftmost on a tie,
// until no adjacent pair concatenates to a token.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ilm {

class BpeRanks {
 public:
  // Adds token `bytes` with `rank`; an error names the rank, or the bytes, given twice.
  void add(std::string_view bytes, int32_t rank);
  // Builds the pair table; needs all 256 single bytes among the tokens (an error names a
  // missing one). Call once, after the last add() and before encoding.
  void finalize();

  // One more than the largest rank; ranks below it may be unused.
  int32_t size() const { return int32_t(offsets_.size()); }
  int32_t token_count() const { return count_; }
  bool has(int32_t rank) const { return rank >= 0 && rank < size() && lengths_[rank] >= 0; }
  // The bytes of a rank for which has() is true.
  std::string_view bytes(int32_t rank) const {
    return std::string_view(arena_.data() + offsets_[rank], size_t(lengths_[rank]));
  }
  // The rank of token `bytes`, or -1.
  int32_t find(std::string_view bytes) const;

  // Appends the tokens of one pre-tokenized piece to `out`.
  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const;

 private:
  int32_t pair_rank(int32_t left, int32_t right) const;
  void merge_short(std::string_view piece, std::vector<int32_t>& out) const;
  void merge_long(std::string_view piece, std::vector<int32_t>& out) const;
  void insert_bytes_slot(int32_t rank);

  std::string arena_;              // the bytes of all tokens, back to back
  std::vector<uint32_t> offsets_;  // rank -> offset in arena_
  std::vector<int32_t> lengths_;   // rank -> byte count, -1 for an unused rank
  int32_t count_ = 0;
  // Open addressing, linear probing: token bytes -> rank (-1: empty slot).
  std::vector<int32_t> bytes_slots_;
  // (left rank, right rank) -> rank of their concatenation, for every pair that forms a token.
  std::vector<uint64_t> pair_keys_;  // kEmptyPair: empty slot
  std::vector<int32_t> pair_values_;
  int32_t byte_rank_[256] = {};
  bool finalized_ = false;
};

}  // namespace ilm
