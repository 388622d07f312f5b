// ilm tokenizer encode | decode | bench
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <iterator>

#include "cli/commands.h"
#include "ilm/io/file.h"
#include "ilm/io/paths.h"
#include "ilm/tokenizer/bpe_trainer.h"
#include "ilm/tokenizer/tiktoken.h"
#include "ilm/train/progress.h"
#include "ilm/tokenizer/bench.h"
#include "ilm/tokenizer/registry.h"

namespace ilm::cli {

namespace {

// The text of --file, else the positional words joined by spaces, else stdin.
std::string input_text(const std::string& file, const std::vector<std::string>& words) {
  if (!file.empty()) return read_file(file);
  if (!words.empty()) {
    std::string s;
    for (size_t i = 0; i < words.size(); ++i) s += (i ? " " : "") + words[i];
    return s;
  }
  return {std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
}

}  // namespace

void add_tokenizer(CLI::App& app) {
  CLI::App* tok = app.add_subcommand("tokenizer", "Encode, decode and measure tokenizers");
  tok->require_subcommand(1);

  struct EncodeArgs {
    std::string spec, file;
    std::vector<std::string> words;
    bool json = false;
    bool allow_special = false;
    bool refuse_special = false;
  };
  auto e = std::make_shared<EncodeArgs>();
  CLI::App* enc = tok->add_subcommand("encode", "Text to token ids (one per line, or --json)");
  enc->add_option("-t,--tokenizer", e->spec, "byte, a tokenizer.json, or a run/model folder")->required();
  enc->add_option("-f,--file", e->file, "read the text from this file (default: the words, else stdin)");
  enc->add_option("text", e->words, "the text");
  enc->add_flag("--json", e->json, "print a JSON array");
  auto* allow =
      enc->add_flag("--allow-special", e->allow_special,
                    "read special-token spellings (<|endoftext|>, [CLS], <s>) as those tokens");
  enc->add_flag("--refuse-special", e->refuse_special,
                "fail on a special-token spelling in the text, naming it and its byte offset")
      ->excludes(allow);
  enc->callback([e] {
    auto t = resolve_tokenizer(e->spec);
    std::string text = input_text(e->file, e->words);
    std::vector<int32_t> ids;
    if (e->allow_special || e->refuse_special) {
      EncodeOptions options;
      options.special = e->allow_special ? SpecialTokens::allow : SpecialTokens::refuse;
      ids = t->encode(text, options);
    } else {
      ids = t->encode(text);
    }
    if (e->json) {
      fmt::print("{}\n", nlohmann::json(ids).dump());
    } else {
      for (int32_t id : ids) fmt::print("{}\n", id);
    }
  });

  struct DecodeArgs {
    std::string spec;
    std::vector<int32_t> ids;
  };
  auto d = std::make_shared<DecodeArgs>();
  CLI::App* dec = tok->add_subcommand("decode", "Token ids to text");
  dec->add_option("-t,--tokenizer", d->spec, "byte, a tokenizer.json, or a run/model folder")->required();
  dec->add_option("ids", d->ids, "token ids")->required();
  dec->callback([d] {
    auto t = resolve_tokenizer(d->spec);
    std::string s = t->decode(d->ids);
    fmt::print("{}\n", s);
  });

  struct TrainArgs {
    std::vector<std::string> inputs;
    std::string out;
    BpeTrainerOptions opt;
  };
  auto tr = std::make_shared<TrainArgs>();
  CLI::App* tra = tok->add_subcommand("train", "Train a byte-level BPE tokenizer; writes OUT/tokenizer.json");
  tra->add_option("-i,--input", tr->inputs, "text files, folders or glob patterns")->required();
  tra->add_option("-o,--out", tr->out, "output folder")->required();
  tra->add_option("--vocab-size", tr->opt.vocab_size, "special tokens + 256 bytes + merges")->capture_default_str();
  tra->add_option("--min-frequency", tr->opt.min_frequency, "pairs seen fewer times are not merged")->capture_default_str();
  tra->add_option("--special", tr->opt.special_tokens, "special tokens (ids 0, 1, ...)")->capture_default_str();
  tra->add_option("--pattern", tr->opt.pattern, "pre-tokenization: gpt2, cl100k_base or o200k_base")->capture_default_str();
  tra->add_option("--threads", tr->opt.threads, "threads for counting words (0 = all cores)");
  tra->callback([tr] {
    std::vector<std::filesystem::path> files = expand_inputs(tr->inputs);
    int64_t total = 0;
    for (auto& f : files) total += int64_t(std::filesystem::file_size(f));
    Progress progress(total, 0, "bytes", stderr, std::max<int64_t>(1, total / 10));
    auto t0 = std::chrono::steady_clock::now();
    WordCounts words = count_words(files, tr->opt, [&](int64_t done) {
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      progress.update(done, "counting words", double(done) / 1e6 / std::max(s, 1e-9), "MB/s");
    });
    progress.finish();
    TrainedBpe bpe = train_bpe(words, tr->opt);
    std::filesystem::path out = std::filesystem::path(tr->out) / "tokenizer.json";
    save_hf_tokenizer_json(bpe, out);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    fmt::print("{}: {} tokens ({} special, 256 bytes, {} merges) from {} words ({} distinct) in {:.1f} s\n",
               out.string(), bpe.tokens.size(), bpe.num_special, bpe.merges.size(), bpe.words,
               bpe.distinct_words, s);
  });

  struct BenchArgs {
    std::string spec, file;
    int threads = 0;
  };
  auto b = std::make_shared<BenchArgs>();
  CLI::App* be = tok->add_subcommand("bench", "Encoding speed, one thread and all threads");
  be->add_option("-t,--tokenizer", b->spec, "byte, a tokenizer.json, or a run/model folder")->required();
  be->add_option("-i,--input", b->file, "a text file (several MB for a stable figure)")->required();
  be->add_option("--threads", b->threads, "threads for batch encoding (0 = all cores)");
  be->callback([b] {
    auto t = resolve_tokenizer(b->spec);
    TokenizerBenchResult r = bench_tokenizer(*t, read_file(b->file), b->threads);
    fmt::print("{}: {:.1f} MB, {} tokens ({:.2f} bytes/token)\n", b->file, r.megabytes, r.tokens,
               r.bytes_per_token);
    fmt::print("  1 thread:  {:.1f} MB/s\n  {} threads: {:.1f} MB/s ({:.2f}x)\n", r.single_mb_per_s,
               r.threads, r.multi_mb_per_s, r.multi_mb_per_s / r.single_mb_per_s);
  });
}

}  // namespace ilm::cli
