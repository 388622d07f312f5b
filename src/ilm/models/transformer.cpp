#include "ilm/models/transformer.h"

#include <cmath>
#include <cstring>

#include "ilm/core/error.h"
#include "ilm/kernels/alibi.h"
#include "ilm/kernels/cpu/half_weights.h"
#include "ilm/kernels/cpu/kernels.h"

namespace ilm {

void TransformerConfig::validate() const {
  auto positive = [&](const char* name, int v) {
    if (v < 1) fail("[{}] {} = {} must be at least 1", arch, name, v);
  };
  positive("n_layer", n_layer);
  positive("n_head", n_head);
  positive("n_embd", n_embd);
  positive("vocab_size", vocab_size);
  positive("max_positions", max_positions);
  if (head_dim == 0 && n_embd % n_head != 0)
    fail("[{}] n_embd = {} is not divisible by n_head = {}", arch, n_embd, n_head);
  if (n_kv_head < 0 || n_head % kv_heads() != 0)
    fail("[{}] n_head = {} is not a multiple of n_kv_head = {}", arch, n_head, n_kv_head);
  if (position == PositionKind::rope) rope_rotary_dim(rope, hs());  // throws on a bad rotary_dim
  if (wiring == Wiring::parallel && parallel_norms != 1 && parallel_norms != 2)
    fail("[{}] parallel_norms = {} must be 1 or 2", arch, parallel_norms);
  if (head == HeadKind::classification && num_labels < 1)
    fail("[{}] a classification head needs num_labels >= 1, got {}", arch, num_labels);
  if (!(dropout >= 0 && dropout < 1)) fail("[{}] dropout = {} must be in [0, 1)", arch, dropout);
  if (norm_eps <= 0) fail("[{}] norm_eps = {} must be > 0", arch, norm_eps);
}

namespace {

// Every parameter of `c` with its shape, in a fixed order (the order of the buffer).
void declare_params(const TransformerConfig& c, ParamStore& ps) {
  const int64_t C = c.n_embd, V = c.vocab_size, HS = c.hs();
  const int64_t QC = int64_t(c.n_head) * HS, KC = int64_t(c.kv_heads()) * HS, I = c.mlp_width();
  auto P = [&](const std::string& n, Shape s, bool decay) { ps.declare(n, s, decay); };
  auto linear_params = [&](const std::string& n, int64_t out, int64_t in, bool bias) {
    P(n + ".weight", {out, in}, true);
    if (bias) P(n + ".bias", {out}, false);
  };
  auto norm_params = [&](const std::string& n) {
    P(n + ".weight", {C}, false);
    if (c.norm == NormKind::layernorm && c.norm_bias) P(n + ".bias", {C}, false);
  };
  P("embed.weight", {V, C}, true);
  if (c.position == PositionKind::learned) P("pos_embed.weight", {c.max_positions, C}, true);
  if (c.type_vocab_size > 0) P("type_embed.weight", {c.type_vocab_size, C}, true);
  if (c.embedding_norm) norm_params("embed_norm");
  for (int l = 0; l < c.n_layer; ++l) {
    const std::string h = "layers." + std::to_string(l) + ".";
    norm_params(h + "attn_norm");
    // q, k, v weights side by side, then their biases: with no padding between them they are
    // one (QC+2KC, C) matrix and one bias, and attention makes one matmul of them
    // (fused_qkv). The same order gives GPT-2's init the draws of its fused c_attn.
    for (const char* part : {"attn.q", "attn.k", "attn.v"})
      P(h + part + ".weight", {part[5] == 'q' ? QC : KC, C}, true);
    if (c.qkv_bias)
      for (const char* part : {"attn.q", "attn.k", "attn.v"})
        P(h + part + ".bias", {part[5] == 'q' ? QC : KC}, false);
    linear_params(h + "attn.o", C, QC, c.attn_out_bias);
    if (c.wiring != Wiring::parallel || c.parallel_norms == 2) norm_params(h + "mlp_norm");
    if (c.mlp == MlpKind::swiglu) linear_params(h + "mlp.gate", I, C, c.mlp_bias);
    linear_params(h + "mlp.up", I, C, c.mlp_bias);
    linear_params(h + "mlp.down", C, I, c.mlp_bias);
  }
  if (c.wiring != Wiring::post_norm) norm_params("norm");
  if (c.head == HeadKind::causal_lm && !c.tie_embeddings) P("lm_head.weight", {V, C}, true);
  if (c.head == HeadKind::masked_lm) {
    linear_params("mlm.dense", C, C, true);
    norm_params("mlm.norm");
    P("mlm.bias", {V}, false);
  }
  if (c.head == HeadKind::classification || c.pooler) linear_params("pooler", C, C, true);
  if (c.head == HeadKind::classification) linear_params("classifier", c.num_labels, C, true);
}

// True when the tensors lie one after another in memory (or are all absent).
bool back_to_back(const Tensor& a, const Tensor& b, const Tensor& c) {
  if (!a.defined() && !b.defined() && !c.defined()) return true;
  if (!a.defined() || !b.defined() || !c.defined()) return false;
  // bf16/f16 weights of a mapped load are never fused: the training path is f32.
  if (a.dtype() != DType::f32 || b.dtype() != DType::f32 || c.dtype() != DType::f32) return false;
  return a.f32() + a.numel() == b.f32() && b.f32() + b.numel() == c.f32();
}

// Layer h's q, k and v as one (QC+2KC, C) weight and (QC+2KC) bias (null without biases), when
// their values and gradients lie back to back (declare_params puts them so; a ParamStore that
// pads them apart, or parameters borrowed from elsewhere, do not): views, so one matmul reads
// the three and its backward accumulates into their three gradients.
struct FusedQkv {
  Var w, b;
};
std::optional<FusedQkv> fused_qkv_view(const ParamStore& ps, const std::string& h) {
  const VarData& q = *ps.var(h + "attn.q.weight");
  const VarData& k = *ps.var(h + "attn.k.weight");
  const VarData& v = *ps.var(h + "attn.v.weight");
  if (!back_to_back(q.value, k.value, v.value) || !back_to_back(q.grad, k.grad, v.grad))
    return std::nullopt;
  auto view = [](const VarData& first, const Shape& shape) {
    Tensor grad =
        first.grad.defined() ? Tensor::wrap(first.grad.f32(), shape, DType::f32) : Tensor();
    return make_var(Tensor::wrap(first.value.f32(), shape, DType::f32), grad);
  };
  const int64_t rows = q.value.shape()[0] + k.value.shape()[0] + v.value.shape()[0];
  FusedQkv f;
  f.w = view(q, Shape{rows, q.value.shape()[1]});
  if (ps.has(h + "attn.q.bias")) {
    const VarData& qb = *ps.var(h + "attn.q.bias");
    const VarData& kb = *ps.var(h + "attn.k.bias");
    const VarData& vb = *ps.var(h + "attn.v.bias");
    if (!back_to_back(qb.value, kb.value, vb.value) || !back_to_back(qb.grad, kb.grad, vb.grad))
      return std::nullopt;
    f.b = view(qb, Shape{rows});
  }
  return f;
}

}  // namespace

double TransformerConfig::flops_per_token(int T) const {
  // Every matrix a token goes through (q, k, v, o, the MLP, the LM head) costs 6 FLOPs per
  // weight (forward 2, backward 4), as in the PaLM appendix; attention adds 6 * 2 * L * T * QC
  // (scores and weighted sum; the causal half is not discounted). Embedding lookups are free.
  const double C = n_embd, QC = double(n_head) * hs(), KC = double(kv_heads()) * hs();
  const double I = mlp_width();
  const double per_layer = C * (QC + 2 * KC) + QC * C + (mlp == MlpKind::swiglu ? 3 : 2) * C * I;
  const double matmul_params = n_layer * per_layer + double(vocab_size) * C;
  return 6.0 * matmul_params + 12.0 * n_layer * double(T) * QC;
}

int64_t TransformerConfig::num_params() const {
  ParamStore shapes;  // declared, never allocated
  declare_params(*this, shapes);
  int64_t n = 0;
  for (const Param& p : shapes.params()) n += p.shape.numel();
  return n;
}

Transformer::Transformer(const TransformerConfig& config, ParamStorage storage) : config_(config) {
  config_.validate();
  declare_params(config_, params_);
  params_.finalize(storage);
}

void Transformer::init_weights(uint64_t seed) {
  params_.require_owned("init_weights");
  Rng rng(seed);
  const float std_resid = 0.02f / std::sqrt(2.0f * float(config_.n_layer));
  auto ends = [](const std::string& s, const char* suffix) {
    const size_t n = std::strlen(suffix);
    return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
  };
  for (Param& p : params_.params()) {
    float* v = p.var->value.f32();
    const int64_t n = p.shape.numel();
    const bool is_norm = p.name.find("norm.") != std::string::npos;
    if (ends(p.name, ".bias") || p.name == "mlm.bias") {
      for (int64_t i = 0; i < n; ++i) v[i] = 0.0f;
    } else if (is_norm) {
      for (int64_t i = 0; i < n; ++i) v[i] = 1.0f;
    } else {
      const bool resid = ends(p.name, "attn.o.weight") || ends(p.name, "mlp.down.weight");
      const float std = resid ? std_resid : 0.02f;
      for (int64_t i = 0; i < n; ++i) v[i] = std * rng.normal();
    }
  }
}

Var Transformer::norm(Tape& tape, const Var& x, const std::string& name) const {
  if (config_.norm == NormKind::rmsnorm)
    return rmsnorm(tape, x, params_.var(name + ".weight"), config_.norm_eps);
  return layernorm(tape, x, params_.var(name + ".weight"), params_.var_or_null(name + ".bias"),
                   config_.norm_eps);
}

Var Transformer::attention_block(Tape& tape, const Var& x, const std::string& h, const Tensor* mask) {
  const TransformerConfig& c = config_;
  const ParamStore& ps = params_;
  auto lin = [&](const Var& in, const std::string& n) {
    return linear(tape, in, ps.var(n + ".weight"), ps.var_or_null(n + ".bias"));
  };
  // Multi-head attention without RoPE, masks or windows (GPT-2) runs on the fused (B,T,3C)
  // projection: one matmul forward and backward instead of three.
  const bool plain = c.position == PositionKind::learned && c.kv_heads() == c.n_head && !mask &&
                     c.sliding_window == 0;
  if (plain) {
    if (std::optional<FusedQkv> f = fused_qkv_view(ps, h)) {
      Var a = attention(tape, linear(tape, x, f->w, f->b), c.n_head, c.causal);
      return lin(a, h + "attn.o");
    }
  }
  Var q = lin(x, h + "attn.q");
  Var k = lin(x, h + "attn.k");
  Var v = lin(x, h + "attn.v");
  if (c.position == PositionKind::rope) {
    q = rope(tape, q, c.n_head, c.rope, 0);
    k = rope(tape, k, c.kv_heads(), c.rope, 0);
  }
  Var a = attention_gqa(tape, q, k, v, c.n_head, c.kv_heads(), c.causal, mask, c.sliding_window,
                        c.position == PositionKind::alibi);
  return lin(a, h + "attn.o");
}

Var Transformer::mlp_block(Tape& tape, const Var& x, const std::string& h) {
  const ParamStore& ps = params_;
  auto lin = [&](const Var& in, const std::string& n) {
    return linear(tape, in, ps.var(n + ".weight"), ps.var_or_null(n + ".bias"));
  };
  Var m;
  switch (config_.mlp) {
    case MlpKind::swiglu:
      m = swiglu(tape, lin(x, h + "mlp.gate"), lin(x, h + "mlp.up"));
      break;
    case MlpKind::gelu:
    case MlpKind::gelu_tanh:
      m = gelu(tape, lin(x, h + "mlp.up"), config_.mlp == MlpKind::gelu_tanh);
      break;
  }
  return lin(m, h + "mlp.down");
}

Var Transformer::hidden(Tape& tape, const Tensor& ids, bool training, Rng& rng,
                        const TransformerInputs& in) {
  const TransformerConfig& c = config_;
  ILM_CHECK(ids.shape().ndim() == 2, "[{}] input ids must be (B,T), got {}", c.arch,
            ids.shape().to_string());
  const int64_t T = ids.shape()[1];
  // Learned positions end at max_positions; RoPE goes on (with its scaling, if any).
  ILM_CHECK(c.position != PositionKind::learned || T <= c.max_positions,
            "[{}] {} tokens exceed the context length {}", c.arch, T, c.max_positions);
  const float p = training ? c.dropout : 0.0f;
  const ParamStore& ps = params_;
  Var x = embedding(tape, ids, ps.var("embed.weight"), ps.var_or_null("pos_embed.weight"));
  if (c.type_vocab_size > 0) {
    Tensor types = in.token_types ? *in.token_types : Tensor::zeros(ids.shape(), DType::i32);
    x = add(tape, x, embedding(tape, types, ps.var("type_embed.weight"), Var{}));
  }
  if (c.embedding_norm) x = norm(tape, x, "embed_norm");
  x = dropout(tape, x, p, rng);
  for (int l = 0; l < c.n_layer; ++l) {
    const std::string h = "layers." + std::to_string(l) + ".";
    switch (c.wiring) {
      case Wiring::pre_norm: {
        Var a = attention_block(tape, norm(tape, x, h + "attn_norm"), h, in.attention_mask);
        x = add(tape, x, dropout(tape, a, p, rng));
        Var m = mlp_block(tape, norm(tape, x, h + "mlp_norm"), h);
        x = add(tape, x, dropout(tape, m, p, rng));
        break;
      }
      case Wiring::parallel: {
        Var n1 = norm(tape, x, h + "attn_norm");
        Var n2 = c.parallel_norms == 2 ? norm(tape, x, h + "mlp_norm") : n1;
        Var a = attention_block(tape, n1, h, in.attention_mask);
        Var m = mlp_block(tape, n2, h);
        x = add(tape, x, add(tape, dropout(tape, a, p, rng), dropout(tape, m, p, rng)));
        break;
      }
      case Wiring::post_norm: {
        Var a = attention_block(tape, x, h, in.attention_mask);
        x = norm(tape, add(tape, x, dropout(tape, a, p, rng)), h + "attn_norm");
        Var m = mlp_block(tape, x, h);
        x = norm(tape, add(tape, x, dropout(tape, m, p, rng)), h + "mlp_norm");
        break;
      }
    }
  }
  if (c.wiring != Wiring::post_norm) x = norm(tape, x, "norm");
  return x;
}

Var Transformer::forward(Tape& tape, const Tensor& ids, bool training, Rng& rng,
                         const TransformerInputs& in) {
  const TransformerConfig& c = config_;
  const ParamStore& ps = params_;
  Var x = hidden(tape, ids, training, rng, in);
  switch (c.head) {
    case HeadKind::causal_lm:
      return linear(tape, x, ps.var(c.tie_embeddings ? "embed.weight" : "lm_head.weight"), Var{});
    case HeadKind::masked_lm: {
      Var t = linear(tape, x, ps.var("mlm.dense.weight"), ps.var("mlm.dense.bias"));
      t = norm(tape, gelu(tape, t, false), "mlm.norm");
      return linear(tape, t, ps.var("embed.weight"), ps.var("mlm.bias"));
    }
    case HeadKind::classification: {
      Var p = dropout(tape, pooled(tape, x), training ? c.dropout : 0.0f, rng);
      return linear(tape, p, ps.var("classifier.weight"), ps.var("classifier.bias"));
    }
    case HeadKind::none:
      return x;
  }
  return x;
}

Var Transformer::pooled(Tape& tape, const Var& hidden) const {
  ILM_CHECK(params_.has("pooler.weight"), "[{}] this model has no pooler", config_.arch);
  Var first = select_position(tape, hidden, 0);
  return tanh(tape, linear(tape, first, params_.var("pooler.weight"), params_.var("pooler.bias")));
}

TransformerKVCache Transformer::make_cache(int capacity) const {
  const TransformerConfig& c = config_;
  if (capacity <= 0) capacity = c.max_positions;
  ILM_CHECK(c.position != PositionKind::learned || capacity <= c.max_positions,
            "[{}] a cache of {} positions exceeds the learned positions {}", c.arch, capacity,
            c.max_positions);
  TransformerKVCache cache;
  const int64_t KC = int64_t(c.kv_heads()) * c.hs();
  cache.k = Tensor::zeros({c.n_layer, capacity, KC});
  cache.v = Tensor::zeros({c.n_layer, capacity, KC});
  return cache;
}

void Transformer::forward_cached(TransformerKVCache& cache, const int32_t* ids, int n,
                                 float* logits_out, Arena& scratch) const {
  const TransformerConfig& c = config_;
  ILM_CHECK(c.causal && c.head == HeadKind::causal_lm,
            "[{}] decoding with a KV cache needs a causal LM head", c.arch);
  const int C = c.n_embd, V = c.vocab_size, HS = c.hs(), NH = c.n_head, NKV = c.kv_heads();
  const int QC = NH * HS, KC = NKV * HS, I = c.mlp_width(), pos0 = cache.length;
  const int capacity = static_cast<int>(cache.k.shape()[1]);
  ILM_CHECK(n >= 1 && pos0 + n <= capacity, "[{}] context of {} tokens exceeds the cache's {}",
            c.arch, pos0 + n, capacity);
  for (int i = 0; i < n; ++i)
    ILM_CHECK(ids[i] >= 0 && ids[i] < V, "[{}] token id {} is outside [0, {})", c.arch, ids[i], V);
  auto buf = [&](int64_t count) { return static_cast<float*>(scratch.alloc(size_t(count) * 4)); };
  auto w = [&](const std::string& name) -> const float* {
    return params_.has(name) ? params_.get(name).var->value.f32() : nullptr;
  };
  // Matrices as stored: f32, or bf16/f16 in a mapped load (kernels/cpu/half_weights.h).
  auto tensor = [&](const std::string& name) -> const Tensor& {
    return params_.get(name).var->value;
  };
  auto matmul = [&](float* out, const float* in, const std::string& weight, const float* bias,
                    int64_t rows, int in_features, int out_features) {
    const Tensor& t = tensor(weight);
    cpu::matmul_forward_typed(out, in, t.raw(), t.dtype(), bias, rows, in_features, out_features);
  };
  auto normf = [&](float* out, const float* in, int64_t rows, const std::string& name) {
    if (c.norm == NormKind::rmsnorm) {
      cpu::rmsnorm_forward(out, nullptr, in, w(name + ".weight"), rows, C, c.norm_eps);
    } else {
      cpu::layernorm_forward(out, nullptr, nullptr, in, w(name + ".weight"), w(name + ".bias"),
                             rows, C, c.norm_eps);
    }
  };
  const std::vector<float> inv_freq =
      c.position == PositionKind::rope ? rope_inv_freq(c.rope, HS, pos0 + n) : std::vector<float>{};
  const int rot = c.position == PositionKind::rope ? rope_rotary_dim(c.rope, HS) : 0;
  const float rope_scale = rope_attention_factor(c.rope);
  std::vector<float> alibi;  // (NH, pos0+n) key biases, times 1/sqrt(HS)
  if (c.position == PositionKind::alibi) {
    alibi.resize(static_cast<size_t>(NH) * (pos0 + n));
    alibi_key_bias(alibi.data(), alibi_slopes(NH), nullptr, 1, pos0 + n,
                   1.0f / std::sqrt(float(HS)));
  }
  float* x = buf(int64_t(n) * C);
  float* n1 = buf(int64_t(n) * C);
  float* n2 = buf(int64_t(n) * C);
  float* q = buf(int64_t(n) * QC);
  float* k = buf(int64_t(n) * KC);
  float* v = buf(int64_t(n) * KC);
  float* att = buf(int64_t(n) * QC);
  float* a = buf(int64_t(n) * C);
  float* m = buf(int64_t(n) * C);
  float* up = buf(int64_t(n) * I);
  float* gate = buf(int64_t(n) * I);
  {
    const Tensor& wte = tensor("embed.weight");
    const Tensor* wpe = params_.has("pos_embed.weight") ? &tensor("pos_embed.weight") : nullptr;
    cpu::encoder_forward_typed(x, ids, wte.raw(), wte.dtype(), wpe ? wpe->raw() : nullptr,
                               wpe ? wpe->dtype() : DType::f32, 1, n, C, pos0);
  }
  if (c.type_vocab_size > 0) {  // token type 0 for every position
    const Tensor& types = tensor("type_embed.weight");
    float* t0 = buf(C);
    cpu::widen_to_f32(t0, types.raw(), types.dtype(), C);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < C; ++j) x[int64_t(i) * C + j] += t0[j];
  }
  if (c.embedding_norm) normf(x, x, n, "embed_norm");
  const int64_t layer_stride = int64_t(capacity) * KC;
  float* qkv = buf(int64_t(n) * (QC + 2 * KC));
  auto attention = [&](float* out, const float* in, const std::string& h, int l) {
    const Tensor& tq = tensor(h + "attn.q.weight");
    const Tensor& tk = tensor(h + "attn.k.weight");
    const Tensor& tv = tensor(h + "attn.v.weight");
    const float *bq = w(h + "attn.q.bias"), *bk = w(h + "attn.k.bias"), *bv = w(h + "attn.v.bias");
    const auto* pq = static_cast<const uint8_t*>(tq.raw());
    const auto* pk = static_cast<const uint8_t*>(tk.raw());
    const auto* pv = static_cast<const uint8_t*>(tv.raw());
    const size_t esz = dtype_size(tq.dtype());
    const bool fused = tk.dtype() == tq.dtype() && tv.dtype() == tq.dtype() &&
                       pk == pq + size_t(QC) * C * esz && pv == pk + size_t(KC) * C * esz &&
                       (!bq || (bk == bq + QC && bv == bk + KC));
    if (fused) {  // one matmul over the three (declare_params lays them out so), then split
      cpu::matmul_forward_typed(qkv, in, tq.raw(), tq.dtype(), bq, n, C, QC + 2 * KC);
      for (int i = 0; i < n; ++i) {
        const float* row = qkv + int64_t(i) * (QC + 2 * KC);
        std::memcpy(q + int64_t(i) * QC, row, size_t(QC) * 4);
        std::memcpy(k + int64_t(i) * KC, row + QC, size_t(KC) * 4);
        std::memcpy(v + int64_t(i) * KC, row + QC + KC, size_t(KC) * 4);
      }
    } else {
      matmul(q, in, h + "attn.q.weight", bq, n, C, QC);
      matmul(k, in, h + "attn.k.weight", bk, n, C, KC);
      matmul(v, in, h + "attn.v.weight", bv, n, C, KC);
    }
    if (rot > 0) {
      cpu::rope_forward(q, q, inv_freq.data(), 1, n, NH, HS, rot, pos0, rope_scale);
      cpu::rope_forward(k, k, inv_freq.data(), 1, n, NKV, HS, rot, pos0, rope_scale);
    }
    float* kc = cache.k.f32() + l * layer_stride;
    float* vc = cache.v.f32() + l * layer_stride;
    std::memcpy(kc + int64_t(pos0) * KC, k, size_t(n) * KC * 4);
    std::memcpy(vc + int64_t(pos0) * KC, v, size_t(n) * KC * 4);
    cpu::attention_gqa_forward_cached(att, q, QC, kc, vc, n, pos0, NH, NKV, HS, c.sliding_window,
                                      alibi.empty() ? nullptr : alibi.data());
    matmul(out, att, h + "attn.o.weight", w(h + "attn.o.bias"), n, QC, C);
  };
  auto mlp = [&](float* out, const float* in, const std::string& h) {
    matmul(up, in, h + "mlp.up.weight", w(h + "mlp.up.bias"), n, C, I);
    if (c.mlp == MlpKind::swiglu) {
      matmul(gate, in, h + "mlp.gate.weight", w(h + "mlp.gate.bias"), n, C, I);
      cpu::swiglu_forward(up, gate, up, int64_t(n) * I);
    } else if (c.mlp == MlpKind::gelu_tanh) {
      cpu::gelu_forward(up, up, int64_t(n) * I);
    } else {
      cpu::gelu_exact_forward(up, up, int64_t(n) * I);
    }
    matmul(out, up, h + "mlp.down.weight", w(h + "mlp.down.bias"), n, I, C);
  };
  for (int l = 0; l < c.n_layer; ++l) {
    const std::string h = "layers." + std::to_string(l) + ".";
    switch (c.wiring) {
      case Wiring::pre_norm:
        normf(n1, x, n, h + "attn_norm");
        attention(a, n1, h, l);
        cpu::residual_forward(x, x, a, int64_t(n) * C);
        normf(n2, x, n, h + "mlp_norm");
        mlp(m, n2, h);
        cpu::residual_forward(x, x, m, int64_t(n) * C);
        break;
      case Wiring::parallel:
        normf(n1, x, n, h + "attn_norm");
        if (c.parallel_norms == 2) normf(n2, x, n, h + "mlp_norm");
        attention(a, n1, h, l);
        mlp(m, c.parallel_norms == 2 ? n2 : n1, h);
        cpu::residual_forward(x, x, a, int64_t(n) * C);
        cpu::residual_forward(x, x, m, int64_t(n) * C);
        break;
      case Wiring::post_norm:
        attention(a, x, h, l);
        cpu::residual_forward(x, x, a, int64_t(n) * C);
        normf(x, x, n, h + "attn_norm");
        mlp(m, x, h);
        cpu::residual_forward(x, x, m, int64_t(n) * C);
        normf(x, x, n, h + "mlp_norm");
        break;
    }
  }
  float* last = x + int64_t(n - 1) * C;
  if (c.wiring != Wiring::post_norm) normf(n1, last, 1, "norm"), last = n1;
  matmul(logits_out, last, c.tie_embeddings ? "embed.weight" : "lm_head.weight",
                      nullptr, 1, C, V);
  cache.length += n;
}

}  // namespace ilm
