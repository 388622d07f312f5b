// ilm tokenizer encode | decode | bench
#include <fmt/core.h>

#include <iostream>
#include <iterator>

#include "cli/commands.h"
#include "ilm/io/file.h"
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
  };
  auto e = std::make_shared<EncodeArgs>();
  CLI::App* enc = tok->add_subcommand("encode", "Text to token ids (one per line, or --json)");
  enc->add_option("-t,--tokenizer", e->spec, "byte, a tokenizer.json, or a run/model folder")->required();
  enc->add_option("-f,--file", e->file, "read the text from this file (default: the words, else stdin)");
  enc->add_option("text", e->words, "the text");
  enc->add_flag("--json", e->json, "print a JSON array");
  enc->callback([e] {
    auto t = resolve_tokenizer(e->spec);
    std::vector<int32_t> ids = t->encode(input_text(e->file, e->words));
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
