// Deduplication of documents: exact (a 128-bit hash of the normalized text) and near-duplicate
// (MinHash signatures of shingles, banded into LSH tables). The pipeline computes hashes and
// signatures on several threads, then inserts them in document order on one, so what is kept
// depends only on the order of the documents. docs/data-dedup.md describes it for users.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ilm {

// Text as dedup compares it: NFKC + case fold (utf8proc), whitespace runs (Unicode White_Space)
// -> one space, trimmed. Punctuation kept. Invalid UTF-8 bytes become U+FFFD.
std::string normalize_for_dedup(std::string_view text);

// ---- exact ----------------------------------------------------------------------------------

struct Hash128 {
  uint64_t low = 0, high = 0;
  bool operator==(const Hash128&) const = default;
};
// XXH3-128 of the bytes (of the normalized text, for ExactDedup).
Hash128 hash128(std::string_view bytes);

class ExactDedup {  // 128-bit hash of the normalized text
 public:
  // True when the text is new (and remembers it); false for a duplicate of an earlier one.
  bool insert(std::string_view text);
  // The same for a text already normalized by normalize_for_dedup.
  bool insert_normalized(std::string_view normalized_text) {
    return insert_hash(hash128(normalized_text));
  }
  // The same for hash128(normalized text), computed elsewhere (on another thread).
  bool insert_hash(Hash128 hash);
  int64_t size() const { return size_; }  // distinct texts seen
  // 16 bytes a slot, at most 3/4 of the slots used.
  size_t memory_bytes() const { return slots_.size() * sizeof(Hash128); }

 private:
  void grow();
  std::vector<Hash128> slots_;  // open addressing, linear probing; {0, 0} is empty
  int64_t size_ = 0;
};

// ---- near: MinHash + LSH ------------------------------------------------------------------

enum class ShingleUnit { word, character };

struct MinHashConfig {
  ShingleUnit unit = ShingleUnit::word;
  int ngram = 5;           // shingle length in words or code points (of the normalized text)
  int num_perm = 128;      // signature length
  int bands = 0;           // 0: chosen from threshold and num_perm (optimal_bands); bands*rows
                           // must equal num_perm
  double threshold = 0.8;  // Jaccard similarity at or above which a document is a near-duplicate
  uint64_t seed = 1;

  // Throws naming the field (ngram >= 1, num_perm in [16, 1024], bands divides num_perm,
  // threshold in (0, 1]).
  void validate() const;
  // `bands`, or optimal_bands(threshold, num_perm) when it is 0.
  int resolved_bands() const;
  int rows() const { return num_perm / resolved_bands(); }  // num_perm / bands (after choosing)
};

// The divisor b of num_perm (rows r = num_perm / b) that minimizes the weighted areas of false
// positives (similarity below `threshold` that becomes a candidate) and false negatives (above
// it that does not) under the S-curve P(s) = 1 - (1 - s^r)^b, as in the usual LSH analysis.
// Unlike there, MinHashLsh verifies each candidate against its kept signature, so a false
// positive of the bands costs one comparison while a false negative loses a duplicate for
// good: the default weights are 0.05 and 0.95 (equal weights pick 8 bands of 16 rows for 0.8,
// which finds only 81% of the pairs at similarity 0.9; these pick 16 of 8, which finds 99.99%).
int optimal_bands(double threshold, int num_perm, double false_positive_weight = 0.05,
                  double false_negative_weight = 0.95);
// P(s) = 1 - (1 - s^rows)^bands: the probability that two documents of Jaccard similarity s
// share at least one band.
double lsh_candidate_probability(double s, int bands, int rows);

using MinHashSignature = std::vector<uint32_t>;  // num_perm values

// Pure and thread-safe: the pipeline computes signatures on several threads.
// Shingles are runs of `ngram` words (separated by single spaces, as normalized text is) or
// code points; a text with fewer than `ngram` of them is one shingle of the whole text.
// Value i is the minimum over the shingles of a_i x + b_i (mod 2^32), x the 64-bit XXH3 of the
// shingle's bytes (seeded by `seed`) folded to 32 bits, a_i (odd) and b_i drawn from `seed`.
MinHashSignature minhash_signature(std::string_view normalized_text, const MinHashConfig& config);
// The fraction of equal values: an unbiased estimate of the Jaccard similarity of the two
// shingle sets, of variance J (1 - J) / num_perm.
double estimated_jaccard(const MinHashSignature& a, const MinHashSignature& b);
// Exact Jaccard of the two texts' shingle sets (for tests and reports).
double shingle_jaccard(std::string_view normalized_a, std::string_view normalized_b,
                       const MinHashConfig& config);

class MinHashLsh {  // documents inserted in order; deterministic
 public:
  explicit MinHashLsh(MinHashConfig config);

  // If `sig` near-duplicates an earlier kept document (an LSH candidate whose estimated Jaccard
  // is >= threshold), returns that document's id and does not keep this one; otherwise keeps it
  // under `id` and returns nullopt. Of several such documents, the first found: in band order,
  // then in the order of the band's table.
  std::optional<int64_t> insert(int64_t id, const MinHashSignature& sig);
  int64_t size() const { return static_cast<int64_t>(ids_.size()); }  // documents kept
  // For reports: num_perm + 8 bytes a kept document, plus 4 bytes a band in tables filled to
  // between 3/8 and 3/4 (221 to 307 bytes a document for the defaults, 250 on average).
  size_t memory_bytes() const;
  const MinHashConfig& config() const { return config_; }  // bands resolved
  // Candidates compared with a kept signature so far (for reports and tests).
  int64_t verified() const { return verified_; }

  // A band's table holds at most this many documents with the same values in that band; later
  // ones are kept but not entered in that band (they still are in the others). Without it, a
  // corpus of many similar-but-not-duplicate documents (pages of one template) makes every
  // insert compare with all of them: quadratic time.
  static constexpr int kMaxPerBandKey = 32;

 private:
  void grow();
  uint64_t band_key(const uint8_t* folded_band) const;
  void place(size_t band, uint64_t key, uint32_t doc);

  MinHashConfig config_;
  int bands_, rows_;
  // Kept document k: ids_[k], and its signature folded to 8 bits a value in
  // folded_[k*num_perm, (k+1)*num_perm).
  std::vector<int64_t> ids_;
  std::vector<uint8_t> folded_;
  // bands_ open-addressing tables of `capacity_` slots each (band j at j*capacity_), linear
  // probing, keyed by the XXH3 of the document's folded band. A slot holds 1 + the index of a
  // kept document (0: empty); the key itself is read back from folded_, so a slot costs 4 bytes.
  std::vector<uint32_t> slots_;
  size_t capacity_ = 0;
  std::vector<std::pair<uint32_t, uint32_t>> probed_;  // (band, document) of one insert
  int64_t verified_ = 0;
};

// Counts for reports: how many documents each dedup stage removed.
struct DedupStats {
  int64_t exact_seen = 0, exact_removed = 0, near_seen = 0, near_removed = 0;
  void merge(const DedupStats& other);
};

}  // namespace ilm
