#include "ilm/tokenizer/bpe_trainer.h"

#include <fcntl.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <queue>

#include "ilm/core/error.h"
#include "ilm/io/file.h"
#include "ilm/tokenizer/pretokenize.h"
#include "ilm/tokenizer/tiktoken.h"
#include "ilm/tokenizer/tokenizer.h"

namespace fs = std::filesystem;

namespace ilm {

std::string byte_level_spelling(std::string_view bytes) {
  std::string out;
  for (unsigned char b : bytes) out += encode_utf8(gpt2_byte_to_char(b));
  return out;
}

// ---- Counting words ------------------------------------------------------------------------

WordCounts count_words(const std::vector<fs::path>& files, const BpeTrainerOptions& opt,
                       const std::function<void(int64_t)>& progress) {
  const Pretokenizer& pre = Pretokenizer::get(opt.pattern);
  const int threads = opt.threads > 0 ? opt.threads : omp_get_num_procs();
  constexpr size_t kBlock = size_t(8) << 20;
  WordCounts total;
  int64_t bytes_done = 0;
  for (const fs::path& file : files) {
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail("{}: cannot open: {}", file.string(), std::strerror(errno));
    std::string carry;
    std::vector<std::string> blocks;
    bool eof = false;
    while (!eof) {
      // Read up to `threads` blocks, each ending at a line end, then count them in parallel.
      blocks.clear();
      while (int(blocks.size()) < threads && !eof) {
        std::string buf = std::move(carry);
        carry.clear();
        size_t have = buf.size();
        buf.resize(have + kBlock);
        ssize_t n = ::read(fd, buf.data() + have, kBlock);
        if (n < 0) {
          ::close(fd);
          fail("{}: read failed: {}", file.string(), std::strerror(errno));
        }
        buf.resize(have + size_t(n));
        if (n == 0) eof = true;
        size_t cut = eof ? buf.size() : buf.rfind('\n');
        if (cut == std::string::npos) cut = buf.size();  // one very long line: cut anywhere
        else if (!eof) ++cut;
        carry = buf.substr(cut);
        buf.resize(cut);
        bytes_done += int64_t(buf.size());
        if (!buf.empty()) blocks.push_back(std::move(buf));
      }
      std::vector<WordCounts> partial(blocks.size());
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
      for (size_t i = 0; i < blocks.size(); ++i) {
        std::vector<std::string_view> pieces;
        pre.split(blocks[i], pieces);
        for (std::string_view p : pieces) ++partial[i][std::string(p)];
      }
      for (auto& m : partial)
        for (auto& [w, c] : m) total[w] += c;
      if (progress) progress(bytes_done);
    }
    ::close(fd);
  }
  return total;
}

// ---- Learning merges --------------------------------------------------------------------

namespace {

using Pair = uint64_t;
Pair make_pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }
int32_t pair_left(Pair p) { return int32_t(p >> 32); }
int32_t pair_right(Pair p) { return int32_t(p & 0xffffffffu); }

struct Word {
  std::vector<int32_t> symbols;
  int64_t count;
};

struct Candidate {
  int64_t count;
  Pair pair;
  // The most frequent first; on a tie the smaller pair (left id, then right id), as the
  // Hugging Face trainer orders its merges.
  bool operator<(const Candidate& o) const {
    if (count != o.count) return count < o.count;
    return pair > o.pair;
  }
};

}  // namespace

TrainedBpe train_bpe(const WordCounts& counts, const BpeTrainerOptions& opt) {
  TrainedBpe out;
  out.pattern = opt.pattern;
  for (const std::string& s : opt.special_tokens) {
    ILM_CHECK(!s.empty(), "special tokens must not be empty");
    ILM_CHECK(std::find(out.tokens.begin(), out.tokens.end(), s) == out.tokens.end(),
              "special token '{}' given twice", s);
    out.tokens.push_back(s);
  }
  out.num_special = int32_t(out.tokens.size());
  const int32_t base = out.num_special + 256;
  ILM_CHECK(opt.vocab_size >= base, "vocab size {} is smaller than the {} special tokens + 256 bytes",
            opt.vocab_size, out.num_special);
  ILM_CHECK(opt.min_frequency >= 1, "min frequency must be at least 1, got {}", opt.min_frequency);

  // The 256 bytes, ordered by their byte-level characters (Hugging Face's ids).
  std::vector<int> bytes_by_char(256);
  for (int b = 0; b < 256; ++b) bytes_by_char[size_t(b)] = b;
  std::sort(bytes_by_char.begin(), bytes_by_char.end(),
            [](int a, int b) { return gpt2_byte_to_char(uint8_t(a)) < gpt2_byte_to_char(uint8_t(b)); });
  int32_t id_of_byte[256];
  for (int i = 0; i < 256; ++i) {
    id_of_byte[bytes_by_char[size_t(i)]] = out.num_special + i;
    out.tokens.push_back(std::string(1, char(bytes_by_char[size_t(i)])));
  }

  // Words in a fixed order (by bytes), so training is deterministic.
  std::vector<const std::pair<const std::string, int64_t>*> sorted;
  sorted.reserve(counts.size());
  for (const auto& kv : counts) sorted.push_back(&kv);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->first < b->first; });
  std::vector<Word> words;
  words.reserve(sorted.size());
  for (auto* kv : sorted) {
    out.words += kv->second;
    if (kv->first.size() < 2) continue;  // nothing to merge in a one-byte word
    Word w{{}, kv->second};
    for (unsigned char c : kv->first) w.symbols.push_back(id_of_byte[c]);
    words.push_back(std::move(w));
  }
  out.distinct_words = int64_t(counts.size());

  std::unordered_map<Pair, int64_t> pair_count;
  std::unordered_map<Pair, std::vector<int32_t>> where;  // words holding the pair (may repeat)
  for (int32_t wi = 0; wi < int32_t(words.size()); ++wi) {
    const Word& w = words[size_t(wi)];
    for (size_t i = 0; i + 1 < w.symbols.size(); ++i) {
      Pair p = make_pair_key(w.symbols[i], w.symbols[i + 1]);
      pair_count[p] += w.count;
      where[p].push_back(wi);
    }
  }
  std::priority_queue<Candidate> heap;
  for (const auto& [p, c] : pair_count) heap.push({c, p});

  std::vector<int32_t> merged;
  std::unordered_map<Pair, int64_t> delta;
  while (int32_t(out.tokens.size()) < opt.vocab_size && !heap.empty()) {
    Candidate top = heap.top();
    heap.pop();
    auto it = pair_count.find(top.pair);
    int64_t now = it == pair_count.end() ? 0 : it->second;
    if (now != top.count) {  // stale entry: counts changed since it was pushed
      if (now > 0) heap.push({now, top.pair});
      continue;
    }
    if (top.count < opt.min_frequency) break;
    const int32_t a = pair_left(top.pair), b = pair_right(top.pair);
    const int32_t new_id = int32_t(out.tokens.size());
    out.tokens.push_back(out.tokens[size_t(a)] + out.tokens[size_t(b)]);
    out.merges.emplace_back(a, b);

    // Re-spell every word that holds the pair; count the pair changes it makes.
    delta.clear();
    std::vector<int32_t> holders = std::move(where[top.pair]);
    where.erase(top.pair);
    std::sort(holders.begin(), holders.end());
    holders.erase(std::unique(holders.begin(), holders.end()), holders.end());
    for (int32_t wi : holders) {
      Word& w = words[size_t(wi)];
      bool found = false;
      for (size_t i = 0; i + 1 < w.symbols.size(); ++i)
        if (w.symbols[i] == a && w.symbols[i + 1] == b) found = true;
      if (!found) continue;
      for (size_t i = 0; i + 1 < w.symbols.size(); ++i)
        delta[make_pair_key(w.symbols[i], w.symbols[i + 1])] -= w.count;
      merged.clear();
      for (size_t i = 0; i < w.symbols.size(); ++i) {
        if (i + 1 < w.symbols.size() && w.symbols[i] == a && w.symbols[i + 1] == b) {
          merged.push_back(new_id);
          ++i;
        } else {
          merged.push_back(w.symbols[i]);
        }
      }
      w.symbols = merged;
      for (size_t i = 0; i + 1 < w.symbols.size(); ++i) {
        Pair p = make_pair_key(w.symbols[i], w.symbols[i + 1]);
        delta[p] += w.count;
        if (pair_left(p) == new_id || pair_right(p) == new_id) where[p].push_back(wi);
      }
    }
    for (const auto& [p, d] : delta) {
      if (d == 0) continue;
      int64_t& c = pair_count[p];
      c += d;
      if (c <= 0) {
        pair_count.erase(p);
      } else if (d > 0) {
        heap.push({c, p});  // a count that fell is found stale when it surfaces
      }
    }
    pair_count.erase(top.pair);
  }
  return out;
}

// ---- tokenizer.json ----------------------------------------------------------------------

void save_hf_tokenizer_json(const TrainedBpe& bpe, const fs::path& path) {
  using nlohmann::json;
  json added = json::array();
  for (int32_t i = 0; i < bpe.num_special; ++i)
    added.push_back({{"id", i}, {"content", bpe.tokens[size_t(i)]}, {"single_word", false},
                     {"lstrip", false}, {"rstrip", false}, {"normalized", false}, {"special", true}});
  json vocab = json::object();
  for (size_t i = 0; i < bpe.tokens.size(); ++i)
    vocab[i < size_t(bpe.num_special) ? bpe.tokens[i] : byte_level_spelling(bpe.tokens[i])] = i;
  json merges = json::array();
  for (auto [a, b] : bpe.merges)
    merges.push_back(byte_level_spelling(bpe.tokens[size_t(a)]) + " " +
                     byte_level_spelling(bpe.tokens[size_t(b)]));
  json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true},
                     {"use_regex", true}};
  json pre;
  if (bpe.pattern == "gpt2") {
    pre = byte_level;  // ByteLevel's own regex is GPT-2's
  } else {
    json no_regex = byte_level;
    no_regex["use_regex"] = false;
    json split = {{"type", "Split"},
                  {"pattern", {{"Regex", Pretokenizer::get(bpe.pattern).pattern()}}},
                  {"behavior", "Isolated"},
                  {"invert", false}};
    pre = {{"type", "Sequence"}, {"pretokenizers", json::array({split, no_regex})}};
  }
  json j = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer", pre},
      {"post_processor", nullptr},
      {"decoder", byte_level},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"vocab", vocab},
        {"merges", merges}}},
  };
  write_file_atomic(path, j.dump(2) + "\n");
}

}  // namespace ilm
