#include "ilm/autograd/ops.h"

#include <algorithm>
#include <cmath>

#include "ilm/kernels/alibi.h"
#include "ilm/kernels/cpu/half_weights.h"
#include "ilm/kernels/cpu/kernels.h"

namespace ilm {

namespace {

float* fp(const Var& v) { return v ? v->value.f32() : nullptr; }

// The gradient buffer of v if it takes one, else null (kernels skip null gradients).
float* gp(Tape& tape, const Var& v) {
  return v && v->requires_grad ? tape.grad(v).f32() : nullptr;
}

// A bf16/f16 weight (a mapped inference load keeps half-precision matrices as stored) has
// forward kernels only: throws when the op's output would need a gradient.
void require_no_grad_through(const char* op, const Var& out, const Var& weight) {
  if (out->requires_grad)
    fail(
        "[{}] the weight {} is {} (a model loaded mapped for inference); gradients do not flow "
        "through half-precision weights: run it under NoGrad, or load the model owned (f32) to "
        "train",
        op, weight->value.shape().to_string(), dtype_name(weight->value.dtype()));
}

Shape with_last(const Shape& s, int64_t last) {
  std::vector<int64_t> d = s.to_vector();
  d.back() = last;
  return Shape(d);
}

}  // namespace

Var embedding(Tape& tape, const Tensor& ids, const Var& wte, const Var& wpe) {
  ILM_CHECK(ids.shape().ndim() == 2, "[embedding] ids must be (B,T), got {}", ids.shape().to_string());
  const int B = int(ids.shape()[0]), T = int(ids.shape()[1]);
  const int V = int(wte->value.shape()[0]), C = int(wte->value.shape()[1]);
  const int32_t* idx = ids.data<int32_t>();
  for (int64_t i = 0; i < int64_t(B) * T; ++i)
    ILM_CHECK(idx[i] >= 0 && idx[i] < V, "[embedding] token id {} at position {} is outside [0, {})",
              idx[i], i, V);
  if (wpe)
    ILM_CHECK(T <= wpe->value.shape()[0], "[embedding] sequence length {} exceeds block_size {}", T,
              wpe->value.shape()[0]);
  Var out = tape.output(tape.alloc({B, T, C}), {&wte, &wpe});
  if (wte->value.dtype() != DType::f32 || (wpe && wpe->value.dtype() != DType::f32)) {
    require_no_grad_through("embedding", out, wte->value.dtype() != DType::f32 ? wte : wpe);
    cpu::encoder_forward_typed(out->value.f32(), idx, wte->value.raw(), wte->value.dtype(),
                               wpe ? wpe->value.raw() : nullptr,
                               wpe ? wpe->value.dtype() : DType::f32, B, T, C);
    return out;
  }
  cpu::encoder_forward(out->value.f32(), idx, wte->value.f32(), fp(wpe), B, T, C);
  tape.record("embedding", out, [&tape, out, ids, wte, wpe, B, T, C] {
    float* dwte = gp(tape, wte);
    float* dwpe = gp(tape, wpe);
    if (dwte) cpu::encoder_backward(dwte, dwpe, out->grad.f32(), ids.data<int32_t>(), B, T, C);
    else if (dwpe) {
      // Position gradients alone: route through a scratch wte gradient would waste
      // memory, so sum dout over the batch directly.
      for (int b = 0; b < B; ++b)
        for (int64_t i = 0; i < int64_t(T) * C; ++i) dwpe[i] += out->grad.f32()[int64_t(b) * T * C + i];
    }
  });
  return out;
}

Var linear(Tape& tape, const Var& x, const Var& w, const Var& b) {
  const Shape& xs = x->value.shape();
  const int C = int(w->value.shape()[1]), OC = int(w->value.shape()[0]);
  ILM_CHECK(xs.last() == C, "[linear] input has {} features, weight {} expects {}", xs.last(),
            w->value.shape().to_string(), C);
  const int64_t N = xs.rows();
  Var out = tape.output(tape.alloc(with_last(xs, OC)), {&x, &w, &b});
  if (w->value.dtype() != DType::f32) {
    require_no_grad_through("linear", out, w);
    cpu::matmul_forward_typed(out->value.f32(), x->value.f32(), w->value.raw(), w->value.dtype(),
                              fp(b), N, C, OC);
    return out;
  }
  cpu::matmul_forward(out->value.f32(), x->value.f32(), w->value.f32(), fp(b), N, C, OC);
  tape.record("linear", out, [&tape, out, x, w, b, N, C, OC] {
    cpu::matmul_backward(gp(tape, x), gp(tape, w), gp(tape, b), out->grad.f32(), x->value.f32(),
                         w->value.f32(), N, C, OC);
  });
  return out;
}

Var layernorm(Tape& tape, const Var& x, const Var& w, const Var& b, float eps) {
  const Shape& xs = x->value.shape();
  const int C = int(xs.last());
  const int64_t N = xs.rows();
  ILM_CHECK(w->value.numel() == C, "[layernorm] weight has {} values, input has {} features",
            w->value.numel(), C);
  Var out = tape.output(tape.alloc(xs), {&x, &w, &b});
  Tensor mean, rstd;
  if (out->requires_grad) {
    mean = tape.alloc({N});
    rstd = tape.alloc({N});
  }
  cpu::layernorm_forward(out->value.f32(), mean.defined() ? mean.f32() : nullptr,
                         rstd.defined() ? rstd.f32() : nullptr, x->value.f32(), w->value.f32(),
                         fp(b), N, C, eps);
  tape.record("layernorm", out, [&tape, out, x, w, b, mean, rstd, N, C] {
    cpu::layernorm_backward(gp(tape, x), gp(tape, w), gp(tape, b), out->grad.f32(), x->value.f32(),
                            w->value.f32(), mean.f32(), rstd.f32(), N, C);
  });
  return out;
}

Var gelu(Tape& tape, const Var& x, bool tanh_approximation) {
  const int64_t N = x->value.numel();
  Var out = tape.output(tape.alloc(x->value.shape()), {&x});
  auto fwd = tanh_approximation ? cpu::gelu_forward : cpu::gelu_exact_forward;
  auto bwd = tanh_approximation ? cpu::gelu_backward : cpu::gelu_exact_backward;
  fwd(out->value.f32(), x->value.f32(), N);
  tape.record("gelu", out, [&tape, out, x, N, bwd] {
    if (x->requires_grad) bwd(gp(tape, x), x->value.f32(), out->grad.f32(), N);
  });
  return out;
}

Var add(Tape& tape, const Var& a, const Var& b) {
  ILM_CHECK(a->value.shape() == b->value.shape(), "[add] shapes differ: {} and {}",
            a->value.shape().to_string(), b->value.shape().to_string());
  const int64_t N = a->value.numel();
  Var out = tape.output(tape.alloc(a->value.shape()), {&a, &b});
  cpu::residual_forward(out->value.f32(), a->value.f32(), b->value.f32(), N);
  tape.record("add", out, [&tape, out, a, b, N] {
    const float* d = out->grad.f32();
    float* da = gp(tape, a);
    float* db = gp(tape, b);
    if (da && db) {
      cpu::residual_backward(da, db, d, N);
    } else if (da || db) {
      float* g = da ? da : db;
      for (int64_t i = 0; i < N; ++i) g[i] += d[i];
    }
  });
  return out;
}

Var dropout(Tape& tape, const Var& x, float p, Rng& rng) {
  ILM_CHECK(p >= 0.0f && p < 1.0f, "[dropout] probability {} is outside [0, 1)", p);
  if (p == 0.0f) return x;
  const int64_t N = x->value.numel();
  const uint64_t seed = rng.next_u64();
  Var out = tape.output(tape.alloc(x->value.shape()), {&x});
  cpu::dropout_forward(out->value.f32(), x->value.f32(), p, seed, N);
  tape.record("dropout", out, [&tape, out, x, p, seed, N] {
    if (x->requires_grad) cpu::dropout_backward(gp(tape, x), out->grad.f32(), p, seed, N);
  });
  return out;
}

Var attention(Tape& tape, const Var& qkv, int n_head, bool causal) {
  const Shape& s = qkv->value.shape();
  ILM_CHECK(s.ndim() == 3 && s[2] % 3 == 0, "[attention] qkv must be (B,T,3C), got {}", s.to_string());
  const int B = int(s[0]), T = int(s[1]), C = int(s[2] / 3);
  ILM_CHECK(n_head > 0 && C % n_head == 0, "[attention] {} channels do not split into {} heads", C,
            n_head);
  Var out = tape.output(tape.alloc({B, T, C}), {&qkv});
  // The (B,NH,T,T) probabilities are kept only when backward will need them.
  Tensor att;
  if (out->requires_grad) att = tape.alloc({B, n_head, T, T});
  cpu::attention_forward(out->value.f32(), att.defined() ? att.f32() : nullptr, qkv->value.f32(), B,
                         T, C, n_head, causal);
  tape.record("attention", out, [&tape, out, qkv, att, B, T, C, n_head, causal] {
    cpu::attention_backward(gp(tape, qkv), out->grad.f32(), qkv->value.f32(), att.f32(), B, T, C,
                            n_head, causal);
  });
  return out;
}

Var attention_gqa(Tape& tape, const Var& q, const Var& k, const Var& v, int n_head, int n_kv_head,
                  bool causal, const Tensor* key_mask, int window, bool alibi) {
  const Shape& qs = q->value.shape();
  const Shape& ks = k->value.shape();
  ILM_CHECK(qs.ndim() == 3, "[attention_gqa] q must be (B,T,NH*HS), got {}", qs.to_string());
  ILM_CHECK(n_head > 0 && n_kv_head > 0 && n_head % n_kv_head == 0,
            "[attention_gqa] {} heads do not split into groups of {} kv heads", n_head, n_kv_head);
  ILM_CHECK(qs[2] % n_head == 0, "[attention_gqa] {} channels of q do not split into {} heads",
            qs[2], n_head);
  const int B = int(qs[0]), T = int(qs[1]), HS = int(qs[2] / n_head);
  const Shape kv_shape{B, T, int64_t(n_kv_head) * HS};
  ILM_CHECK(ks == kv_shape, "[attention_gqa] k is {}, expected {} ({} kv heads of {})",
            ks.to_string(), kv_shape.to_string(), n_kv_head, HS);
  ILM_CHECK(v->value.shape() == kv_shape, "[attention_gqa] v is {}, expected {}",
            v->value.shape().to_string(), kv_shape.to_string());
  Tensor mask;
  if (key_mask) {
    const Shape bt{B, T};
    ILM_CHECK(key_mask->shape() == bt, "[attention_gqa] key_mask is {}, expected {}",
              key_mask->shape().to_string(), bt.to_string());
    ILM_CHECK(key_mask->dtype() == DType::u8 || key_mask->dtype() == DType::i32,
              "[attention_gqa] key_mask holds {}, expected U8 or I32",
              dtype_name(key_mask->dtype()));
    mask = tape.alloc(bt, DType::u8);
    uint8_t* m = mask.data<uint8_t>();
    for (int64_t i = 0; i < bt.numel(); ++i)
      m[i] = key_mask->dtype() == DType::u8 ? key_mask->data<uint8_t>()[i] != 0
                                            : key_mask->data<int32_t>()[i] != 0;
  }
  const uint8_t* keep = mask.defined() ? mask.data<uint8_t>() : nullptr;
  Tensor bias;  // (B,NH,T) ALiBi key biases, already times 1/sqrt(HS)
  if (alibi) {
    bias = tape.alloc({B, n_head, T});
    alibi_key_bias(bias.f32(), alibi_slopes(n_head), keep, B, T, 1.0f / std::sqrt(float(HS)));
  }
  Var out = tape.output(tape.alloc(qs), {&q, &k, &v});
  Tensor att;
  if (out->requires_grad) att = tape.alloc({B, n_head, T, T});
  cpu::attention_gqa_forward(out->value.f32(), att.defined() ? att.f32() : nullptr, q->value.f32(),
                             k->value.f32(), v->value.f32(), keep, B, T, n_head, n_kv_head, HS,
                             causal, window, bias.defined() ? bias.f32() : nullptr);
  tape.record("attention_gqa", out,
              [&tape, out, q, k, v, att, B, T, n_head, n_kv_head, HS, causal] {
                cpu::attention_gqa_backward(gp(tape, q), gp(tape, k), gp(tape, v), out->grad.f32(),
                                            q->value.f32(), k->value.f32(), v->value.f32(),
                                            att.f32(), B, T, n_head, n_kv_head, HS, causal);
              });
  return out;
}

Var rmsnorm(Tape& tape, const Var& x, const Var& w, float eps) {
  const Shape& xs = x->value.shape();
  const int C = int(xs.last());
  const int64_t N = xs.rows();
  ILM_CHECK(w->value.numel() == C, "[rmsnorm] weight has {} values, input has {} features",
            w->value.numel(), C);
  Var out = tape.output(tape.alloc(xs), {&x, &w});
  Tensor rstd;
  if (out->requires_grad) rstd = tape.alloc({N});
  cpu::rmsnorm_forward(out->value.f32(), rstd.defined() ? rstd.f32() : nullptr, x->value.f32(),
                       w->value.f32(), N, C, eps);
  tape.record("rmsnorm", out, [&tape, out, x, w, rstd, N, C] {
    cpu::rmsnorm_backward(gp(tape, x), gp(tape, w), out->grad.f32(), x->value.f32(), w->value.f32(),
                          rstd.f32(), N, C);
  });
  return out;
}

Var rope(Tape& tape, const Var& x, int n_head, const RopeConfig& cfg, int pos0) {
  const Shape& xs = x->value.shape();
  ILM_CHECK(xs.ndim() == 3, "[rope] x must be (B,T,NH*HS), got {}", xs.to_string());
  ILM_CHECK(n_head > 0 && xs[2] % n_head == 0, "[rope] {} channels do not split into {} heads",
            xs[2], n_head);
  ILM_CHECK(pos0 >= 0, "[rope] start position {} is negative", pos0);
  const int B = int(xs[0]), T = int(xs[1]), HS = int(xs[2] / n_head);
  const int rd = rope_rotary_dim(cfg, HS);
  std::vector<float> inv_freq = rope_inv_freq(cfg, HS, pos0 + T);
  const float scale = rope_attention_factor(cfg);
  Var out = tape.output(tape.alloc(xs), {&x});
  cpu::rope_forward(out->value.f32(), x->value.f32(), inv_freq.data(), B, T, n_head, HS, rd, pos0,
                    scale);
  tape.record("rope", out,
              [&tape, out, x, inv_freq = std::move(inv_freq), B, T, n_head, HS, rd, pos0, scale] {
                if (x->requires_grad)
                  cpu::rope_backward(gp(tape, x), out->grad.f32(), inv_freq.data(), B, T, n_head,
                                     HS, rd, pos0, scale);
              });
  return out;
}

Var swiglu(Tape& tape, const Var& gate, const Var& up) {
  ILM_CHECK(gate->value.shape() == up->value.shape(), "[swiglu] gate is {} but up is {}",
            gate->value.shape().to_string(), up->value.shape().to_string());
  const int64_t N = gate->value.numel();
  Var out = tape.output(tape.alloc(gate->value.shape()), {&gate, &up});
  cpu::swiglu_forward(out->value.f32(), gate->value.f32(), up->value.f32(), N);
  tape.record("swiglu", out, [&tape, out, gate, up, N] {
    cpu::swiglu_backward(gp(tape, gate), gp(tape, up), out->grad.f32(), gate->value.f32(),
                         up->value.f32(), N);
  });
  return out;
}

Var silu(Tape& tape, const Var& x) {
  const int64_t N = x->value.numel();
  Var out = tape.output(tape.alloc(x->value.shape()), {&x});
  cpu::silu_forward(out->value.f32(), x->value.f32(), N);
  tape.record("silu", out, [&tape, out, x, N] {
    if (x->requires_grad) cpu::silu_backward(gp(tape, x), x->value.f32(), out->grad.f32(), N);
  });
  return out;
}

Var tanh(Tape& tape, const Var& x) {
  const int64_t N = x->value.numel();
  Var out = tape.output(tape.alloc(x->value.shape()), {&x});
  cpu::tanh_forward(out->value.f32(), x->value.f32(), N);
  tape.record("tanh", out, [&tape, out, x, N] {
    if (x->requires_grad) cpu::tanh_backward(gp(tape, x), out->value.f32(), out->grad.f32(), N);
  });
  return out;
}

Var select_position(Tape& tape, const Var& x, int t) {
  const Shape& xs = x->value.shape();
  ILM_CHECK(xs.ndim() == 3 && t >= 0 && t < xs[1], "[select_position] position {} of an input {}",
            t, xs.to_string());
  const int64_t B = xs[0], T = xs[1], C = xs[2];
  Var out = tape.output(tape.alloc({B, C}), {&x});
  for (int64_t b = 0; b < B; ++b)
    std::copy_n(x->value.f32() + (b * T + t) * C, C, out->value.f32() + b * C);
  tape.record("select_position", out, [&tape, out, x, B, T, C, t] {
    if (!x->requires_grad) return;
    float* dx = gp(tape, x);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t c = 0; c < C; ++c) dx[(b * T + t) * C + c] += out->grad.f32()[b * C + c];
  });
  return out;
}

Var cross_entropy(Tape& tape, const Var& logits, const Tensor& targets, int ignore_index,
                  bool logits_are_private) {
  const Shape& ls = logits->value.shape();
  const int V = int(ls.last());
  const int64_t N = ls.rows();
  ILM_CHECK(targets.numel() == N, "[cross_entropy] {} targets for {} rows of logits", targets.numel(),
            N);
  Tensor losses = tape.alloc({N});
  Tensor lse = tape.alloc({N});
  const int32_t* tg = targets.data<int32_t>();
  int64_t count = cpu::crossentropy_forward(losses.f32(), lse.f32(), logits->value.f32(), tg, N, V,
                                            ignore_index);
  double sum = 0.0;
  for (int64_t n = 0; n < N; ++n) sum += losses.f32()[n];
  Var out = tape.output(tape.alloc({}), {&logits});
  out->value.f32()[0] = count ? float(sum / double(count)) : 0.0f;
  tape.record("cross_entropy", out,
              [&tape, out, logits, targets, lse, N, V, ignore_index, count, logits_are_private] {
    if (!logits->requires_grad || count == 0) return;
    Tensor dloss = tape.alloc({N});
    float g = out->grad.f32()[0] / float(count);
    for (int64_t n = 0; n < N; ++n) dloss.f32()[n] = g;
    bool in_place = logits_are_private && !logits->grad.defined();
    if (in_place) logits->grad = logits->value;
    cpu::crossentropy_backward(gp(tape, logits), logits->value.f32(), lse.f32(),
                               targets.data<int32_t>(), dloss.f32(), N, V, ignore_index, in_place);
  });
  return out;
}

}  // namespace ilm
