// Attention with separate q, k, v and grouped key/value heads (MHA, GQA, MQA): head h
// reads kv head h / (NH / NKV). Causal or bidirectional, with an optional key padding
// mask and an optional additive bias per key (ALiBi). Per (batch, head) two GEMMs around a
// masked softmax; the probabilities
// (B,NH,T,T) are kept for backward, and are exactly 0 wherever a key is not attended,
// so backward needs neither the mask nor the causal flag beyond skipping zeros.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "ilm/kernels/cpu/attention_rows.h"
#include "ilm/kernels/cpu/kernels.h"

namespace ilm::cpu {

void attention_gqa_forward(float* out, float* att, const float* q, const float* k, const float* v,
                           const uint8_t* key_mask, int B, int T, int NH, int NKV, int HS,
                           bool causal, int window, const float* key_bias) {
  const int64_t CQ = int64_t(NH) * HS, CKV = int64_t(NKV) * HS;
  const int group = NH / NKV;
  const float scale = 1.0f / std::sqrt(float(HS));
#pragma omp parallel for schedule(static)
  for (int bh = 0; bh < B * NH; ++bh) {
    const int b = bh / NH, h = bh % NH, kvh = h / group;
    const float* qh = q + int64_t(b) * T * CQ + int64_t(h) * HS;
    const float* kh = k + int64_t(b) * T * CKV + int64_t(kvh) * HS;
    const float* vh = v + int64_t(b) * T * CKV + int64_t(kvh) * HS;
    const uint8_t* keep = key_mask ? key_mask + int64_t(b) * T : nullptr;
    float* a = att ? att + int64_t(bh) * T * T : thread_scratch(size_t(T) * T).data();
    sgemm(false, true, T, T, HS, scale, qh, CQ, kh, CKV, 0.0f, a, T);
    const float* bias = key_bias ? key_bias + int64_t(bh) * T : nullptr;
    for (int t = 0; t < T; ++t) {
      const int lo = window > 0 ? std::max(0, t - window + 1) : 0;
      const int n = causal ? t + 1 : T;
      float* row = a + int64_t(t) * T;
      if (bias)
        for (int j = lo; j < n; ++j) row[j] += bias[j];
      masked_softmax_row(row, lo, n, keep, T);
    }
    sgemm(false, false, T, HS, T, 1.0f, a, T, vh, CKV, 0.0f, out + int64_t(b) * T * CQ + h * HS,
          CQ);
  }
}

void attention_gqa_backward(float* dq, float* dk, float* dv, const float* dout, const float* q,
                            const float* k, const float* v, const float* att, int B, int T, int NH,
                            int NKV, int HS, bool causal) {
  const int64_t CQ = int64_t(NH) * HS, CKV = int64_t(NKV) * HS;
  const int group = NH / NKV;
  const float scale = 1.0f / std::sqrt(float(HS));
  // With groups, the heads of a group would race on their kv head's gradient: each head
  // writes its own (B,NH,T,HS) slot, summed below in head order (deterministic).
  const bool grouped = group > 1;
  std::vector<float> dk_heads, dv_heads;
  if (grouped && dk) dk_heads.assign(size_t(B) * NH * T * HS, 0.0f);
  if (grouped && dv) dv_heads.assign(size_t(B) * NH * T * HS, 0.0f);
#pragma omp parallel for schedule(static)
  for (int bh = 0; bh < B * NH; ++bh) {
    const int b = bh / NH, h = bh % NH, kvh = h / group;
    const int64_t qoff = int64_t(b) * T * CQ + int64_t(h) * HS;
    const int64_t kvoff = int64_t(b) * T * CKV + int64_t(kvh) * HS;
    const float* qh = q + qoff;
    const float* kh = k + kvoff;
    const float* vh = v + kvoff;
    const float* a = att + int64_t(bh) * T * T;
    const float* d = dout + qoff;
    float* dkh = grouped ? (dk ? dk_heads.data() + int64_t(bh) * T * HS : nullptr)
                         : (dk ? dk + kvoff : nullptr);
    float* dvh = grouped ? (dv ? dv_heads.data() + int64_t(bh) * T * HS : nullptr)
                         : (dv ? dv + kvoff : nullptr);
    const int64_t ldkv = grouped ? HS : CKV;
    float* da = thread_scratch(size_t(T) * T).data();
    // datt = dout @ v^T; dv += att^T @ dout
    sgemm(false, true, T, T, HS, 1.0f, d, CQ, vh, CKV, 0.0f, da, T);
    if (dvh) sgemm(true, false, T, HS, T, 1.0f, a, T, d, CQ, 1.0f, dvh, ldkv);
    // softmax backward: dpre = att * (datt - sum_j att*datt); att is 0 where not attended.
    for (int t = 0; t < T; ++t) {
      const float* ar = a + int64_t(t) * T;
      float* dr = da + int64_t(t) * T;
      const int n = causal ? t + 1 : T;
      float dot = 0.0f;
      for (int j = 0; j < n; ++j) dot += ar[j] * dr[j];
      for (int j = 0; j < n; ++j) dr[j] = ar[j] * (dr[j] - dot);
      for (int j = n; j < T; ++j) dr[j] = 0.0f;
    }
    // dq += scale * dpre @ k; dk += scale * dpre^T @ q
    if (dq) sgemm(false, false, T, HS, T, scale, da, T, kh, CKV, 1.0f, dq + qoff, CQ);
    if (dkh) sgemm(true, false, T, HS, T, scale, da, T, qh, CQ, 1.0f, dkh, ldkv);
  }
  if (!grouped) return;
  for (auto [dst, heads] : {std::pair{dk, &dk_heads}, std::pair{dv, &dv_heads}}) {
    if (!dst) continue;
    const float* src = heads->data();
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; ++b)
      for (int t = 0; t < T; ++t)
        for (int h = 0; h < NH; ++h) {
          const float* s = src + ((int64_t(b) * NH + h) * T + t) * HS;
          float* o = dst + (int64_t(b) * T + t) * CKV + int64_t(h / group) * HS;
          for (int e = 0; e < HS; ++e) o[e] += s[e];
        }
  }
}

void attention_gqa_forward_cached(float* out, const float* q, int64_t q_stride,
                                  const float* k_cache, const float* v_cache, int Tq, int pos0,
                                  int NH, int NKV, int HS, int window, const float* key_bias) {
  const int Tk = pos0 + Tq;
  const int64_t CQ = int64_t(NH) * HS, CKV = int64_t(NKV) * HS;
  const int group = NH / NKV;
  const float scale = 1.0f / std::sqrt(float(HS));
#pragma omp parallel for collapse(2) schedule(static)
  for (int h = 0; h < NH; ++h) {
    for (int i = 0; i < Tq; ++i) {
      const int64_t kvoff = int64_t(h / group) * HS;
      float* s = thread_scratch(size_t(Tk)).data();
      const float* qi = q + int64_t(i) * q_stride + h * HS;
      const int n = pos0 + i + 1;
      const int lo = window > 0 ? std::max(0, n - window) : 0;
      for (int j = lo; j < n; ++j) {
        const float* kj = k_cache + int64_t(j) * CKV + kvoff;
        float dot = 0.0f;
        for (int e = 0; e < HS; ++e) dot += qi[e] * kj[e];
        s[j] = dot * scale;
      }
      if (key_bias)
        for (int j = lo; j < n; ++j) s[j] += key_bias[int64_t(h) * Tk + j];
      masked_softmax_row(s, lo, n, nullptr, n);
      float* o = out + int64_t(i) * CQ + h * HS;
      for (int e = 0; e < HS; ++e) o[e] = 0.0f;
      for (int j = lo; j < n; ++j) {
        const float* vj = v_cache + int64_t(j) * CKV + kvoff;
        for (int e = 0; e < HS; ++e) o[e] += s[j] * vj[e];
      }
    }
  }
}

}  // namespace ilm::cpu
