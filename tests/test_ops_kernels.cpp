// The optimised ops against their scalar references on awkward shapes: lengths that are not a multiple
// of any vector width, odd row counts, 1..17 activation rows, pointers off vector alignment.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "ops/attention.h"
#include "ops/basic.h"
#include "ops/lightning.h"
#include "ops/matmul.h"
#include "ops/moe.h"
#include "ops/simd/kernels.h"
#include "test_util.h"

namespace mm {
namespace {

using test::random_vec;

// A weight of the given dtype with random contents, its rows starting `misalign` bytes past an
// aligned address (a multiple of the element size, so scalar element access stays legal).
struct TestWeight {
  std::vector<uint8_t> bytes;
  std::vector<float> scales;
  Weight w;
  TestWeight(DType dt, int64_t n_out, int64_t n_in, uint32_t seed, size_t misalign, int64_t scale_block = 0) {
    const size_t es = dt == DType::F32 ? 4 : dt == DType::F8_E4M3 ? 1 : 2;
    bytes.resize(size_t(n_out * n_in) * es + 128);
    uint8_t* base = bytes.data() + (64 - reinterpret_cast<uintptr_t>(bytes.data()) % 64) % 64;
    uint8_t* p = base + misalign;
    auto vals = random_vec(size_t(n_out * n_in), seed);
    for (size_t i = 0; i < vals.size(); ++i) {
      if (dt == DType::F32) std::memcpy(p + 4 * i, &vals[i], 4);
      else if (dt == DType::BF16 || dt == DType::F16) {
        uint16_t h = dt == DType::BF16 ? f32_to_bf16(vals[i]) : f32_to_f16(vals[i]);
        std::memcpy(p + 2 * i, &h, 2);
      } else {
        uint8_t c = uint8_t(std::mt19937(seed + uint32_t(i))() & 0xff);
        if ((c & 0x7f) == 0x7f) c ^= 1;  // skip the NaN codes
        p[i] = c;
      }
    }
    w.dtype = dt;
    w.n_out = n_out;
    w.n_in = n_in;
    w.data = p;
    w.row_bytes = size_t(n_in) * es;
    if (scale_block > 0) {
      const int64_t nb_o = (n_out + scale_block - 1) / scale_block, nb_i = (n_in + scale_block - 1) / scale_block;
      scales = random_vec(size_t(nb_o * nb_i), seed + 7, 0.01f, 0.1f);
      w.scale = scales.data();
      w.scale_bn = scale_block;
      w.scale_bk = scale_block;
    }
  }
};

// |y - ref| <= rel * Σ_k |x_k w_k| + abs, per output.
void expect_matmul_close(ExecContext& ctx, DType dt, int64_t n_rows, int64_t n_out, int64_t n_in, int64_t scale_block, uint32_t seed) {
  TestWeight tw(dt, n_out, n_in, seed, dt == DType::F32 ? 4 : dt == DType::F8_E4M3 ? 3 : 6, scale_block);
  std::vector<float> xbuf = random_vec(size_t(n_rows * n_in) + 1, seed + 1);
  const float* x = xbuf.data() + 1;  // off vector alignment
  std::vector<float> y(size_t(n_rows * n_out)), ref(y.size());
  matmul(ctx, x, n_rows, tw.w, y.data());
  matmul_ref(x, n_rows, tw.w, ref.data());
  std::vector<float> row(static_cast<size_t>(n_in));
  for (int64_t o = 0; o < n_out; ++o) {
    weight_row_to_f32(tw.w, o, row.data());
    for (int64_t t = 0; t < n_rows; ++t) {
      double mag = 0;
      for (int64_t k = 0; k < n_in; ++k) mag += std::fabs(double(x[t * n_in + k]) * row[size_t(k)]);
      ASSERT_NEAR(y[size_t(t * n_out + o)], ref[size_t(t * n_out + o)], 2e-6 * mag + 1e-6)
          << dtype_name(dt) << " rows " << n_rows << " n_out " << n_out << " n_in " << n_in << " at t=" << t
          << " o=" << o;
    }
  }
}

TEST(OpsKernels, MatmulPlainTypesOddShapes) {
  ExecContext ctx(3);  // uneven split of the row groups
  for (DType dt : {DType::F32, DType::BF16, DType::F16})
    for (int64_t n_in : {1, 7, 33, 130, 257})
      for (int64_t n_out : {1, 5, 17, 38})
        for (int64_t rows : {1, 2, 3, 4, 5, 9, 16, 17}) expect_matmul_close(ctx, dt, rows, n_out, n_in, 0, uint32_t(n_in * 31 + n_out));
}

TEST(OpsKernels, MatmulFp8BlockScales) {
  ExecContext ctx(2);
  // 128-blocks (the checkpoints' layout, scales in registers) and 16 / 5 blocks (5 takes the
  // dequantise-to-buffer fallback).
  for (int64_t blk : {128, 16, 5})
    for (int64_t n_in : {16, 33, 130, 300})
      for (int64_t rows : {1, 3, 4, 17}) expect_matmul_close(ctx, DType::F8_E4M3, rows, 37, n_in, blk, uint32_t(blk + n_in));
}

// Every instruction set this build generated and this CPU runs (AVX-512, AVX2, SSE4, scalar, ...),
// forced one at a time, must agree with the scalar references too.
TEST(OpsKernels, EveryTargetMatchesReference) {
  ExecContext ctx(2);
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(simd::target_name());
    std::fprintf(stderr, "checking target %s\n", simd::target_name());
    for (DType dt : {DType::F32, DType::BF16, DType::F16})
      for (int64_t rows : {1, 4, 7, 9, 20}) expect_matmul_close(ctx, dt, rows, 21, 67, 0, 3);
    expect_matmul_close(ctx, DType::F8_E4M3, 5, 21, 256, 128, 4);
    expect_matmul_close(ctx, DType::F8_E4M3, 19, 40, 384, 128, 5);
    auto a = random_vec(77, 1), b = random_vec(77, 2);
    double ref = 0;
    for (size_t i = 0; i < 77; ++i) ref += double(a[i]) * b[i];
    EXPECT_NEAR(simd::dot(a.data(), b.data(), 77), ref, 1e-5);
  }
  hwy::SetSupportedTargetsForTest(0);
}

TEST(OpsKernels, MatmulManyRowsTiles) {
  ExecContext ctx(2);
  // More rows than one x block (64) and n_out not a multiple of the 16-row groups.
  expect_matmul_close(ctx, DType::BF16, 150, 45, 200, 0, 99);
  expect_matmul_close(ctx, DType::F32, 70, 19, 1030, 0, 98);
}

TEST(OpsKernels, SimdHelpers) {
  auto a = random_vec(301, 1), b = random_vec(301, 2);
  for (int64_t n : {0, 1, 15, 16, 17, 63, 300}) {
    double ref = 0, s = 0;
    for (int64_t i = 0; i < n; ++i) ref += double(a[size_t(i) + 1]) * b[size_t(i)], s += a[size_t(i) + 1];
    EXPECT_NEAR(simd::dot(a.data() + 1, b.data(), n), ref, 1e-5);
    EXPECT_NEAR(simd::sum(a.data() + 1, n), s, 1e-5);
    std::vector<float> y(b.begin(), b.begin() + n), y2 = y;
    simd::axpy(0.5f, a.data() + 1, y.data(), n);
    for (int64_t i = 0; i < n; ++i) EXPECT_FLOAT_EQ(y[size_t(i)], y2[size_t(i)] + 0.5f * a[size_t(i) + 1]);
  }
}

// The attention-decode value sum against its plain loop on odd sizes (groups not a multiple of 4,
// widths not a multiple of any vector, strided rows), every Highway target.
TEST(OpsKernels, WeightedRowSumMatchesReference) {
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(hwy::TargetName(target));
    for (int64_t groups : {1, 3, 4, 6, 9})
      for (int64_t n : {1, 7, 16, 33, 128})
        for (int64_t keys : {1, 5, 64}) {
          const int64_t ldp = keys + 3, ldv = n + 5;
          auto p = random_vec(size_t(groups * ldp), uint32_t(groups + n), 0.0f, 1.0f);
          auto v = random_vec(size_t(keys * ldv), uint32_t(keys + n));
          auto acc = random_vec(size_t(groups * n), 7), ref = acc;
          simd::weighted_row_sum(p.data(), ldp, groups, v.data(), ldv, keys, acc.data(), n);
          simd::weighted_row_sum_ref(p.data(), ldp, groups, v.data(), ldv, keys, ref.data(), n);
          for (size_t i = 0; i < acc.size(); ++i) ASSERT_NEAR(acc[i], ref[i], 1e-5f * (1 + keys)) << groups << " " << n << " " << keys;
        }
  }
  hwy::SetSupportedTargetsForTest(0);
}

struct LightningCase {
  int64_t d, n, block;
};

TEST(OpsKernels, LightningBlockedAndRecurrentMatchNaive) {
  for (LightningCase c : {LightningCase{16, 1, 4}, {33, 17, 7}, {33, 40, 16}, {64, 70, 32}, {20, 9, 256}}) {
    const int64_t stride = 3 * c.d + 5, o_stride = c.d + 3;
    auto qkv = random_vec(size_t(c.n * stride), uint32_t(c.d + c.n), -0.5f, 0.5f);
    auto s0 = random_vec(size_t(c.d * c.d), 5, -0.2f, 0.2f);
    for (float slope : {0.05f, 0.9f}) {
      std::vector<float> o_ref(size_t(c.n * o_stride)), o(o_ref.size()), s_ref = s0;
      LightningHeadArgs ref{qkv.data(), qkv.data() + c.d, qkv.data() + 2 * c.d, stride, o_ref.data(), o_stride, c.n, c.d,
                            slope, s_ref.data()};
      lightning_naive(ref);
      for (int form = 0; form < 2; ++form) {
        std::vector<float> st = s0;
        std::fill(o.begin(), o.end(), 0.0f);
        LightningHeadArgs a = ref;
        a.o = o.data();
        a.state = st.data();
        if (form == 0) lightning_blocked(a, c.block);
        else lightning_recurrent(a);
        for (int64_t t = 0; t < c.n; ++t)
          for (int64_t j = 0; j < c.d; ++j)
            ASSERT_NEAR(o[size_t(t * o_stride + j)], o_ref[size_t(t * o_stride + j)], 2e-4)
                << "form " << form << " d " << c.d << " n " << c.n << " t " << t;
        for (size_t i = 0; i < st.size(); ++i) ASSERT_NEAR(st[i], s_ref[i], 2e-4) << "state form " << form;
      }
    }
  }
}

// The softmax helpers of the attention tiles: max and in-place exp(x - shift) with its sum.
TEST(OpsKernels, MaxAndExpShiftSum) {
  for (int64_t n = 0; n <= 41; ++n) {
    auto x = random_vec(size_t(n), uint32_t(n + 5), -20, 5);
    float want_max = -INFINITY;
    for (float v : x) want_max = std::max(want_max, v);
    EXPECT_EQ(simd::max_value(x.data(), n), want_max) << n;
    const float shift = 3.0f;
    double want_sum = 0;
    std::vector<float> e(x.size());
    for (size_t i = 0; i < x.size(); ++i) want_sum += (e[i] = std::exp(x[i] - shift));
    const float got_sum = simd::exp_shift_sum(x.data(), n, shift);
    for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(x[i], e[i], 2e-6f * e[i]) << n << " " << i;
    EXPECT_NEAR(got_sum, want_sum, 1e-5 * want_sum + 1e-30) << n;
  }
}

TEST(OpsKernels, AttentionMatchesReference) {
  ExecContext ctx(2);
  for (int64_t hd : {24, 65})
    for (int64_t n_q : {1, 5, 17, 70})  // >= 16: blocked prefill path (70: several blocks, last partial)
      for (int64_t pos0 : {0, 3, 130}) {
        const int64_t H = 6, KV = 2, n_keys = pos0 + n_q;
        auto q = random_vec(size_t(n_q * H * hd), 1);
        auto k = random_vec(size_t(n_keys * KV * hd), 2, -2, 2);
        auto v = random_vec(size_t(n_keys * KV * hd), 3);
        std::vector<float> out(q.size()), ref(q.size());
        ContiguousKv kv(k.data(), v.data(), n_keys, KV * hd);
        AttentionArgs a{q.data(), n_q, pos0, kv.view, H, KV, hd, float(1 / std::sqrt(double(hd))), out.data()};
        attention_causal(ctx, a);
        a.out = ref.data();
        attention_causal_ref(a);
        for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], ref[i], 1e-5) << hd << " " << n_q << " " << pos0;
      }
}

// MoE against a reference assembled from matmul_ref, for decode-sized (parallel across experts) and
// prefill-sized (parallel within each expert) token counts.
TEST(OpsKernels, MoeMatchesReference) {
  ExecContext ctx(2);
  const int64_t hidden = 37, inter = 45, E = 5, top_k = 2;
  std::vector<TestWeight> store;
  store.reserve(3 * E + 1);
  MoeLayerWeights w;
  store.emplace_back(DType::F32, E, hidden, 11, 0);
  w.router = store.back().w;
  for (int64_t e = 0; e < E; ++e) {
    store.emplace_back(DType::BF16, inter, hidden, uint32_t(20 + e), 2);
    w.w1.push_back(store.back().w);
    store.emplace_back(DType::BF16, inter, hidden, uint32_t(40 + e), 0);
    w.w3.push_back(store.back().w);
    store.emplace_back(DType::BF16, hidden, inter, uint32_t(60 + e), 2);
    w.w2.push_back(store.back().w);
  }
  for (int64_t T : {1, 3, 40}) {
    auto x = random_vec(size_t(T * hidden), uint32_t(T));
    std::vector<float> out(size_t(T * hidden)), ref(out.size(), 0.0f), logits(size_t(T * E));
    moe_forward(ctx, x.data(), T, hidden, w, top_k, RouterKind::Softmax, out.data());
    matmul_ref(x.data(), T, w.router, logits.data());
    std::vector<int32_t> ids(size_t(T * top_k));
    std::vector<float> wts(ids.size()), g(static_cast<size_t>(inter)), u(static_cast<size_t>(inter)), y(static_cast<size_t>(hidden));
    moe_route(ctx, logits.data(), T, E, top_k, RouterKind::Softmax, nullptr, ids.data(), wts.data());
    for (int64_t t = 0; t < T; ++t)
      for (int64_t k = 0; k < top_k; ++k) {
        const auto e = size_t(ids[size_t(t * top_k + k)]);
        matmul_ref(x.data() + t * hidden, 1, w.w1[e], g.data());
        matmul_ref(x.data() + t * hidden, 1, w.w3[e], u.data());
        for (int64_t i = 0; i < inter; ++i) g[size_t(i)] = g[size_t(i)] / (1 + std::exp(-g[size_t(i)])) * u[size_t(i)];
        matmul_ref(g.data(), 1, w.w2[e], y.data());
        for (int64_t c = 0; c < hidden; ++c) ref[size_t(t * hidden + c)] += wts[size_t(t * top_k + k)] * y[size_t(c)];
      }
    for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], ref[i], 1e-4) << "T " << T << " i " << i;
  }
}

}  // namespace
}  // namespace mm

namespace mm {
namespace {

TEST(OpsKernels, FusedNormGateMatchesUnfused) {
  ExecContext ctx(2);
  for (int64_t rows : {1, 3, 70}) {
    const int64_t n = 1031;  // rows * n crosses the threading threshold for 70 rows
    auto x = random_vec(size_t(rows * n), 1), w = random_vec(size_t(n), 2), g = random_vec(size_t(rows * n), 3, -4, 4);
    std::vector<float> fused(x.size()), ref(x.size()), gate = g;
    rms_norm_sigmoid_gate(ctx, x.data(), w.data(), rows, n, 1e-6, g.data(), fused.data());
    rms_norm(ctx, x.data(), w.data(), rows, n, 1e-6, ref.data());
    sigmoid_inplace(ctx, gate.data(), rows * n);
    for (size_t i = 0; i < ref.size(); ++i) ASSERT_FLOAT_EQ(fused[i], ref[i] * gate[i]);
  }
}

}  // namespace
}  // namespace mm
