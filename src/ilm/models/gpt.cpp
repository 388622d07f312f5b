#include "ilm/models/gpt.h"

#include <cmath>
#include <cstring>

#include "ilm/kernels/cpu/kernels.h"

namespace ilm {

void GPTConfig::validate() const {
  ILM_CHECK(n_layer >= 1, "model.n_layer must be at least 1, got {}", n_layer);
  ILM_CHECK(n_head >= 1, "model.n_head must be at least 1, got {}", n_head);
  ILM_CHECK(n_embd >= 1, "model.n_embd must be at least 1, got {}", n_embd);
  ILM_CHECK(n_embd % n_head == 0, "model.n_embd ({}) must be divisible by model.n_head ({})", n_embd,
            n_head);
  ILM_CHECK(block_size >= 1, "model.block_size must be at least 1, got {}", block_size);
  ILM_CHECK(vocab_size >= 1, "model.vocab_size must be at least 1, got {}", vocab_size);
  ILM_CHECK(dropout >= 0.0f && dropout < 1.0f, "model.dropout must be in [0, 1), got {}", dropout);
  ILM_CHECK(activation == "gelu_tanh" || activation == "gelu",
            "model.activation must be 'gelu_tanh' or 'gelu', got '{}'", activation);
}

int64_t GPTConfig::num_params() const {
  int64_t C = n_embd, L = n_layer;
  int64_t per_layer = 12 * C * C + (bias ? 13 * C : 4 * C);  // ln gains/biases included
  return int64_t(vocab_size) * C + int64_t(block_size) * C + L * per_layer + (bias ? 2 * C : C);
}

double GPTConfig::flops_per_token(int T) const {
  // Non-embedding matmul parameters, plus the tied head (V*C), times 6; attention adds
  // 6 * 2 * L * T * C (scores and weighted sum; the causal half is not discounted).
  double C = n_embd, L = n_layer;
  double matmul_params = L * 12.0 * C * C + double(vocab_size) * C;
  return 6.0 * matmul_params + 12.0 * L * double(T) * C;
}

bool gpt2_is_conv1d_weight(const std::string& name) {
  auto ends = [&](const char* s) {
    size_t n = std::strlen(s);
    return name.size() >= n && name.compare(name.size() - n, n, s) == 0;
  };
  return ends("attn.c_attn.weight") || ends("attn.c_proj.weight") || ends("mlp.c_fc.weight") ||
         ends("mlp.c_proj.weight");
}

GPT::GPT(const GPTConfig& config) : config_(config) {
  config_.validate();
  const int64_t C = config_.n_embd, V = config_.vocab_size;
  auto P = [&](const std::string& n, Shape s, bool decay) { params_.declare(n, s, decay); };
  P("wte.weight", {V, C}, true);
  P("wpe.weight", {config_.block_size, C}, true);
  for (int l = 0; l < config_.n_layer; ++l) {
    std::string h = "h." + std::to_string(l) + ".";
    P(h + "ln_1.weight", {C}, false);
    if (config_.bias) P(h + "ln_1.bias", {C}, false);
    P(h + "attn.c_attn.weight", {3 * C, C}, true);
    if (config_.bias) P(h + "attn.c_attn.bias", {3 * C}, false);
    P(h + "attn.c_proj.weight", {C, C}, true);
    if (config_.bias) P(h + "attn.c_proj.bias", {C}, false);
    P(h + "ln_2.weight", {C}, false);
    if (config_.bias) P(h + "ln_2.bias", {C}, false);
    P(h + "mlp.c_fc.weight", {4 * C, C}, true);
    if (config_.bias) P(h + "mlp.c_fc.bias", {4 * C}, false);
    P(h + "mlp.c_proj.weight", {C, 4 * C}, true);
    if (config_.bias) P(h + "mlp.c_proj.bias", {C}, false);
  }
  P("ln_f.weight", {C}, false);
  if (config_.bias) P("ln_f.bias", {C}, false);
  params_.finalize();
}

void GPT::init_weights(uint64_t seed) {
  Rng rng(seed);
  const float std_resid = 0.02f / std::sqrt(2.0f * float(config_.n_layer));
  for (Param& p : params_.params()) {
    float* v = p.var->value.f32();
    int64_t n = p.shape.numel();
    const std::string& name = p.name;
    bool is_ln = name.find("ln_") != std::string::npos;
    bool is_bias = name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
    if (is_ln && !is_bias) {
      for (int64_t i = 0; i < n; ++i) v[i] = 1.0f;
    } else if (is_bias) {
      for (int64_t i = 0; i < n; ++i) v[i] = 0.0f;
    } else {
      bool resid = name.find("c_proj.weight") != std::string::npos;
      float std = resid ? std_resid : 0.02f;
      for (int64_t i = 0; i < n; ++i) v[i] = std * rng.normal();
    }
  }
}

Var GPT::forward(Tape& tape, const Tensor& ids, bool training, Rng& dropout_rng) {
  const GPTConfig& c = config_;
  ILM_CHECK(ids.shape().ndim() == 2 && ids.shape()[1] <= c.block_size,
            "[gpt] input must be (B,T) with T <= block_size {}, got {}", c.block_size,
            ids.shape().to_string());
  const float p = training ? c.dropout : 0.0f;
  const ParamStore& ps = params_;
  Var x = embedding(tape, ids, ps.var("wte.weight"), ps.var("wpe.weight"));
  x = dropout(tape, x, p, dropout_rng);
  for (int l = 0; l < c.n_layer; ++l) {
    std::string h = "h." + std::to_string(l) + ".";
    Var a = layernorm(tape, x, ps.var(h + "ln_1.weight"), ps.var_or_null(h + "ln_1.bias"));
    a = linear(tape, a, ps.var(h + "attn.c_attn.weight"), ps.var_or_null(h + "attn.c_attn.bias"));
    a = attention(tape, a, c.n_head, /*causal=*/true);
    a = linear(tape, a, ps.var(h + "attn.c_proj.weight"), ps.var_or_null(h + "attn.c_proj.bias"));
    x = add(tape, x, dropout(tape, a, p, dropout_rng));
    Var m = layernorm(tape, x, ps.var(h + "ln_2.weight"), ps.var_or_null(h + "ln_2.bias"));
    m = linear(tape, m, ps.var(h + "mlp.c_fc.weight"), ps.var_or_null(h + "mlp.c_fc.bias"));
    m = gelu(tape, m, c.activation == "gelu_tanh");
    m = linear(tape, m, ps.var(h + "mlp.c_proj.weight"), ps.var_or_null(h + "mlp.c_proj.bias"));
    x = add(tape, x, dropout(tape, m, p, dropout_rng));
  }
  x = layernorm(tape, x, ps.var("ln_f.weight"), ps.var_or_null("ln_f.bias"));
  return linear(tape, x, ps.var("wte.weight"), nullptr);  // tied output embedding
}

KVCache GPT::make_cache() const {
  KVCache cache;
  const int64_t L = config_.n_layer, T = config_.block_size, C = config_.n_embd;
  cache.k = Tensor::zeros({L, T, C});
  cache.v = Tensor::zeros({L, T, C});
  return cache;
}

void GPT::forward_cached(KVCache& cache, const int32_t* ids, int n, float* logits_out,
                         Arena& scratch) {
  const GPTConfig& c = config_;
  const int C = c.n_embd, V = c.vocab_size, pos0 = cache.length;
  ILM_CHECK(n >= 1 && pos0 + n <= c.block_size,
            "[gpt] context of {} tokens exceeds block_size {}", pos0 + n, c.block_size);
  for (int i = 0; i < n; ++i)
    ILM_CHECK(ids[i] >= 0 && ids[i] < V, "[gpt] token id {} is outside [0, {})", ids[i], V);
  auto buf = [&](int64_t count) { return static_cast<float*>(scratch.alloc(size_t(count) * 4)); };
  auto w = [&](const std::string& name) -> const float* {
    return params_.has(name) ? params_.get(name).var->value.f32() : nullptr;
  };
  float* x = buf(int64_t(n) * C);
  float* ln = buf(int64_t(n) * C);
  float* qkv = buf(int64_t(n) * 3 * C);
  float* att = buf(int64_t(n) * C);
  float* tmp = buf(int64_t(n) * C);
  float* fc = buf(int64_t(n) * 4 * C);
  cpu::encoder_forward(x, ids, w("wte.weight"), w("wpe.weight"), 1, n, C, pos0);
  const int64_t TC = int64_t(c.block_size) * C;
  for (int l = 0; l < c.n_layer; ++l) {
    std::string h = "h." + std::to_string(l) + ".";
    float* kc = cache.k.f32() + l * TC;
    float* vc = cache.v.f32() + l * TC;
    cpu::layernorm_forward(ln, nullptr, nullptr, x, w(h + "ln_1.weight"), w(h + "ln_1.bias"), n, C);
    cpu::matmul_forward(qkv, ln, w(h + "attn.c_attn.weight"), w(h + "attn.c_attn.bias"), n, C, 3 * C);
    for (int i = 0; i < n; ++i) {
      std::memcpy(kc + int64_t(pos0 + i) * C, qkv + int64_t(i) * 3 * C + C, size_t(C) * 4);
      std::memcpy(vc + int64_t(pos0 + i) * C, qkv + int64_t(i) * 3 * C + 2 * C, size_t(C) * 4);
    }
    cpu::attention_forward_cached(att, qkv, 3 * C, kc, vc, n, pos0, C, c.n_head);
    cpu::matmul_forward(tmp, att, w(h + "attn.c_proj.weight"), w(h + "attn.c_proj.bias"), n, C, C);
    cpu::residual_forward(x, x, tmp, int64_t(n) * C);
    cpu::layernorm_forward(ln, nullptr, nullptr, x, w(h + "ln_2.weight"), w(h + "ln_2.bias"), n, C);
    cpu::matmul_forward(fc, ln, w(h + "mlp.c_fc.weight"), w(h + "mlp.c_fc.bias"), n, C, 4 * C);
    (c.activation == "gelu_tanh" ? cpu::gelu_forward : cpu::gelu_exact_forward)(fc, fc, int64_t(n) * 4 * C);
    cpu::matmul_forward(tmp, fc, w(h + "mlp.c_proj.weight"), w(h + "mlp.c_proj.bias"), n, 4 * C, C);
    cpu::residual_forward(x, x, tmp, int64_t(n) * C);
  }
  const float* last = x + int64_t(n - 1) * C;
  cpu::layernorm_forward(ln, nullptr, nullptr, last, w("ln_f.weight"), w("ln_f.bias"), 1, C);
  cpu::matmul_forward(logits_out, ln, w("wte.weight"), nullptr, 1, C, V);
  cache.length += n;
}

}  // namespace ilm
