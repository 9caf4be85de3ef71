#include "ops/attention.h"

#include <cmath>
#include <vector>

#include "core/thread_pool.h"

namespace mm {

void attention_causal(const AttentionArgs& a) {
  const int64_t hd = a.head_dim, group = a.n_heads / a.n_kv_heads;
  const int64_t q_stride = a.n_heads * hd, kv_stride = a.n_kv_heads * hd;
  global_pool().parallel_for(a.n_q * a.n_heads, [&](int64_t b, int64_t e, int) {
    std::vector<float> acc(static_cast<size_t>(hd));
    for (int64_t task = b; task < e; ++task) {
      const int64_t i = task / a.n_heads, h = task % a.n_heads, kvh = h / group;
      const float* q = a.q + i * q_stride + h * hd;
      const int64_t n_keys = a.pos0 + i + 1;
      float m = -INFINITY, l = 0;
      for (int64_t c = 0; c < hd; ++c) acc[size_t(c)] = 0;
      for (int64_t j = 0; j < n_keys; ++j) {
        const float* k = a.k + j * kv_stride + kvh * hd;
        float s = 0;
        for (int64_t c = 0; c < hd; ++c) s += q[c] * k[c];
        s *= a.scale;
        const float* v = a.v + j * kv_stride + kvh * hd;
        if (s > m) {
          float corr = std::exp(m - s);
          l *= corr;
          for (int64_t c = 0; c < hd; ++c) acc[size_t(c)] *= corr;
          m = s;
        }
        float p = std::exp(s - m);
        l += p;
        for (int64_t c = 0; c < hd; ++c) acc[size_t(c)] += p * v[c];
      }
      float* o = a.out + i * q_stride + h * hd;
      for (int64_t c = 0; c < hd; ++c) o[c] = acc[size_t(c)] / l;
    }
  });
}

void attention_causal_ref(const AttentionArgs& a) {
  const int64_t hd = a.head_dim, group = a.n_heads / a.n_kv_heads;
  const int64_t q_stride = a.n_heads * hd, kv_stride = a.n_kv_heads * hd;
  for (int64_t i = 0; i < a.n_q; ++i)
    for (int64_t h = 0; h < a.n_heads; ++h) {
      const int64_t kvh = h / group, n_keys = a.pos0 + i + 1;
      std::vector<double> s(static_cast<size_t>(n_keys));
      double mx = -INFINITY;
      for (int64_t j = 0; j < n_keys; ++j) {
        double d = 0;
        for (int64_t c = 0; c < hd; ++c) d += double(a.q[i * q_stride + h * hd + c]) * a.k[j * kv_stride + kvh * hd + c];
        s[size_t(j)] = d * a.scale;
        mx = std::max(mx, s[size_t(j)]);
      }
      double z = 0;
      for (auto& x : s) z += (x = std::exp(x - mx));
      for (int64_t c = 0; c < hd; ++c) {
        double o = 0;
        for (int64_t j = 0; j < n_keys; ++j) o += s[size_t(j)] * a.v[j * kv_stride + kvh * hd + c];
        a.out[i * q_stride + h * hd + c] = float(o / z);
      }
    }
}

}  // namespace mm
