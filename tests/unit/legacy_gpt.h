// Run folders as ilm wrote them before the Transformer was its only model (the GPT class of
// models/gpt.h, since removed), crafted here so that tests can check such runs still load:
// model.safetensors in GPT-2's Hugging Face names without "transformer." (Conv1D weights
// (in, out)), no biases at all for model.bias false, no config.json beside it, and optimizer
// moments under GPT's parameter names ("m.h.0.attn.c_attn.weight": q, k and v fused, in the
// (out, in) layout).
#pragma once

#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ilm/io/safetensors.h"
#include "ilm/models/recipes.h"

namespace ilm::test {

// The tensors of hf_state_dict(model) as GPT's model.safetensors held them.
inline std::vector<std::pair<std::string, Tensor>> legacy_gpt_weights(const Transformer& model) {
  std::vector<std::pair<std::string, Tensor>> out;
  const std::string prefix = "transformer.";
  for (auto& [name, t] : hf_state_dict(model)) {
    if (!model.config().qkv_bias && name.ends_with(".bias")) continue;  // GPT had none
    out.emplace_back(name.substr(name.rfind(prefix, 0) == 0 ? prefix.size() : 0), t);
  }
  return out;
}

inline void write_legacy_gpt_weights(const std::filesystem::path& file, const Transformer& model) {
  save_safetensors(file, legacy_gpt_weights(model),
                   {{"format", "pt"}, {"ilm.architecture", "gpt2"}});
}

// GPT's name for our parameter (c_attn for q, k and v).
inline std::string legacy_gpt_name(const std::string& ours) {
  static const std::vector<std::pair<std::string, std::string>> kMap = {
      {"embed.", "wte."},          {"pos_embed.", "wpe."},       {"norm.", "ln_f."},
      {"attn_norm.", "ln_1."},     {"mlp_norm.", "ln_2."},       {"attn.o.", "attn.c_proj."},
      {"mlp.up.", "mlp.c_fc."},    {"mlp.down.", "mlp.c_proj."}, {"attn.q.", "attn.c_attn."},
      {"attn.k.", "attn.c_attn."}, {"attn.v.", "attn.c_attn."}};
  std::string head, rest = ours;
  if (ours.rfind("layers.", 0) == 0) {
    const size_t dot = ours.find('.', 7);
    head = "h." + ours.substr(7, dot - 7) + ".";
    rest = ours.substr(dot + 1);
  }
  for (const auto& [from, to] : kMap)
    if (rest.rfind(from, 0) == 0) return head + to + rest.substr(from.size());
  return ours;
}

// Turns a checkpoint folder of a GPT-2 run written now into the old format: weights renamed
// (zero biases dropped for a run without biases), config.json removed, moments renamed with
// q, k and v concatenated.
inline void make_checkpoint_legacy(const std::filesystem::path& ckpt, bool bias) {
  {
    SafetensorsFile st = SafetensorsFile::open(ckpt / "model.safetensors");
    std::vector<std::pair<std::string, Tensor>> w;
    const std::string prefix = "transformer.";
    for (const std::string& n : st.names()) {
      if (!bias && n.ends_with(".bias")) continue;
      w.emplace_back(n.substr(n.rfind(prefix, 0) == 0 ? prefix.size() : 0), st.get(n, DType::f32));
    }
    save_safetensors(ckpt / "model.safetensors", w, {{"format", "pt"}});
  }
  std::filesystem::remove(ckpt / "config.json");
  SafetensorsFile st = SafetensorsFile::open(ckpt / "optimizer.safetensors");
  std::map<std::string, std::vector<Tensor>> fused;  // GPT name -> q, k, v
  std::vector<std::pair<std::string, Tensor>> out;
  for (const std::string& n : st.names()) {
    const std::string key = n.substr(0, 2), ours = n.substr(2);  // "m." / "v."
    const std::string gpt = key + legacy_gpt_name(ours);
    if (ours.find("attn.q.") != std::string::npos || ours.find("attn.k.") != std::string::npos ||
        ours.find("attn.v.") != std::string::npos) {
      std::vector<Tensor>& parts = fused[gpt];
      parts.resize(3);
      const char which = ours[ours.find("attn.") + 5];
      parts[which == 'q' ? 0 : which == 'k' ? 1 : 2] = st.get(n, DType::f32);
    } else {
      out.emplace_back(gpt, st.get(n, DType::f32));
    }
  }
  for (auto& [name, parts] : fused) {
    std::vector<int64_t> dims = parts[0].shape().to_vector();
    dims[0] *= 3;
    Tensor t = Tensor::zeros(Shape(dims));
    for (int i = 0; i < 3; ++i)
      std::memcpy(t.f32() + i * parts[0].numel(), parts[size_t(i)].f32(),
                  parts[size_t(i)].nbytes());
    out.emplace_back(name, t);
  }
  save_safetensors(ckpt / "optimizer.safetensors", out, st.metadata());
}

}  // namespace ilm::test
