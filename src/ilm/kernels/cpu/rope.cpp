// RoPE, Hugging Face "rotate_half" layout: within each head the first rotary_dim dims are
// rotated in pairs (i, i + rotary_dim/2) by the angle pos * inv_freq[i]; the rest pass through.
#include <cmath>
#include <vector>

#include "ilm/kernels/cpu/kernels.h"

namespace ilm::cpu {

namespace {

// scale * cos and scale * sin (T, rotary_dim/2) of (pos0 + t) * inv_freq[i], in double and
// rounded once.
void rope_table(std::vector<float>& cs, std::vector<float>& sn, const float* inv_freq, int T,
                int half, int pos0, float scale) {
  cs.resize(size_t(T) * size_t(half));
  sn.resize(cs.size());
  for (int t = 0; t < T; ++t)
    for (int i = 0; i < half; ++i) {
      double a = double(pos0 + t) * double(inv_freq[i]);
      cs[size_t(t) * half + i] = float(scale * std::cos(a));
      sn[size_t(t) * half + i] = float(scale * std::sin(a));
    }
}

// out = scale * R(sign * angle) inp over (B,T,NH*HS) (the rotated dims; the rest are copied);
// accumulate adds into out instead of writing.
void rope_apply(float* out, const float* inp, const float* inv_freq, int B, int T, int NH, int HS,
                int rotary_dim, int pos0, float scale, float sign, bool accumulate) {
  const int half = rotary_dim / 2;
  std::vector<float> cs, sn;
  rope_table(cs, sn, inv_freq, T, half, pos0, scale);
  const int64_t C = int64_t(NH) * HS;
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < T; ++t) {
      const float* c = cs.data() + size_t(t) * half;
      const float* s = sn.data() + size_t(t) * half;
      for (int h = 0; h < NH; ++h) {
        const int64_t off = (int64_t(b) * T + t) * C + int64_t(h) * HS;
        const float* x = inp + off;
        float* o = out + off;
        for (int i = 0; i < half; ++i) {
          float x1 = x[i], x2 = x[i + half], si = sign * s[i];
          float y1 = x1 * c[i] - x2 * si;
          float y2 = x2 * c[i] + x1 * si;
          if (accumulate) {
            o[i] += y1;
            o[i + half] += y2;
          } else {
            o[i] = y1;
            o[i + half] = y2;
          }
        }
        for (int e = rotary_dim; e < HS; ++e) o[e] = accumulate ? o[e] + x[e] : x[e];
      }
    }
}

}  // namespace

void rope_forward(float* out, const float* inp, const float* inv_freq, int B, int T, int NH, int HS,
                  int rotary_dim, int pos0, float cos_sin_scale) {
  rope_apply(out, inp, inv_freq, B, T, NH, HS, rotary_dim, pos0, cos_sin_scale, 1.0f, false);
}

void rope_backward(float* dinp, const float* dout, const float* inv_freq, int B, int T, int NH,
                   int HS, int rotary_dim, int pos0, float cos_sin_scale) {
  // The rotation is orthogonal: its transpose is the rotation by the opposite angle (times
  // the same scale).
  rope_apply(dinp, dout, inv_freq, B, T, NH, HS, rotary_dim, pos0, cos_sin_scale, -1.0f, true);
}

}  // namespace ilm::cpu
