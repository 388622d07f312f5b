// Multi-head self-attention, fused: per (batch, head) two GEMMs around a softmax.
// Only the softmax probabilities (B,NH,T,T) are kept for backward; the scores
// before softmax are overwritten in place.
#include <omp.h>

#include <cmath>
#include <vector>

#include "ilm/kernels/cpu/attention_rows.h"
#include "ilm/kernels/cpu/kernels.h"

namespace ilm::cpu {

void attention_forward(float* out, float* att, const float* qkv, int B, int T, int C, int NH,
                       bool causal) {
  const int HS = C / NH;
  const int64_t C3 = 3 * int64_t(C);
  const float scale = 1.0f / std::sqrt(float(HS));
  // The small per-head GEMMs run single-threaded inside this parallel loop.
#pragma omp parallel for schedule(static)
  for (int bh = 0; bh < B * NH; ++bh) {
    int b = bh / NH, h = bh % NH;
    const float* q = qkv + int64_t(b) * T * C3 + int64_t(h) * HS;
    const float* k = q + C;
    const float* v = q + 2 * C;
    float* a = att ? att + int64_t(bh) * T * T : thread_scratch(size_t(T) * T).data();
    sgemm(false, true, T, T, HS, scale, q, C3, k, C3, 0.0f, a, T);
    for (int t = 0; t < T; ++t) masked_softmax_row(a + int64_t(t) * T, 0, causal ? t + 1 : T, nullptr, T);
    sgemm(false, false, T, HS, T, 1.0f, a, T, v, C3, 0.0f, out + int64_t(b) * T * C + h * HS, C);
  }
}

void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* att,
                        int B, int T, int C, int NH, bool causal) {
  const int HS = C / NH;
  const int64_t C3 = 3 * int64_t(C);
  const float scale = 1.0f / std::sqrt(float(HS));
#pragma omp parallel for schedule(static)
  for (int bh = 0; bh < B * NH; ++bh) {
    int b = bh / NH, h = bh % NH;
    int64_t off = int64_t(b) * T * C3 + int64_t(h) * HS;
    const float* q = qkv + off;
    const float* k = q + C;
    const float* v = q + 2 * C;
    float* dq = dqkv + off;
    float* dk = dq + C;
    float* dv = dq + 2 * C;
    const float* a = att + int64_t(bh) * T * T;
    const float* d = dout + int64_t(b) * T * C + h * HS;
    float* da = thread_scratch(size_t(T) * T).data();
    // datt = dout @ v^T; dv += att^T @ dout
    sgemm(false, true, T, T, HS, 1.0f, d, C, v, C3, 0.0f, da, T);
    sgemm(true, false, T, HS, T, 1.0f, a, T, d, C, 1.0f, dv, C3);
    // softmax backward: dpre = att * (datt - sum_j att*datt); masked entries have att = 0.
    for (int t = 0; t < T; ++t) {
      const float* ar = a + int64_t(t) * T;
      float* dr = da + int64_t(t) * T;
      int n = causal ? t + 1 : T;
      float dot = 0.0f;
      for (int j = 0; j < n; ++j) dot += ar[j] * dr[j];
      for (int j = 0; j < n; ++j) dr[j] = ar[j] * (dr[j] - dot);
      for (int j = n; j < T; ++j) dr[j] = 0.0f;
    }
    // dq += scale * dpre @ k; dk += scale * dpre^T @ q
    sgemm(false, false, T, HS, T, scale, da, T, k, C3, 1.0f, dq, C3);
    sgemm(true, false, T, HS, T, scale, da, T, q, C3, 1.0f, dk, C3);
  }
}

void attention_forward_cached(float* out, const float* q, int64_t q_stride, const float* k_cache,
                              const float* v_cache, int Tq, int pos0, int C, int NH) {
  const int HS = C / NH;
  const int Tk = pos0 + Tq;
  const float scale = 1.0f / std::sqrt(float(HS));
#pragma omp parallel for collapse(2) schedule(static)
  for (int h = 0; h < NH; ++h) {
    for (int i = 0; i < Tq; ++i) {
      float* s = thread_scratch(size_t(Tk)).data();
      const float* qi = q + int64_t(i) * q_stride + h * HS;
      int n = pos0 + i + 1;
      for (int j = 0; j < n; ++j) {
        const float* kj = k_cache + int64_t(j) * C + h * HS;
        float dot = 0.0f;
        for (int e = 0; e < HS; ++e) dot += qi[e] * kj[e];
        s[j] = dot * scale;
      }
      masked_softmax_row(s, 0, n, nullptr, n);
      float* o = out + int64_t(i) * C + h * HS;
      for (int e = 0; e < HS; ++e) o[e] = 0.0f;
      for (int j = 0; j < n; ++j) {
        const float* vj = v_cache + int64_t(j) * C + h * HS;
        for (int e = 0; e < HS; ++e) o[e] += s[j] * vj[e];
      }
    }
  }
}

}  // namespace ilm::cpu
