// ilm generate --model RUN_OR_FOLDER --prompt TEXT [sampling options]
// ilm generate --model FOLDER --prompt-ids 1,2,3 --print-ids   (models without a tokenizer)
#include <fmt/core.h>

#include <cstdio>

#include "cli/commands.h"
#include "ilm/core/error.h"
#include "ilm/core/threads.h"
#include "ilm/infer/generate.h"
#include "ilm/infer/load_model.h"
#include "ilm/tokenizer/stream_decoder.h"

namespace ilm::cli {

namespace {

std::vector<int32_t> parse_ids(const std::string& text) {
  std::vector<int32_t> ids;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find(',', pos);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(pos, end - pos);
    try {
      size_t used = 0;
      const long v = std::stol(item, &used);
      if (used != item.size() || v < 0 || v > INT32_MAX) throw std::invalid_argument("");
      ids.push_back(int32_t(v));
    } catch (const std::exception&) {
      fail("--prompt-ids: '{}' is not a token id (expected ids like 1,2,3)", item);
    }
    pos = end + 1;
  }
  return ids;
}

}  // namespace

void add_generate(CLI::App& app) {
  struct Args {
    std::string model, prompt, prompt_ids;
    GenerateOptions opt;
    int threads = 0;
    bool stats = false, print_ids = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate text from a trained model, streamed");
  cmd->add_option("-m,--model", a->model,
                  "run folder, checkpoint folder, or Hugging Face folder of a causal LM (gpt2, "
                  "llama, mistral, "
                  "falcon)")
      ->required();
  auto* prompt = cmd->add_option("-p,--prompt", a->prompt, "text to continue (may be empty)");
  cmd->add_option("--prompt-ids", a->prompt_ids,
                  "token ids to continue, as 1,2,3 (models without a tokenizer)")
      ->excludes(prompt);
  cmd->add_flag("--print-ids", a->print_ids,
                "print the generated token ids (space-separated) instead of text");
  cmd->add_option("-n,--max-tokens", a->opt.max_tokens, "tokens to generate")
      ->capture_default_str();
  cmd->add_option("-t,--temperature", a->opt.sampling.temperature, "0 = greedy")
      ->capture_default_str();
  cmd->add_option("--top-k", a->opt.sampling.top_k, "keep the k likeliest tokens (0 = all)")
      ->capture_default_str();
  cmd->add_option("--top-p", a->opt.sampling.top_p,
                  "keep the smallest set with this probability mass")
      ->capture_default_str();
  cmd->add_option("--seed", a->opt.seed, "sampling seed")->capture_default_str();
  cmd->add_option("--threads", a->threads, "CPU threads (0 = all)");
  cmd->add_flag("--stats", a->stats, "print tokens/s to stderr at the end");
  cmd->callback([a] {
    set_num_threads(a->threads);
    // Generation only reads weights: f32 ones stay views of the files (no copy, no gradients).
    LoadedModel m = load_model(a->model, ParamStorage::mapped);
    std::unique_ptr<CausalLM> lm = m.causal_lm();
    a->opt.leading_special_tokens = m.format == ModelFormat::hf || m.format == ModelFormat::gguf;
    GenerateStats st;
    const bool by_ids = !a->prompt_ids.empty() || a->print_ids;
    const bool print_ids = a->print_ids || !m.tokenizer;  // no tokenizer: ids are all there is
    if (by_ids) {
      std::vector<int32_t> ids;
      if (!a->prompt_ids.empty()) {
        ids = parse_ids(a->prompt_ids);
      } else {
        ILM_CHECK(m.tokenizer,
                  "{}: the model has no tokenizer{}: give the prompt as --prompt-ids 1,2,3",
                  a->model, m.notes.empty() ? "" : " (" + m.notes.front() + ")");
        ids = prompt_ids(*m.tokenizer, a->prompt, a->opt.leading_special_tokens);
        ILM_CHECK(!ids.empty(), "the prompt has no tokens: give --prompt or --prompt-ids");
      }
      std::optional<int32_t> eot = m.tokenizer ? m.tokenizer->eot_id() : std::nullopt;
      if (!m.tokenizer && m.hf_config.contains("eos_token_id") &&
          m.hf_config["eos_token_id"].is_number_integer())
        eot = m.hf_config["eos_token_id"].get<int32_t>();
      std::string sep;
      std::optional<StreamDecoder> decoder;
      if (!print_ids) {
        decoder.emplace(*m.tokenizer);
        a->opt.vocab_limit = m.tokenizer->vocab_size();
      }
      auto put = [](const std::string& s) { std::fwrite(s.data(), 1, s.size(), stdout); };
      st = generate_ids(*lm, ids, a->opt, eot, [&](int32_t id) {
        if (print_ids) {
          fmt::print("{}{}", sep, id);
          sep = " ";
        } else {
          put(decoder->push(id));
        }
        std::fflush(stdout);
      });
      if (decoder) put(decoder->flush());
    } else {
      ILM_CHECK(m.tokenizer,
                "{}: the model has no tokenizer{}: give the prompt as --prompt-ids 1,2,3", a->model,
                m.notes.empty() ? "" : " (" + m.notes.front() + ")");
      m.tokenizer->encode(a->prompt);  // an unencodable prompt fails before anything is printed
      std::fwrite(a->prompt.data(), 1, a->prompt.size(), stdout);
      st = generate(*lm, *m.tokenizer, a->prompt, a->opt, [](std::string_view s) {
        std::fwrite(s.data(), 1, s.size(), stdout);
        std::fflush(stdout);
      });
    }
    fmt::print("\n");
    if (a->stats)
      fmt::print(stderr, "prompt {} tokens in {:.1f} ms; generated {} tokens at {:.1f} tokens/s\n",
                 st.prompt_tokens, st.prefill_ms, st.generated_tokens,
                 st.generated_tokens / (st.decode_ms / 1000.0 + 1e-9));
  });
}

}  // namespace ilm::cli
