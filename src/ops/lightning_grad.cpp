#include "ops/lightning_grad.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/error.h"

namespace mm {

void lightning_forward_train(const LightningHeadArgs& a, int64_t block, float* block_states) {
  MM_CHECK(block > 0);
  const int64_t d = a.d;
  for (int64_t b0 = 0, ib = 0; b0 < a.n_tokens; b0 += block, ++ib) {
    std::memcpy(block_states + ib * d * d, a.state, size_t(d * d) * sizeof(float));
    LightningHeadArgs c = a;
    c.q = a.q + b0 * a.stride;
    c.k = a.k + b0 * a.stride;
    c.v = a.v + b0 * a.stride;
    c.o = a.o + b0 * a.o_stride;
    c.n_tokens = std::min(block, a.n_tokens - b0);
    lightning_blocked(c, block);
  }
}

void lightning_backward(const LightningHeadArgs& a, int64_t block, const float* block_states, const LightningGradArgs& g) {
  const int64_t d = a.d, n_blocks = lightning_n_blocks(a.n_tokens, block);
  const float lam = std::exp(-a.slope);
  std::vector<float> pw(static_cast<size_t>(block) + 2);  // pw[i] = λ^i
  for (size_t i = 0; i < pw.size(); ++i) pw[i] = float(std::pow(double(lam), double(i)));
  std::vector<float> G(static_cast<size_t>(d * d), 0.0f);  // dL/dS at the end of the current block
  if (g.d_state_end) std::copy(g.d_state_end, g.d_state_end + d * d, G.begin());
  std::vector<float> A(static_cast<size_t>(block * block)), dA(static_cast<size_t>(block * block));  // [t, j] decayed q·k, dO·v
  std::vector<float> Gprev(static_cast<size_t>(d * d));
  for (int64_t ib = n_blocks - 1; ib >= 0; --ib) {
    const int64_t b0 = ib * block, n = std::min(block, a.n_tokens - b0);
    const float* S0 = block_states + ib * d * d;
    auto q = [&](int64_t t) { return a.q + (b0 + t) * a.stride; };
    auto k = [&](int64_t t) { return a.k + (b0 + t) * a.stride; };
    auto v = [&](int64_t t) { return a.v + (b0 + t) * a.stride; };
    auto dO = [&](int64_t t) { return g.d_o + (b0 + t) * g.d_o_stride; };
    for (int64_t t = 0; t < n; ++t)
      for (int64_t j = 0; j <= t; ++j) {
        float qk = 0, dv = 0;
        for (int64_t c = 0; c < d; ++c) {
          qk += q(t)[c] * k(j)[c];
          dv += dO(t)[c] * v(j)[c];
        }
        A[size_t(t * block + j)] = qk * pw[size_t(t - j)];
        dA[size_t(t * block + j)] = dv * pw[size_t(t - j)];
      }
    // dL/dS0 of this block (the G of the previous one): λ^n G + Σ_t λ^{t+1} q_tᵀ dO_t
    for (int64_t i = 0; i < d * d; ++i) Gprev[size_t(i)] = pw[size_t(n)] * G[size_t(i)];
    for (int64_t t = 0; t < n; ++t) {
      const float f = pw[size_t(t + 1)];
      for (int64_t i = 0; i < d; ++i) {
        const float qi = f * q(t)[i];
        float* row = Gprev.data() + i * d;
        for (int64_t c = 0; c < d; ++c) row[c] += qi * dO(t)[c];
      }
    }
    for (int64_t t = 0; t < n; ++t) {
      float* dq = g.dq + (b0 + t) * g.d_stride;
      float* dk = g.dk + (b0 + t) * g.d_stride;
      float* dv = g.dv + (b0 + t) * g.d_stride;
      // dq_t = λ^{t+1} dO_t S0ᵀ + Σ_{j≤t} dA[t,j] k_j
      const float f = pw[size_t(t + 1)];
      for (int64_t i = 0; i < d; ++i) {
        float s = 0;
        const float* srow = S0 + i * d;
        for (int64_t c = 0; c < d; ++c) s += srow[c] * dO(t)[c];
        dq[i] = f * s;
      }
      for (int64_t j = 0; j <= t; ++j) {
        const float w = dA[size_t(t * block + j)];
        for (int64_t c = 0; c < d; ++c) dq[c] += w * k(j)[c];
      }
      // dk_t = λ^{n-1-t} G v_t + Σ_{u≥t} dA[u,t] q_u;  dv_t = λ^{n-1-t} k_t G + Σ_{u≥t} A[u,t] dO_u
      const float e = pw[size_t(n - 1 - t)];
      for (int64_t i = 0; i < d; ++i) {
        float s = 0;
        const float* grow = G.data() + i * d;
        for (int64_t c = 0; c < d; ++c) s += grow[c] * v(t)[c];
        dk[i] = e * s;
      }
      for (int64_t c = 0; c < d; ++c) dv[c] = 0;
      for (int64_t i = 0; i < d; ++i) {
        const float ki = e * k(t)[i];
        const float* grow = G.data() + i * d;
        for (int64_t c = 0; c < d; ++c) dv[c] += ki * grow[c];
      }
      for (int64_t u = t; u < n; ++u) {
        const float wa = dA[size_t(u * block + t)], wb = A[size_t(u * block + t)];
        for (int64_t c = 0; c < d; ++c) {
          dk[c] += wa * q(u)[c];
          dv[c] += wb * dO(u)[c];
        }
      }
    }
    G.swap(Gprev);
  }
  if (g.d_state0) std::copy(G.begin(), G.end(), g.d_state0);
}

void lightning_backward_ref(const LightningHeadArgs& a, const float* s0, const LightningGradArgs& g) {
  const int64_t d = a.d, n = a.n_tokens;
  const double lam = std::exp(-double(a.slope));
  std::vector<double> S(static_cast<size_t>((n + 1) * d * d), 0.0);  // S[t + 1] = state after token t; S[0] = s0
  if (s0)
    for (int64_t i = 0; i < d * d; ++i) S[size_t(i)] = s0[i];
  for (int64_t t = 0; t < n; ++t)
    for (int64_t i = 0; i < d; ++i)
      for (int64_t c = 0; c < d; ++c)
        S[size_t((t + 1) * d * d + i * d + c)] =
            lam * S[size_t(t * d * d + i * d + c)] + double(a.k[t * a.stride + i]) * a.v[t * a.stride + c];
  std::vector<double> G(static_cast<size_t>(d * d), 0.0);
  if (g.d_state_end)
    for (int64_t i = 0; i < d * d; ++i) G[size_t(i)] = g.d_state_end[i];
  for (int64_t t = n - 1; t >= 0; --t) {
    const float* q = a.q + t * a.stride;
    const float* k = a.k + t * a.stride;
    const float* v = a.v + t * a.stride;
    const float* dO = g.d_o + t * g.d_o_stride;
    const double* St = S.data() + (t + 1) * d * d;
    for (int64_t i = 0; i < d; ++i) {  // o_t = q_t S_t
      double s = 0;
      for (int64_t c = 0; c < d; ++c) s += St[i * d + c] * dO[c];
      g.dq[t * g.d_stride + i] = float(s);
      for (int64_t c = 0; c < d; ++c) G[size_t(i * d + c)] += double(q[i]) * dO[c];
    }
    for (int64_t i = 0; i < d; ++i) {  // S_t = λ S_{t-1} + k_tᵀ v_t
      double sk = 0, sv = 0;
      for (int64_t c = 0; c < d; ++c) {
        sk += G[size_t(i * d + c)] * v[c];
        sv += double(k[c]) * G[size_t(c * d + i)];
      }
      g.dk[t * g.d_stride + i] = float(sk);
      g.dv[t * g.d_stride + i] = float(sv);
    }
    for (auto& x : G) x *= lam;
  }
  if (g.d_state0)
    for (int64_t i = 0; i < d * d; ++i) g.d_state0[i] = float(G[size_t(i)]);
}

}  // namespace mm
