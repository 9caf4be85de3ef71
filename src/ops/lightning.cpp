#include "ops/lightning.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "ops/simd/kernels.h"

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
    // Row r of S: S_r = λ S_r + k_r v, then o += q_r S_r; one fused pass keeps S_r in registers.
    for (int64_t r = 0; r < d; ++r) simd::decay_rank1_row(S + r * d, decay, k[r], v, q[r], o, d);
  }
}

void lightning_blocked(const LightningHeadArgs& a, int64_t block) {
  MM_CHECK(block > 0);
  const int64_t d = a.d;
  const float s = a.slope;
  // Every step is a small matrix product on gemm_nt (y = x · Bᵀ with B given by rows), so operands
  // whose contraction runs over tokens are kept transposed: Kdᵀ, Vᵀ [d, m], and the state as
  // Sᵀ [d(value), d(key)] for the whole call.
  const int64_t mb = std::min(block, a.n_tokens);
  std::vector<float> scores(size_t(mb * mb)), decay_pow(size_t(block + 1)), St(size_t(d * d));
  std::vector<float> Kdt(size_t(d * mb)), Vt(size_t(d * mb)), Qd(size_t(mb * d));
  for (int64_t i = 0; i <= block; ++i) decay_pow[size_t(i)] = std::exp(-s * float(i));
  for (int64_t r = 0; r < d; ++r)
    for (int64_t c = 0; c < d; ++c) St[size_t(c * d + r)] = a.state[r * d + c];
  auto f32_rows = [](const float* p, int64_t ld, int64_t n_in) {
    return simd::GemmB{simd::BKind::F32, reinterpret_cast<const uint8_t*>(p), size_t(ld) * 4, n_in};
  };
  for (int64_t b0 = 0; b0 < a.n_tokens; b0 += block) {
    const int64_t m = std::min(block, a.n_tokens - b0);
    const float* Q = a.q + b0 * a.stride;
    const float* K = a.k + b0 * a.stride;
    const float* V = a.v + b0 * a.stride;
    float* O = a.o + b0 * a.o_stride;
    for (int64_t j = 0; j < m; ++j) {
      const float kd = decay_pow[size_t(m - 1 - j)];
      for (int64_t r = 0; r < d; ++r) {
        Kdt[size_t(r * m + j)] = K[j * a.stride + r] * kd;
        Vt[size_t(r * m + j)] = V[j * a.stride + r];
      }
    }
    // scores[i, j] = (q_i · k_j) · λ^{i-j} for j ≤ i, else 0   [m, m]
    simd::gemm_nt(Q, a.stride, m, f32_rows(K, a.stride, d), 0, m, scores.data(), m, false);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < m; ++j) scores[size_t(i * m + j)] = j <= i ? scores[size_t(i * m + j)] * decay_pow[size_t(i - j)] : 0.0f;
    // O = scores · V (intra-block)   [m, d]
    simd::gemm_nt(scores.data(), m, m, f32_rows(Vt.data(), m, m), 0, d, O, a.o_stride, false);
    // O += (λ^{i+1} q_i) · S (inter-block, state of the previous blocks)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t r = 0; r < d; ++r) Qd[size_t(i * d + r)] = Q[i * a.stride + r] * decay_pow[size_t(i + 1)];
    simd::gemm_nt(Qd.data(), d, m, f32_rows(St.data(), d, d), 0, d, O, a.o_stride, true);
    // Sᵀ = λ^m Sᵀ + Vᵀ (Kd)   i.e. S = λ^m S + Σ_j λ^{m-1-j} k_jᵀ v_j
    simd::scale(decay_pow[size_t(m)], St.data(), d * d);
    simd::gemm_nt(Vt.data(), m, d, f32_rows(Kdt.data(), m, m), 0, d, St.data(), d, true);
  }
  for (int64_t r = 0; r < d; ++r)
    for (int64_t c = 0; c < d; ++c) a.state[r * d + c] = St[size_t(c * d + r)];
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
