#include "ilm/tokenizer/bpe.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <queue>

#include "ilm/core/error.h"

namespace ilm {

namespace {

constexpr uint64_t kEmptyPair = ~uint64_t(0);
constexpr int32_t kNoRank = INT32_MAX;
// Pieces up to this many bytes merge by scanning all pairs (tiktoken's quadratic loop, fastest
// on the short pieces of ordinary text); longer ones, such as whitespace runs or long words
// without spaces, merge through a heap in O(n log n).
constexpr size_t kShortPiece = 64;

uint64_t hash_bytes(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull ^ s.size();
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h ^ (h >> 29);
}

uint64_t hash_pair(uint64_t key) {
  key *= 0x9e3779b97f4a7c15ull;
  return key ^ (key >> 31);
}

std::string show_bytes(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += char(c);
    } else {
      out += fmt::format("\\x{:02X}", c);
    }
  }
  return out;
}

}  // namespace

int32_t BpeRanks::find(std::string_view s) const {
  if (bytes_slots_.empty()) return -1;
  const size_t mask = bytes_slots_.size() - 1;
  for (size_t i = hash_bytes(s) & mask;; i = (i + 1) & mask) {
    const int32_t r = bytes_slots_[i];
    if (r < 0) return -1;
    if (size_t(lengths_[r]) == s.size() &&
        std::memcmp(arena_.data() + offsets_[r], s.data(), s.size()) == 0) {
      return r;
    }
  }
}

void BpeRanks::insert_bytes_slot(int32_t rank) {
  const size_t mask = bytes_slots_.size() - 1;
  size_t i = hash_bytes(bytes(rank)) & mask;
  while (bytes_slots_[i] >= 0) i = (i + 1) & mask;
  bytes_slots_[i] = rank;
}

void BpeRanks::add(std::string_view s, int32_t rank) {
  ILM_CHECK(!finalized_, "BPE ranks: add() after finalize()");
  ILM_CHECK(rank >= 0, "BPE ranks: rank {} is negative", rank);
  ILM_CHECK(!s.empty(), "BPE ranks: rank {} has no bytes", rank);
  if (rank < size() && lengths_[rank] >= 0) {
    fail("BPE ranks: rank {} is given twice (\"{}\" and \"{}\")", rank, show_bytes(bytes(rank)),
         show_bytes(s));
  }
  const int32_t existing = find(s);
  if (existing >= 0) {
    fail("BPE ranks: token \"{}\" is given twice (ranks {} and {})", show_bytes(s), existing, rank);
  }
  if (rank >= size()) {
    offsets_.resize(size_t(rank) + 1, 0);
    lengths_.resize(size_t(rank) + 1, -1);
  }
  offsets_[rank] = uint32_t(arena_.size());
  lengths_[rank] = int32_t(s.size());
  arena_.append(s);
  ++count_;
  if (size_t(count_) * 2 > bytes_slots_.size()) {
    bytes_slots_.assign(std::max<size_t>(1024, bytes_slots_.size() * 2), -1);
    for (int32_t r = 0; r < size(); ++r) {
      if (lengths_[r] >= 0) insert_bytes_slot(r);
    }
  } else {
    insert_bytes_slot(rank);
  }
}

void BpeRanks::finalize() {
  ILM_CHECK(!finalized_, "BPE ranks: finalize() called twice");
  for (int b = 0; b < 256; ++b) {
    const char c = char(b);
    byte_rank_[b] = find(std::string_view(&c, 1));
    if (byte_rank_[b] < 0) fail("BPE ranks: byte 0x{:02X} is not a token", b);
  }
  // Every split of a token into two tokens is a pair that merges into it.
  std::vector<std::pair<uint64_t, int32_t>> pairs;
  for (int32_t r = 0; r < size(); ++r) {
    if (lengths_[r] < 2) continue;
    const std::string_view t = bytes(r);
    for (size_t k = 1; k < t.size(); ++k) {
      const int32_t left = find(t.substr(0, k));
      if (left < 0) continue;
      const int32_t right = find(t.substr(k));
      if (right < 0) continue;
      pairs.emplace_back((uint64_t(uint32_t(left)) << 32) | uint32_t(right), r);
    }
  }
  size_t capacity = 1024;
  while (capacity < pairs.size() * 2) capacity *= 2;
  pair_keys_.assign(capacity, kEmptyPair);
  pair_values_.assign(capacity, 0);
  const size_t mask = capacity - 1;
  for (const auto& [key, r] : pairs) {
    size_t i = hash_pair(key) & mask;
    while (pair_keys_[i] != kEmptyPair) i = (i + 1) & mask;
    pair_keys_[i] = key;
    pair_values_[i] = r;
  }
  finalized_ = true;
}

int32_t BpeRanks::pair_rank(int32_t left, int32_t right) const {
  const uint64_t key = (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
  const size_t mask = pair_keys_.size() - 1;
  for (size_t i = hash_pair(key) & mask;; i = (i + 1) & mask) {
    const uint64_t k = pair_keys_[i];
    if (k == key) return pair_values_[i];
    if (k == kEmptyPair) return kNoRank;
  }
}

void BpeRanks::encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
  ILM_CHECK(finalized_, "BPE ranks: encode before finalize()");
  if (piece.empty()) return;
  if (piece.size() == 1) {
    out.push_back(byte_rank_[uint8_t(piece[0])]);
    return;
  }
  // A piece that is a token is that token, as in tiktoken.
  const int32_t whole = find(piece);
  if (whole >= 0) {
    out.push_back(whole);
    return;
  }
  if (piece.size() <= kShortPiece) {
    merge_short(piece, out);
  } else {
    merge_long(piece, out);
  }
}

void BpeRanks::merge_short(std::string_view piece, std::vector<int32_t>& out) const {
  // parts[i]: the token of part i; ranks[i]: the rank of parts i and i+1 merged.
  int32_t parts[kShortPiece], ranks[kShortPiece];
  size_t n = piece.size();
  for (size_t i = 0; i < n; ++i) parts[i] = byte_rank_[uint8_t(piece[i])];
  for (size_t i = 0; i + 1 < n; ++i) ranks[i] = pair_rank(parts[i], parts[i + 1]);
  while (n > 1) {
    size_t best = 0;
    for (size_t i = 1; i + 1 < n; ++i) {
      if (ranks[i] < ranks[best]) best = i;
    }
    if (ranks[best] == kNoRank) break;
    parts[best] = ranks[best];
    std::memmove(parts + best + 1, parts + best + 2, (n - best - 2) * sizeof(int32_t));
    if (best + 3 <= n) {
      std::memmove(ranks + best + 1, ranks + best + 2, (n - best - 3) * sizeof(int32_t));
    }
    --n;
    if (best + 1 < n) ranks[best] = pair_rank(parts[best], parts[best + 1]);
    if (best > 0) ranks[best - 1] = pair_rank(parts[best - 1], parts[best]);
  }
  out.insert(out.end(), parts, parts + n);
}

void BpeRanks::merge_long(std::string_view piece, std::vector<int32_t>& out) const {
  // Parts are a linked list over their first byte's position. A heap entry (rank, position,
  // version) is stale once the part at position, or its right neighbour, changed since.
  const int32_t n = int32_t(piece.size());
  std::vector<int32_t> parts(size_t(n), 0), next(size_t(n), 0), prev(size_t(n), 0);
  std::vector<uint32_t> version(size_t(n), 0);
  std::vector<char> alive(size_t(n), 1);
  struct Entry {
    int32_t rank, pos;
    uint32_t version;
    bool operator>(const Entry& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap;
  for (int32_t i = 0; i < n; ++i) {
    parts[i] = byte_rank_[uint8_t(piece[size_t(i)])];
    next[i] = i + 1;
    prev[i] = i - 1;
  }
  auto push = [&](int32_t pos) {
    if (pos < 0 || next[pos] >= n) return;
    const int32_t r = pair_rank(parts[pos], parts[next[pos]]);
    if (r != kNoRank) heap.push({r, pos, version[pos]});
  };
  for (int32_t i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    const Entry e = heap.top();
    heap.pop();
    if (!alive[e.pos] || version[e.pos] != e.version) continue;
    const int32_t right = next[e.pos];
    parts[e.pos] = e.rank;
    alive[right] = 0;
    next[e.pos] = next[right];
    if (next[right] < n) prev[next[right]] = e.pos;
    ++version[e.pos];
    push(e.pos);
    if (prev[e.pos] >= 0) {
      ++version[prev[e.pos]];
      push(prev[e.pos]);
    }
  }
  for (int32_t i = 0; i < n; i = next[i]) out.push_back(parts[i]);
}

}  // namespace ilm
