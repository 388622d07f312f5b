#include "ilm/data/dedup.h"

#include <utf8proc.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <unordered_set>

// Inlined: most shingles are a few dozen bytes, where a call per hash would cost as much as
// the hash.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "ilm/core/error.h"
#include "ilm/tokenizer/tokenizer.h"

namespace ilm {

// ---- normalization ----------------------------------------------------------------------

namespace {

// Unicode's White_Space property.
bool is_white_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

// NFKC + case folding.
constexpr auto kNormalizeOptions = static_cast<utf8proc_option_t>(
    UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD);

bool is_ascii_space(unsigned char c) {
  return c == ' ' || (c >= 0x09 && c <= 0x0D);
}

// Appends text, turning each whitespace run into one space, none at either end.
struct CollapsingWriter {
  std::string out;
  bool pending_space = false;

  void space() { pending_space = !out.empty(); }
  void put(const char* bytes, size_t n) {
    if (pending_space) {
      out += ' ';
      pending_space = false;
    }
    out.append(bytes, n);
  }
};

// Code points that NFKC + case folding leave as they are whatever surrounds them: mapped to
// themselves alone, combining class 0 and a canonical decomposition (if any) that starts with
// a starter, so nothing before them is reordered with or composed onto them; and not a
// "second", a later part of a canonical decomposition, so they never compose onto the code
// point before. A following code point can still compose onto them: normalize_for_dedup sends
// the code point before a run of others to utf8proc with it. Most letters of most scripts
// (Arabic with its hamza forms, CJK, Hangul syllables, lower-case Cyrillic, ...); ASCII is
// handled apart. A bit a code point, 136 KiB, built on first use (a few milliseconds).
class InertCodePoints {
 public:
  InertCodePoints() : bits_(0x110000 / 64, 0) {
    constexpr utf8proc_int32_t kEnd = 0x110000;
    auto surrogate = [](utf8proc_int32_t c) { return c >= 0xD800 && c <= 0xDFFF; };
    auto decompose = [](utf8proc_int32_t c, utf8proc_int32_t(&parts)[32]) {
      int boundclass = 0;
      return utf8proc_decompose_char(c, parts, 32, UTF8PROC_DECOMPOSE, &boundclass);
    };
    std::vector<bool> second(kEnd, false);
    for (utf8proc_int32_t c = 0; c < kEnd; ++c) {
      if (surrogate(c) || utf8proc_get_property(c)->decomp_seqindex == UINT16_MAX) continue;
      utf8proc_int32_t parts[32];
      const utf8proc_ssize_t n = decompose(c, parts);
      for (utf8proc_ssize_t k = 1; k < n && k < 32; ++k)
        second[static_cast<size_t>(parts[k])] = true;
    }
    // Hangul vowels and trailing consonants compose onto syllables by algorithm, not table.
    for (utf8proc_int32_t c = 0x1161; c <= 0x1175; ++c) second[static_cast<size_t>(c)] = true;
    for (utf8proc_int32_t c = 0x11A8; c <= 0x11C2; ++c) second[static_cast<size_t>(c)] = true;
    for (utf8proc_int32_t c = 0x80; c < kEnd; ++c) {
      const utf8proc_property_t* p = utf8proc_get_property(c);
      if (surrogate(c) || p->combining_class != 0 || second[static_cast<size_t>(c)]) continue;
      if (p->decomp_seqindex != UINT16_MAX || p->casefold_seqindex != UINT16_MAX) {
        if (!maps_to_itself(c)) continue;
        utf8proc_int32_t parts[32];
        if (decompose(c, parts) < 1) continue;
        const auto first = static_cast<size_t>(parts[0]);
        if (utf8proc_get_property(parts[0])->combining_class != 0 || second[first]) continue;
      }
      const auto i = static_cast<size_t>(c);
      bits_[i / 64] |= uint64_t{1} << (i % 64);
    }
  }
  bool operator[](char32_t c) const { return (bits_[c / 64] >> (c % 64)) & 1; }

 private:
  static bool maps_to_itself(utf8proc_int32_t c) {
    utf8proc_uint8_t in[4];
    const utf8proc_ssize_t n = utf8proc_encode_char(c, in);
    utf8proc_uint8_t* out = nullptr;
    const utf8proc_ssize_t m = utf8proc_map(in, n, &out, kNormalizeOptions);
    const bool same = m == n && std::memcmp(in, out, static_cast<size_t>(n)) == 0;
    std::free(out);
    return same;
  }
  std::vector<uint64_t> bits_;
};

const InertCodePoints& inert_code_points() {
  static const InertCodePoints table;
  return table;
}

// Appends text of ASCII and inert code points: ASCII lower-cased, whitespace collapsed, the
// rest as it is (all that NFKC + case folding does to them).
void put_unchanged(std::string_view s, CollapsingWriter& w) {
  size_t i = 0;
  while (i < s.size()) {
    size_t end = i;  // end of the run of non-whitespace from i
    size_t space_length = 0;
    while (end < s.size()) {
      const auto c = static_cast<unsigned char>(s[end]);
      if (c < 0x80) {
        if (is_ascii_space(c)) {
          space_length = 1;
          break;
        }
        ++end;
        continue;
      }
      const Utf8Scan scan = scan_utf8(s, end);
      if (is_white_space(scan.code_point)) {
        space_length = static_cast<size_t>(scan.length);
        break;
      }
      end += static_cast<size_t>(scan.length);
    }
    if (end > i) {
      const size_t at = w.out.size() + (w.pending_space ? 1 : 0);
      w.put(s.data() + i, end - i);
      // A-Z bytes occur in UTF-8 only as themselves.
      for (char* c = w.out.data() + at; c != w.out.data() + w.out.size(); ++c) {
        if (*c >= 'A' && *c <= 'Z') *c = static_cast<char>(*c + 32);
      }
    }
    if (space_length > 0) w.space();
    i = end + space_length;
  }
}

// `s` with each malformed UTF-8 subpart replaced by U+FFFD.
std::string replace_invalid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (size_t i = 0; i < s.size();) {
    const Utf8Scan scan = scan_utf8(s, i);
    if (scan.status == Utf8Status::ok) {
      out.append(s.substr(i, static_cast<size_t>(scan.length)));
    } else {
      out += "\xEF\xBF\xBD";
    }
    i += static_cast<size_t>(scan.length);
  }
  return out;
}

void put_unicode(std::string_view s, CollapsingWriter& w) {
  constexpr auto kOptions = kNormalizeOptions;
  utf8proc_uint8_t* mapped = nullptr;
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                    static_cast<utf8proc_ssize_t>(s.size()), &mapped, kOptions);
  if (n == UTF8PROC_ERROR_INVALIDUTF8) {
    const std::string valid = replace_invalid_utf8(s);
    n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(valid.data()),
                     static_cast<utf8proc_ssize_t>(valid.size()), &mapped, kOptions);
  }
  if (n < 0) fail("normalize_for_dedup: utf8proc failed: {}", utf8proc_errmsg(n));
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owner(mapped, &std::free);
  for (utf8proc_ssize_t i = 0; i < n;) {
    utf8proc_int32_t cp = 0;
    const utf8proc_ssize_t len = utf8proc_iterate(mapped + i, n - i, &cp);
    if (len <= 0) fail("normalize_for_dedup: utf8proc returned invalid UTF-8");
    if (is_white_space(static_cast<char32_t>(cp))) {
      w.space();
    } else {
      w.put(reinterpret_cast<const char*>(mapped + i), static_cast<size_t>(len));
    }
    i += len;
  }
}

}  // namespace

std::string normalize_for_dedup(std::string_view text) {
  // Runs of ASCII and inert code points are copied (put_unchanged); the rest goes through
  // utf8proc a run at a time, taking the code point before the run along, since a combining
  // mark composes with the letter before it ("e" U+0301 -> U+00E9). The code point after a run
  // is ASCII or inert: never composed onto what precedes it, never reordered, so cutting there
  // leaves the result as if utf8proc had seen the whole text (a unit test checks this).
  const InertCodePoints& inert = inert_code_points();
  // Length of the code point at i when it is ASCII or inert, else 0.
  auto unchanged_length = [&](size_t i) -> size_t {
    if (static_cast<unsigned char>(text[i]) < 0x80) return 1;
    const Utf8Scan scan = scan_utf8(text, i);
    return scan.status == Utf8Status::ok && inert[scan.code_point]
               ? static_cast<size_t>(scan.length)
               : 0;
  };
  CollapsingWriter w;
  w.out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    size_t p = i;  // the first code point to change
    while (p < text.size()) {
      while (p < text.size() && static_cast<unsigned char>(text[p]) < 0x80) ++p;
      const size_t n = p < text.size() ? unchanged_length(p) : 0;
      if (n == 0) break;
      p += n;
    }
    if (p == text.size()) {
      put_unchanged(text.substr(i), w);
      break;
    }
    // The code point before p (text[i, p) is valid UTF-8).
    size_t start = p;
    if (p > i) {
      do --start;
      while ((static_cast<unsigned char>(text[start]) & 0xC0) == 0x80);
    }
    put_unchanged(text.substr(i, start - i), w);
    size_t q = p;
    while (q < text.size() && unchanged_length(q) == 0) {
      const Utf8Scan scan = scan_utf8(text, q);
      q += static_cast<size_t>(scan.length);
    }
    put_unicode(text.substr(start, q - start), w);
    i = q;
  }
  return std::move(w.out);
}

// ---- exact ----------------------------------------------------------------------------------

Hash128 hash128(std::string_view bytes) {
  const XXH128_hash_t h = XXH3_128bits(bytes.data(), bytes.size());
  return {h.low64, h.high64};
}

bool ExactDedup::insert(std::string_view text) {
  return insert_normalized(normalize_for_dedup(text));
}

bool ExactDedup::insert_hash(Hash128 hash) {
  if (hash == Hash128{}) hash.low = 1;  // {0, 0} marks an empty slot
  if (static_cast<size_t>(size_ + 1) * 4 > slots_.size() * 3) grow();
  const size_t mask = slots_.size() - 1;
  for (size_t i = hash.low & mask;; i = (i + 1) & mask) {
    if (slots_[i] == hash) return false;
    if (slots_[i] == Hash128{}) {
      slots_[i] = hash;
      ++size_;
      return true;
    }
  }
}

void ExactDedup::grow() {
  std::vector<Hash128> old = std::move(slots_);
  slots_.assign(std::max<size_t>(64, old.size() * 2), Hash128{});
  const size_t mask = slots_.size() - 1;
  for (const Hash128& h : old) {
    if (h == Hash128{}) continue;
    size_t i = h.low & mask;
    while (!(slots_[i] == Hash128{})) i = (i + 1) & mask;
    slots_[i] = h;
  }
}

// ---- configuration --------------------------------------------------------------------------

void MinHashConfig::validate() const {
  ILM_CHECK(ngram >= 1, "minhash config: ngram must be >= 1, got {}", ngram);
  ILM_CHECK(num_perm >= 16 && num_perm <= 1024,
            "minhash config: num_perm must be in [16, 1024], got {}", num_perm);
  ILM_CHECK(bands >= 0 && bands <= num_perm && (bands == 0 || num_perm % bands == 0),
            "minhash config: bands must divide num_perm ({}) or be 0 (chosen from threshold), "
            "got {}",
            num_perm, bands);
  ILM_CHECK(threshold > 0 && threshold <= 1, "minhash config: threshold must be in (0, 1], got {}",
            threshold);
}

int MinHashConfig::resolved_bands() const {
  return bands > 0 ? bands : optimal_bands(threshold, num_perm);
}

double lsh_candidate_probability(double s, int bands, int rows) {
  return 1.0 - std::pow(1.0 - std::pow(s, rows), bands);
}

int optimal_bands(double threshold, int num_perm, double false_positive_weight,
                  double false_negative_weight) {
  // Midpoint rule on 200 steps each side: the areas only rank the few divisors.
  auto area = [](double lo, double hi, auto&& f) {
    constexpr int kSteps = 200;
    const double dx = (hi - lo) / kSteps;
    double sum = 0;
    for (int i = 0; i < kSteps; ++i) sum += f(lo + (i + 0.5) * dx);
    return sum * dx;
  };
  int best = 1;
  double best_error = std::numeric_limits<double>::infinity();
  for (int b = 1; b <= num_perm; ++b) {
    if (num_perm % b != 0) continue;
    const int r = num_perm / b;
    const double false_positive =
        area(0.0, threshold, [&](double s) { return lsh_candidate_probability(s, b, r); });
    const double false_negative =
        area(threshold, 1.0, [&](double s) { return 1.0 - lsh_candidate_probability(s, b, r); });
    const double error =
        false_positive_weight * false_positive + false_negative_weight * false_negative;
    if (error < best_error) {
      best_error = error;
      best = b;
    }
  }
  return best;
}

// ---- signatures -----------------------------------------------------------------------------

namespace {

// Permutations are computed in blocks of this many, held in vector registers (4 AVX2 ones).
constexpr size_t kLanes = 32;

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// a_i (odd) and b_i of the permutations x -> a_i x + b_i (mod 2^32), padded to whole blocks.
// 32-bit: 8 lanes to an AVX2 register with a native multiply and unsigned minimum (64-bit
// lanes need both emulated there: measured 4 to 5 times slower).
struct Permutations {
  uint64_t seed = 0;
  int num_perm = 0;
  std::vector<uint32_t> a, b;
};

const Permutations& permutations_for(const MinHashConfig& config) {
  thread_local Permutations p;
  if (p.num_perm != config.num_perm || p.seed != config.seed) {
    const size_t padded = (static_cast<size_t>(config.num_perm) + kLanes - 1) / kLanes * kLanes;
    p.a.resize(padded);
    p.b.resize(padded);
    uint64_t state = config.seed;
    for (size_t i = 0; i < padded; ++i) {
      const uint64_t r = splitmix64(state);
      p.a[i] = static_cast<uint32_t>(r) | 1;
      p.b[i] = static_cast<uint32_t>(r >> 32);
    }
    p.seed = config.seed;
    p.num_perm = config.num_perm;
  }
  return p;
}

// Calls f(shingle bytes) for each shingle of the text, in order (repeats included). Memory is
// the starts of the last `ngram` units, whatever the length of the text.
template <typename F>
void for_each_shingle(std::string_view text, const MinHashConfig& config, F&& f) {
  const auto n = static_cast<size_t>(config.ngram);
  thread_local std::vector<size_t> starts;  // of units k - n + 1 .. k, at index k % n
  starts.assign(n, 0);
  size_t units = 0;
  auto unit = [&](size_t start, size_t end) {
    starts[units % n] = start;
    ++units;
    // The shingle ending with this unit starts at unit units - n, stored at units % n.
    if (units >= n) f(text.substr(starts[units % n], end - starts[units % n]));
  };
  if (config.unit == ShingleUnit::word) {
    size_t i = 0;
    while (i < text.size()) {
      while (i < text.size() && text[i] == ' ') ++i;
      if (i == text.size()) break;
      const size_t start = i;
      const void* space = std::memchr(text.data() + i, ' ', text.size() - i);
      i = space ? static_cast<size_t>(static_cast<const char*>(space) - text.data()) : text.size();
      unit(start, i);
    }
  } else {
    size_t start = 0;
    for (size_t i = 1; i < text.size(); ++i) {
      if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {  // not a continuation byte
        unit(start, i);
        start = i;
      }
    }
    if (!text.empty()) unit(start, text.size());
  }
  if (units < n) f(text);
}

// mins[i] = min(mins[i], min over x of a_i x + b_i), for i < a.size() (whole blocks). One
// block of kLanes permutations stays in registers over all of `xs`.
void update_minimums(uint32_t* mins, const Permutations& perm, const std::vector<uint32_t>& xs) {
  for (size_t p0 = 0; p0 < perm.a.size(); p0 += kLanes) {
    uint32_t a[kLanes], b[kLanes], m[kLanes];
    for (size_t j = 0; j < kLanes; ++j) {
      a[j] = perm.a[p0 + j];
      b[j] = perm.b[p0 + j];
      m[j] = mins[p0 + j];
    }
    for (const uint32_t x : xs) {
      for (size_t j = 0; j < kLanes; ++j) {
        const uint32_t v = a[j] * x + b[j];
        m[j] = v < m[j] ? v : m[j];
      }
    }
    for (size_t j = 0; j < kLanes; ++j) mins[p0 + j] = m[j];
  }
}

}  // namespace

MinHashSignature minhash_signature(std::string_view normalized_text, const MinHashConfig& config) {
  config.validate();
  const Permutations& perm = permutations_for(config);
  // Shingle hashes go through the permutations a chunk at a time (16 KiB, in L1 cache), so
  // memory does not grow with the document.
  constexpr size_t kChunk = 4096;
  thread_local std::vector<uint32_t> chunk;
  thread_local std::vector<uint32_t> mins;
  chunk.clear();
  mins.assign(perm.a.size(), std::numeric_limits<uint32_t>::max());
  for_each_shingle(normalized_text, config, [&](std::string_view shingle) {
    const uint64_t h = XXH3_64bits_withSeed(shingle.data(), shingle.size(), config.seed);
    chunk.push_back(static_cast<uint32_t>(h ^ (h >> 32)));
    if (chunk.size() == kChunk) {
      update_minimums(mins.data(), perm, chunk);
      chunk.clear();
    }
  });
  update_minimums(mins.data(), perm, chunk);
  return MinHashSignature(mins.begin(), mins.begin() + config.num_perm);
}

double estimated_jaccard(const MinHashSignature& a, const MinHashSignature& b) {
  ILM_CHECK(!a.empty() && a.size() == b.size(),
            "estimated_jaccard: signatures of {} and {} values (expected the same, > 0)", a.size(),
            b.size());
  size_t equal = 0;
  for (size_t i = 0; i < a.size(); ++i) equal += a[i] == b[i];
  return static_cast<double>(equal) / static_cast<double>(a.size());
}

double shingle_jaccard(std::string_view normalized_a, std::string_view normalized_b,
                       const MinHashConfig& config) {
  config.validate();
  std::unordered_set<std::string_view> set_a, set_b;
  for_each_shingle(normalized_a, config, [&](std::string_view s) { set_a.insert(s); });
  for_each_shingle(normalized_b, config, [&](std::string_view s) { set_b.insert(s); });
  size_t common = 0;
  for (std::string_view s : set_a) common += set_b.count(s);
  return static_cast<double>(common) / static_cast<double>(set_a.size() + set_b.size() - common);
}

// ---- LSH ------------------------------------------------------------------------------------

namespace {

// 8 bits of a signature value, from the top of a multiplicative hash: minima are small
// numbers, so their own top bits are mostly 0, while these are near uniform.
inline uint8_t fold8(uint32_t v) {
  return static_cast<uint8_t>((v * 0x9E3779B1u) >> 24);
}

// Kept signatures are folded to 8 bits a value ("b-bit minwise hashing", Li and Koenig 2010):
// two values that differ fold to the same byte with probability 1/256, so the fraction E of
// equal folded values has expectation J + (1 - J)/256, and J = (E - 1/256) / (1 - 1/256)
// estimates J without bias. Its variance is within 1% of that of the 32-bit estimate for
// J >= 0.5, where the threshold decision is made, at a quarter of the memory (128 bytes for the
// default 128 permutations instead of 512), which is what keeps the state under the budget of
// about 300 bytes a kept document.
constexpr double kFoldCollision = 1.0 / 256.0;

}  // namespace

MinHashLsh::MinHashLsh(MinHashConfig config) : config_(config) {
  config_.validate();
  bands_ = config_.resolved_bands();
  config_.bands = bands_;
  rows_ = config_.num_perm / bands_;
}

uint64_t MinHashLsh::band_key(const uint8_t* folded_band) const {
  return XXH3_64bits(folded_band, static_cast<size_t>(rows_));
}

void MinHashLsh::place(size_t band, uint64_t key, uint32_t doc) {
  const auto np = static_cast<size_t>(config_.num_perm), rows = static_cast<size_t>(rows_);
  const uint8_t* values = folded_.data() + doc * np + band * rows;
  uint32_t* table = slots_.data() + band * capacity_;
  int same = 0;
  size_t i = key & (capacity_ - 1);
  for (; table[i] != 0; i = (i + 1) & (capacity_ - 1)) {
    const uint8_t* kept = folded_.data() + static_cast<size_t>(table[i] - 1) * np + band * rows;
    if (std::memcmp(kept, values, rows) == 0 && ++same == kMaxPerBandKey) return;
  }
  table[i] = doc + 1;
}

std::optional<int64_t> MinHashLsh::insert(int64_t id, const MinHashSignature& sig) {
  const auto np = static_cast<size_t>(config_.num_perm);
  ILM_CHECK(sig.size() == np, "MinHashLsh: a signature of {} values, expected num_perm = {}",
            sig.size(), np);
  uint8_t folded[1024];
  for (size_t i = 0; i < np; ++i) folded[i] = fold8(sig[i]);
  // E >= threshold (1 - 1/256) + 1/256, as a count of equal values.
  const double needed =
      static_cast<double>(np) * (config_.threshold * (1.0 - kFoldCollision) + kFoldCollision);
  const auto min_equal = static_cast<size_t>(std::ceil(needed - 1e-9));
  const auto rows = static_cast<size_t>(rows_), bands = static_cast<size_t>(bands_);
  const size_t mask = capacity_ - 1;
  uint64_t keys[1024];
  for (size_t band = 0; band < bands; ++band) keys[band] = band_key(folded + band * rows);
  if (capacity_ > 0) {
    // The kept documents in each band's probe run, then their signatures: each step's cache
    // misses are prefetched together rather than waited for one at a time.
    for (size_t band = 0; band < bands; ++band) {
      __builtin_prefetch(slots_.data() + band * capacity_ + (keys[band] & mask));
    }
    probed_.clear();
    for (size_t band = 0; band < bands; ++band) {
      const uint32_t* table = slots_.data() + band * capacity_;
      for (size_t i = keys[band] & mask; table[i] != 0; i = (i + 1) & mask) {
        const uint32_t doc = table[i] - 1;
        __builtin_prefetch(folded_.data() + doc * np + band * rows);
        probed_.push_back({static_cast<uint32_t>(band), doc});
      }
    }
    for (const auto& [band, doc] : probed_) {
      const uint8_t* kept = folded_.data() + static_cast<size_t>(doc) * np;
      if (std::memcmp(kept + band * rows, folded + band * rows, rows) != 0) continue;
      ++verified_;
      size_t equal = 0;
      for (size_t k = 0; k < np; ++k) equal += kept[k] == folded[k];
      if (equal >= min_equal) return ids_[doc];
    }
  }
  ILM_CHECK(ids_.size() < std::numeric_limits<uint32_t>::max() - 1,
            "MinHashLsh: more than 2^32 - 2 kept documents");
  if ((ids_.size() + 1) * 4 > capacity_ * 3) grow();
  const auto doc = static_cast<uint32_t>(ids_.size());
  ids_.push_back(id);
  folded_.insert(folded_.end(), folded, folded + np);
  for (size_t band = 0; band < bands; ++band) place(band, keys[band], doc);
  return std::nullopt;
}

void MinHashLsh::grow() {
  capacity_ = std::max<size_t>(64, capacity_ * 2);
  slots_.assign(capacity_ * static_cast<size_t>(bands_), 0);
  const auto np = static_cast<size_t>(config_.num_perm);
  const auto rows = static_cast<size_t>(rows_);
  // Room for exactly the documents the tables take before the next growth, so these vectors
  // never hold twice what they use.
  ids_.reserve(capacity_ * 3 / 4);
  folded_.reserve(capacity_ * 3 / 4 * np);
  for (size_t doc = 0; doc < ids_.size(); ++doc) {
    for (size_t band = 0; band < static_cast<size_t>(bands_); ++band) {
      place(band, band_key(folded_.data() + doc * np + band * rows), static_cast<uint32_t>(doc));
    }
  }
}

size_t MinHashLsh::memory_bytes() const {
  // The vectors' reserved room is left out: the pages not written yet are not resident.
  return ids_.size() * sizeof(int64_t) + folded_.size() + slots_.size() * sizeof(uint32_t);
}

void DedupStats::merge(const DedupStats& other) {
  exact_seen += other.exact_seen;
  exact_removed += other.exact_removed;
  near_seen += other.near_seen;
  near_removed += other.near_removed;
}

}  // namespace ilm
