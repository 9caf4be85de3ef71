#include "ops/lightning.h"

#include <cmath>

#include "core/error.h"

namespace mm {

namespace {

// ALiBi slopes for n heads (the reference's get_slopes): exact for powers of two, interleaved
// fallback otherwise.
std::vector<double> alibi_slopes(int64_t n) {
  auto pow2 = [](int64_t m) {
    std::vector<double> r;
    double start = std::pow(2.0, -std::pow(2.0, -(std::log2(double(m)) - 3)));
    for (int64_t i = 0; i < m; ++i) r.push_back(start * std::pow(start, double(i)));
    return r;
  };
  double l2 = std::log2(double(n));
  if (std::floor(l2) == l2) return pow2(n);
  int64_t closest = int64_t(1) << int64_t(std::floor(l2));
  std::vector<double> r = pow2(closest);
  std::vector<double> extra = alibi_slopes(2 * closest);
  for (int64_t i = 0; int64_t(r.size()) < n; i += 2) r.push_back(extra[size_t(i)]);
  return r;
}

}  // namespace

std::vector<float> lightning_slopes(int64_t n_heads, int64_t layer, int64_t n_layers) {
  std::vector<double> base = alibi_slopes(n_heads);
  double factor = n_layers <= 1 ? 1.0 + 1e-5 : 1.0 - double(layer) / double(n_layers - 1) + 1e-5;
  std::vector<float> s(static_cast<size_t>(n_heads));
  for (int64_t h = 0; h < n_heads; ++h) s[size_t(h)] = float(base[size_t(h)]) * float(factor);
  return s;
}

void lightning_recurrent(const LightningHeadArgs& a) {
  const int64_t d = a.d;
  const float decay = std::exp(-a.slope);
  float* S = a.state;
  for (int64_t t = 0; t < a.n_tokens; ++t) {
    const float* q = a.q + t * a.stride;
    const float* k = a.k + t * a.stride;
    const float* v = a.v + t * a.stride;
    float* o = a.o + t * a.o_stride;
    for (int64_t c = 0; c < d; ++c) o[c] = 0;
    for (int64_t r = 0; r < d; ++r) {
      float* Sr = S + r * d;
      const float kr = k[r], qr = q[r];
      for (int64_t c = 0; c < d; ++c) {
        Sr[c] = decay * Sr[c] + kr * v[c];
        o[c] += qr * Sr[c];
      }
    }
  }
}

void lightning_blocked(const LightningHeadArgs& a, int64_t block) {
  MM_CHECK(block > 0);
  const int64_t d = a.d;
  const float s = a.slope;
  float* S = a.state;
  std::vector<float> scores(static_cast<size_t>(block * block)), decay_pow(static_cast<size_t>(block + 1)), kv(static_cast<size_t>(d * d));
  for (int64_t i = 0; i <= block; ++i) decay_pow[size_t(i)] = std::exp(-s * float(i));
  for (int64_t b0 = 0; b0 < a.n_tokens; b0 += block) {
    const int64_t m = std::min(block, a.n_tokens - b0);
    const float* Q = a.q + b0 * a.stride;
    const float* K = a.k + b0 * a.stride;
    const float* V = a.v + b0 * a.stride;
    float* O = a.o + b0 * a.o_stride;
    // scores[i, j] = (q_i · k_j) · λ^{i-j} for j ≤ i
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j <= i; ++j) {
        float dot = 0;
        for (int64_t r = 0; r < d; ++r) dot += Q[i * a.stride + r] * K[j * a.stride + r];
        scores[size_t(i * block + j)] = dot * decay_pow[size_t(i - j)];
      }
    }
    for (int64_t i = 0; i < m; ++i) {
      float* o = O + i * a.o_stride;
      // inter-block: λ^{i+1} q_i · S
      const float qd = decay_pow[size_t(i + 1)];
      for (int64_t c = 0; c < d; ++c) o[c] = 0;
      for (int64_t r = 0; r < d; ++r) {
        const float qr = Q[i * a.stride + r] * qd;
        const float* Sr = S + r * d;
        for (int64_t c = 0; c < d; ++c) o[c] += qr * Sr[c];
      }
      // intra-block
      for (int64_t j = 0; j <= i; ++j) {
        const float w = scores[size_t(i * block + j)];
        const float* v = V + j * a.stride;
        for (int64_t c = 0; c < d; ++c) o[c] += w * v[c];
      }
    }
    // S = λ^m S + Σ_j λ^{m-1-j} k_jᵀ v_j
    const float bd = decay_pow[size_t(m)];
    for (int64_t x = 0; x < d * d; ++x) S[x] *= bd;
    for (int64_t j = 0; j < m; ++j) {
      const float kd = decay_pow[size_t(m - 1 - j)];
      const float* k = K + j * a.stride;
      const float* v = V + j * a.stride;
      for (int64_t r = 0; r < d; ++r) {
        const float kr = k[r] * kd;
        float* Sr = S + r * d;
        for (int64_t c = 0; c < d; ++c) Sr[c] += kr * v[c];
      }
    }
  }
}

void lightning_naive(const LightningHeadArgs& a) {
  const int64_t d = a.d, n = a.n_tokens;
  const double lam = std::exp(-double(a.slope));
  std::vector<double> S0(a.state, a.state + d * d);
  for (int64_t t = 0; t < n; ++t) {
    const float* q = a.q + t * a.stride;
    for (int64_t c = 0; c < d; ++c) {
      double acc = 0;
      for (int64_t r = 0; r < d; ++r) acc += double(q[r]) * S0[size_t(r * d + c)];
      acc *= std::pow(lam, double(t + 1));
      for (int64_t j = 0; j <= t; ++j) {
        double qk = 0;
        for (int64_t r = 0; r < d; ++r) qk += double(q[r]) * a.k[j * a.stride + r];
        acc += std::pow(lam, double(t - j)) * qk * a.v[j * a.stride + c];
      }
      a.o[t * a.o_stride + c] = float(acc);
    }
  }
  for (int64_t r = 0; r < d; ++r)
    for (int64_t c = 0; c < d; ++c) {
      double acc = std::pow(lam, double(n)) * S0[size_t(r * d + c)];
      for (int64_t j = 0; j < n; ++j)
        acc += std::pow(lam, double(n - 1 - j)) * double(a.k[j * a.stride + r]) * a.v[j * a.stride + c];
      a.state[r * d + c] = float(acc);
    }
}

}  // namespace mm
