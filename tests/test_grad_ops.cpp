// Every backward op against central finite differences of a double-precision forward written here,
// on odd shapes; optimized kernels also against their scalar twins.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "grad_test_util.h"
#include "ops/attention.h"
#include "ops/attention_grad.h"
#include "ops/basic.h"
#include "ops/basic_grad.h"
#include "ops/lightning.h"
#include "ops/lightning_grad.h"
#include "ops/linear_grad.h"
#include "ops/moe_grad.h"

namespace mm {
namespace {

using test::expect_grad_near;
using test::finite_diff;
using test::randn;
using test::to_double;
using Vec = std::vector<double>;

double dotv(const Vec& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

TEST(GradOps, LinearMatchesFiniteDifferencesAndScalarTwin) {
  ExecContext ctx(2);
  const int64_t T = 7, O = 37, I = 53;  // odd: no size is a multiple of a vector or tile width
  auto x = randn(size_t(T * I), 1), w = randn(size_t(O * I), 2, 0.3f), r = randn(size_t(T * O), 3);
  auto loss_x = [&](const Vec& xd) {  // L = Σ r ⊙ (x Wᵀ)
    double s = 0;
    for (int64_t t = 0; t < T; ++t)
      for (int64_t o = 0; o < O; ++o) {
        double y = 0;
        for (int64_t k = 0; k < I; ++k) y += xd[size_t(t * I + k)] * w[size_t(o * I + k)];
        s += r[size_t(t * O + o)] * y;
      }
    return s;
  };
  auto loss_w = [&](const Vec& wd) {
    double s = 0;
    for (int64_t t = 0; t < T; ++t)
      for (int64_t o = 0; o < O; ++o) {
        double y = 0;
        for (int64_t k = 0; k < I; ++k) y += double(x[size_t(t * I + k)]) * wd[size_t(o * I + k)];
        s += r[size_t(t * O + o)] * y;
      }
    return s;
  };
  std::vector<float> dx(static_cast<size_t>(T * I)), dw(static_cast<size_t>(O * I), 0.0f);
  linear_backward(ctx, x.data(), r.data(), T, w.data(), O, I, dx.data(), false, dw.data());
  expect_grad_near(dx, finite_diff(to_double(x), loss_x), 1e-5, "dx");
  expect_grad_near(dw, finite_diff(to_double(w), loss_w), 1e-5, "dw");
  // Accumulation, and the scalar twin.
  std::vector<float> dx2(dx), dw2(dw), dx_ref(dx), dw_ref(dw);
  linear_backward(ctx, x.data(), r.data(), T, w.data(), O, I, dx2.data(), true, dw2.data());
  linear_backward_ref(x.data(), r.data(), T, w.data(), O, I, dx_ref.data(), true, dw_ref.data());
  expect_grad_near(dx2, dx_ref, 1e-6, "dx accumulate vs ref");
  expect_grad_near(dw2, dw_ref, 1e-6, "dw accumulate vs ref");
  std::vector<float> y(static_cast<size_t>(T * O)), y_ref(y.size());
  linear_forward(ctx, x.data(), T, w.data(), O, I, y.data());
  linear_forward_ref(x.data(), T, w.data(), O, I, y_ref.data());
  expect_grad_near(y, y_ref, 1e-6, "forward vs ref");
}

TEST(GradOps, RmsNormAndGatedNorm) {
  ExecContext ctx(2);
  const int64_t R = 5, n = 19;
  const double eps = 1e-5;
  auto x = randn(size_t(R * n), 4), w = randn(size_t(n), 5), gate = randn(size_t(R * n), 6), r = randn(size_t(R * n), 7);
  // forward in double: y = w x rstd (⊙ σ(gate) when gated)
  auto fwd = [&](const Vec& xd, const Vec& wd, const Vec& gd, bool gated) {
    double s = 0;
    for (int64_t i = 0; i < R; ++i) {
      double ss = 0;
      for (int64_t c = 0; c < n; ++c) ss += xd[size_t(i * n + c)] * xd[size_t(i * n + c)];
      const double rstd = 1.0 / std::sqrt(ss / double(n) + eps);
      for (int64_t c = 0; c < n; ++c) {
        double y = wd[size_t(c)] * xd[size_t(i * n + c)] * rstd;
        if (gated) y *= 1.0 / (1.0 + std::exp(-gd[size_t(i * n + c)]));
        s += r[size_t(i * n + c)] * y;
      }
    }
    return s;
  };
  const Vec X = to_double(x), W = to_double(w), G = to_double(gate);
  for (bool gated : {false, true}) {
    std::vector<float> dx(x.size()), dw(w.size(), 0.0f), dg(gate.size());
    if (gated) rms_norm_sigmoid_gate_backward(ctx, x.data(), w.data(), R, n, eps, gate.data(), r.data(), dx.data(), dw.data(), dg.data());
    else rms_norm_backward(ctx, x.data(), w.data(), R, n, eps, r.data(), dx.data(), dw.data());
    expect_grad_near(dx, finite_diff(X, [&](const Vec& v) { return fwd(v, W, G, gated); }), 1e-5, "dx");
    expect_grad_near(dw, finite_diff(W, [&](const Vec& v) { return fwd(X, v, G, gated); }), 1e-5, "dw");
    if (gated) expect_grad_near(dg, finite_diff(G, [&](const Vec& v) { return fwd(X, W, v, true); }), 1e-5, "dgate");
  }
}

TEST(GradOps, SiluSwigluCrossEntropy) {
  ExecContext ctx(2);
  const int64_t n = 23;
  auto g = randn(size_t(n), 8, 2.0f), u = randn(size_t(n), 9), r = randn(size_t(n), 10);
  auto silu = [](double v) { return v / (1 + std::exp(-v)); };
  std::vector<float> dg(static_cast<size_t>(n)), du(static_cast<size_t>(n)), ds(static_cast<size_t>(n));
  silu_backward(ctx, g.data(), r.data(), n, ds.data());
  swiglu_backward(ctx, g.data(), u.data(), r.data(), n, dg.data(), du.data());
  const Vec G = to_double(g), U = to_double(u);
  auto l_silu = [&](const Vec& v) { double s = 0; for (int64_t i = 0; i < n; ++i) s += r[size_t(i)] * silu(v[size_t(i)]); return s; };
  auto l_sw = [&](const Vec& gv, const Vec& uv) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += r[size_t(i)] * silu(gv[size_t(i)]) * uv[size_t(i)];
    return s;
  };
  expect_grad_near(ds, finite_diff(G, l_silu), 1e-6, "silu");
  expect_grad_near(dg, finite_diff(G, [&](const Vec& v) { return l_sw(v, U); }), 1e-6, "swiglu dg");
  expect_grad_near(du, finite_diff(U, [&](const Vec& v) { return l_sw(G, v); }), 1e-6, "swiglu du");

  // Cross-entropy: mean over counted rows, one ignored row (target -1).
  const int64_t R = 4, V = 11;
  auto logits = randn(size_t(R * V), 11, 3.0f);
  std::vector<int32_t> tgt = {3, -1, 10, 0};
  auto l_ce = [&](const Vec& l) {
    double s = 0;
    for (int64_t i = 0; i < R; ++i) {
      if (tgt[size_t(i)] < 0) continue;
      double m = -1e300, z = 0;
      for (int64_t c = 0; c < V; ++c) m = std::max(m, l[size_t(i * V + c)]);
      for (int64_t c = 0; c < V; ++c) z += std::exp(l[size_t(i * V + c)] - m);
      s += m + std::log(z) - l[size_t(i * V + tgt[size_t(i)])];
    }
    return s / 3.0;
  };
  std::vector<float> dl(logits.size());
  CrossEntropy ce = cross_entropy(ctx, logits.data(), tgt.data(), R, V, 1.0f / 3.0f, dl.data());
  EXPECT_EQ(ce.n_counted, 3);
  EXPECT_NEAR(ce.sum_nll / 3.0, l_ce(to_double(logits)), 1e-6);
  expect_grad_near(dl, finite_diff(to_double(logits), l_ce), 1e-6, "cross-entropy");
}

TEST(GradOps, RopeBackwardIsTheAdjointRotation) {
  const int64_t H = 3, hd = 10, rot = 6;  // partial rotary: 6 of 10 dims
  Rope rope(rot, 10000.0);
  auto x = randn(size_t(H * hd), 12), r = randn(size_t(H * hd), 13);
  for (int64_t pos : {0, 1, 17, 4095}) {
    std::vector<float> rx(x), rt(r);
    rope.apply(rx.data(), H, hd, pos);
    rope_backward(rope, rt.data(), H, hd, pos);
    double a = 0, b = 0;  // <R x, r> = <x, Rᵀ r>
    for (size_t i = 0; i < x.size(); ++i) a += double(rx[i]) * r[i], b += double(x[i]) * rt[i];
    EXPECT_NEAR(a, b, 1e-5 * std::abs(a) + 1e-6) << "pos " << pos;
    for (int64_t h = 0; h < H; ++h)  // dims past rotary_dim pass through
      for (int64_t c = rot; c < hd; ++c) EXPECT_EQ(rt[size_t(h * hd + c)], r[size_t(h * hd + c)]);
  }
}

TEST(GradOps, EmbeddingBackwardScatterAdds) {
  std::vector<int32_t> ids = {2, 0, 2};
  std::vector<float> dout = {1, 2, 3, 4, 5, 6}, table(6, 0.0f);  // 3 tokens x width 2, vocab 3
  embedding_backward(ids.data(), 3, dout.data(), 2, table.data());
  EXPECT_EQ(table, (std::vector<float>{3, 4, 0, 0, 1 + 5, 2 + 6}));
}

// Lightning: one head, T not a multiple of the block, a non-zero initial state and a gradient on
// the final state, against finite differences of the naive form in double.
TEST(GradOps, LightningBlockedBackward) {
  const int64_t T = 37, d = 5, block = 16;
  const float slope = 0.3f;
  auto q = randn(size_t(T * d), 20, 0.5f), k = randn(size_t(T * d), 21, 0.5f), v = randn(size_t(T * d), 22, 0.5f);
  auto s0 = randn(size_t(d * d), 23, 0.5f), dO = randn(size_t(T * d), 24), dSe = randn(size_t(d * d), 25);
  const double lam = std::exp(-double(slope));
  // L = Σ dO ⊙ o + Σ dSe ⊙ S_end, naive double forward.
  auto loss = [&](const Vec& Q, const Vec& K, const Vec& V, const Vec& S0) {
    Vec S(S0);
    double L = 0;
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t i = 0; i < d; ++i)
        for (int64_t c = 0; c < d; ++c) S[size_t(i * d + c)] = lam * S[size_t(i * d + c)] + K[size_t(t * d + i)] * V[size_t(t * d + c)];
      for (int64_t c = 0; c < d; ++c) {
        double o = 0;
        for (int64_t i = 0; i < d; ++i) o += Q[size_t(t * d + i)] * S[size_t(i * d + c)];
        L += dO[size_t(t * d + c)] * o;
      }
    }
    return L + dotv(S, dSe);
  };
  const Vec Q = to_double(q), K = to_double(k), V = to_double(v), S0 = to_double(s0);
  const Vec gq = finite_diff(Q, [&](const Vec& x) { return loss(x, K, V, S0); });
  const Vec gk = finite_diff(K, [&](const Vec& x) { return loss(Q, x, V, S0); });
  const Vec gv = finite_diff(V, [&](const Vec& x) { return loss(Q, K, x, S0); });
  const Vec gs = finite_diff(S0, [&](const Vec& x) { return loss(Q, K, V, x); });

  std::vector<float> o(static_cast<size_t>(T * d)), state(s0), states(static_cast<size_t>(lightning_n_blocks(T, block) * d * d));
  LightningHeadArgs a{q.data(), k.data(), v.data(), d, o.data(), d, T, d, slope, state.data()};
  lightning_forward_train(a, block, states.data());
  // The training forward is lightning_blocked's numbers.
  std::vector<float> o2(o.size()), state2(s0);
  LightningHeadArgs b = a;
  b.o = o2.data();
  b.state = state2.data();
  lightning_blocked(b, block);
  EXPECT_EQ(o, o2);
  EXPECT_EQ(state, state2);
  for (int form = 0; form < 2; ++form) {
    std::vector<float> dq(q.size()), dk(k.size()), dv(v.size()), ds0(s0.size());
    LightningGradArgs g{dO.data(), d, dq.data(), dk.data(), dv.data(), d, dSe.data(), ds0.data()};
    if (form == 0) lightning_backward(a, block, states.data(), g);
    else lightning_backward_ref(a, s0.data(), g);
    const char* f = form == 0 ? "blocked" : "ref";
    SCOPED_TRACE(f);
    expect_grad_near(dq, gq, 1e-5, "dq");
    expect_grad_near(dk, gk, 1e-5, "dk");
    expect_grad_near(dv, gv, 1e-5, "dv");
    expect_grad_near(ds0, gs, 1e-5, "dS0");
  }
}

// Softmax attention with GQA (4 query heads on 2 kv heads), two sequences of an odd length.
TEST(GradOps, AttentionBackward) {
  ExecContext ctx(2);
  const int64_t S = 2, T = 9, H = 4, KV = 2, hd = 6, qw = H * hd, kw = KV * hd, N = S * T;
  const float scale = float(1.0 / std::sqrt(double(hd)));
  auto q = randn(size_t(N * qw), 30), k = randn(size_t(N * kw), 31), v = randn(size_t(N * kw), 32), dO = randn(size_t(N * qw), 33);
  auto forward = [&](const Vec& Q, const Vec& K, const Vec& V) {
    double L = 0;
    for (int64_t s = 0; s < S; ++s)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t t = 0; t < T; ++t) {
          const int64_t g = h / (H / KV), r = s * T + t;
          std::vector<double> p(static_cast<size_t>(t + 1));
          double m = -1e300, z = 0;
          for (int64_t j = 0; j <= t; ++j) {
            double sc = 0;
            for (int64_t c = 0; c < hd; ++c) sc += Q[size_t(r * qw + h * hd + c)] * K[size_t((s * T + j) * kw + g * hd + c)];
            m = std::max(m, p[size_t(j)] = sc * scale);
          }
          for (auto& x : p) z += (x = std::exp(x - m));
          for (int64_t c = 0; c < hd; ++c) {
            double o = 0;
            for (int64_t j = 0; j <= t; ++j) o += p[size_t(j)] / z * V[size_t((s * T + j) * kw + g * hd + c)];
            L += dO[size_t(r * qw + h * hd + c)] * o;
          }
        }
    return L;
  };
  const Vec Q = to_double(q), K = to_double(k), V = to_double(v);
  // The forward's output from the engine's own kernel.
  std::vector<float> o(static_cast<size_t>(N * qw));
  for (int64_t s = 0; s < S; ++s) {
    ContiguousKv kv(k.data() + s * T * kw, v.data() + s * T * kw, T, kw);
    AttentionArgs aa{q.data() + s * T * qw, T, 0, kv.view, H, KV, hd, scale, o.data() + s * T * qw, true};
    attention_causal(ctx, aa);
  }
  for (int form = 0; form < 2; ++form) {
    std::vector<float> dq(q.size()), dk(k.size()), dv(v.size());
    AttentionGradArgs a{q.data(), k.data(), v.data(), o.data(), dO.data(), S, T, H, KV, hd, scale, dq.data(), dk.data(), dv.data()};
    if (form == 0) attention_backward(ctx, a);
    else attention_backward_ref(a);
    SCOPED_TRACE(form == 0 ? "fast" : "ref");
    expect_grad_near(dq, finite_diff(Q, [&](const Vec& x) { return forward(x, K, V); }), 1e-5, "dq");
    expect_grad_near(dk, finite_diff(K, [&](const Vec& x) { return forward(Q, x, V); }), 1e-5, "dk");
    expect_grad_near(dv, finite_diff(V, [&](const Vec& x) { return forward(Q, K, x); }), 1e-5, "dv");
  }
}

// Route weights of the chosen experts for both router kinds, with logits far enough apart that the
// finite differences never change the choice.
TEST(GradOps, RouterBackward) {
  ExecContext ctx(1);
  const int64_t T = 3, E = 7, K = 2;
  std::vector<float> logits(static_cast<size_t>(T * E));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t e = 0; e < E; ++e) logits[size_t(t * E + e)] = 0.37f * float((e * 5 + t * 3) % E) - 1.0f;
  auto r = randn(size_t(T * K), 40);
  for (RouterKind kind : {RouterKind::Softmax, RouterKind::SigmoidBias}) {
    std::vector<int32_t> ids(static_cast<size_t>(T * K));
    std::vector<float> wts(static_cast<size_t>(T * K)), dl(static_cast<size_t>(T * E));
    moe_route(ctx, logits.data(), T, E, K, kind, nullptr, ids.data(), wts.data());
    auto loss = [&](const Vec& l) {
      double L = 0;
      for (int64_t t = 0; t < T; ++t) {
        std::vector<double> sc(static_cast<size_t>(E));
        double m = -1e300, z = 0;
        for (int64_t e = 0; e < E; ++e) m = std::max(m, l[size_t(t * E + e)]);
        for (int64_t e = 0; e < E; ++e) z += std::exp(l[size_t(t * E + e)] - m);
        for (int64_t e = 0; e < E; ++e)
          sc[size_t(e)] = kind == RouterKind::Softmax ? std::exp(l[size_t(t * E + e)] - m) / z
                                                      : 1.0 / (1.0 + std::exp(-l[size_t(t * E + e)]));
        double sum = 0;
        for (int64_t k = 0; k < K; ++k) sum += sc[size_t(ids[size_t(t * K + k)])];
        for (int64_t k = 0; k < K; ++k) L += r[size_t(t * K + k)] * sc[size_t(ids[size_t(t * K + k)])] / sum;
      }
      return L;
    };
    moe_route_backward(logits.data(), T, E, K, kind, ids.data(), r.data(), dl.data());
    expect_grad_near(dl, finite_diff(to_double(logits), loss), 1e-6, kind == RouterKind::Softmax ? "softmax" : "sigmoid");
  }
}

TEST(GradOps, LoadBalancingLoss) {
  const int64_t T = 5, E = 6, K = 2;
  auto l0 = randn(size_t(T * E), 50, 2.0f), l1 = randn(size_t(T * E), 51, 2.0f);
  // Hand check on a case with a known answer: uniform probabilities give f·P summing to K/E each → loss = K.
  std::vector<float> flat(static_cast<size_t>(T * E), 0.0f);
  EXPECT_NEAR(load_balancing_loss({flat.data()}, T, E, K, 1.0f, {}), double(K), 1e-12);
  std::vector<float> d0(l0.size(), 0.0f), d1(l1.size(), 0.0f);
  const double loss = load_balancing_loss({l0.data(), l1.data()}, T, E, K, 0.5f, {d0.data(), d1.data()});
  // Oracle: the counts from the current choice (fixed under small perturbations), P in double.
  std::vector<double> count(static_cast<size_t>(E), 0.0);
  auto probs = [&](const double* l, double* p) {
    double m = -1e300, z = 0;
    for (int64_t e = 0; e < E; ++e) m = std::max(m, l[e]);
    for (int64_t e = 0; e < E; ++e) z += (p[e] = std::exp(l[e] - m));
    for (int64_t e = 0; e < E; ++e) p[e] /= z;
  };
  const Vec L0 = to_double(l0), L1 = to_double(l1);
  for (const Vec* L : {&L0, &L1})
    for (int64_t t = 0; t < T; ++t) {
      double p[6];
      probs(L->data() + t * E, p);
      std::vector<int> ord(static_cast<size_t>(E));
      std::iota(ord.begin(), ord.end(), 0);
      std::sort(ord.begin(), ord.end(), [&](int a, int b) { return p[a] > p[b]; });
      for (int64_t k = 0; k < K; ++k) count[size_t(ord[size_t(k)])] += 1;
    }
  auto oracle = [&](const Vec& A, const Vec& B) {
    std::vector<double> P(static_cast<size_t>(E), 0.0);
    for (const Vec* L : {&A, &B})
      for (int64_t t = 0; t < T; ++t) {
        double p[6];
        probs(L->data() + t * E, p);
        for (int64_t e = 0; e < E; ++e) P[size_t(e)] += p[e];
      }
    double s = 0;
    const double N = 2.0 * T;
    for (int64_t e = 0; e < E; ++e) s += count[size_t(e)] / N * P[size_t(e)] / N;
    return s * E;
  };
  EXPECT_NEAR(loss, oracle(L0, L1), 1e-12);
  Vec g0 = finite_diff(L0, [&](const Vec& x) { return 0.5 * oracle(x, L1); });
  Vec g1 = finite_diff(L1, [&](const Vec& x) { return 0.5 * oracle(L0, x); });
  expect_grad_near(d0, g0, 1e-6, "layer 0");
  expect_grad_near(d1, g1, 1e-6, "layer 1");
}

}  // namespace
}  // namespace mm
