// The int8 prefill GEMM for GGUF block formats (ops/simd/quant_gemm.h): the SIMD tiles against the
// scalar integer reference on odd shapes (rows not a multiple of the 16-row tile, 5..37 activation
// rows, 1..5 blocks) on every Highway target this build generated and this CPU runs, and matmul's
// Int8 prefill against the exact product within the activation rounding bound.
#include <cmath>
#include <cstdio>
#include <vector>

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "ops/act_quant.h"
#include "ops/matmul.h"
#include "ops/quant.h"
#include "ops/simd/quant_gemm.h"
#include "quant_test_util.h"
#include "test_util.h"

namespace mm {
namespace {

constexpr auto& kFormats = test::kQuantFormats;
using test::block_of;
using QW = test::QuantWeight;

using test::random_vec;



// quant_gemm on rows [o0, n_out) gives quant_gemm_ref's bits (one arithmetic, one order: quant_dot.h).
void expect_gemm_matches_ref(DType dt, int64_t n_tok, int64_t n_out, int64_t n_blocks, int64_t o0, uint32_t seed) {
  const int64_t n_in = n_blocks * block_of(dt);
  QW qw(dt, n_out, n_in, seed);
  auto x = random_vec(size_t(n_tok * n_in), seed + 7);
  for (int64_t i = 0; i < n_in; ++i) x[size_t(i)] *= 3.0f;  // one row of larger magnitude
  Arena aq_mem;
  const ActQ8 aq = quantize_act_q8(aq_mem, x.data(), n_in, n_tok, n_in);
  const simd::QGemmAct a = simd::quant_gemm_prepare(aq_mem, dt, aq);
  std::vector<float> got(size_t(n_tok * n_out), -9.0f), ref(size_t(n_tok * n_out), -9.0f);
  Arena scratch;
  simd::quant_gemm(scratch, qw.q(), a, o0, n_out, got.data(), n_out);
  simd::quant_gemm_ref(qw.q(), a, o0, n_out, ref.data(), n_out);
  for (int64_t o = 0; o < n_out; ++o) {
    for (int64_t t = 0; t < n_tok; ++t) {
      const float g = got[size_t(t * n_out + o)], r = ref[size_t(t * n_out + o)];
      if (o < o0) {
        ASSERT_EQ(g, -9.0f) << "wrote outside [o0, o1)";
        continue;
      }
      ASSERT_EQ(g, r) << dtype_name(dt) << " tok " << n_tok << " n_out " << n_out << " blocks "
                                           << n_blocks << " at t=" << t << " o=" << o;
    }
  }
}

TEST(OpsQuantGemm, OddShapesEveryTarget) {
  for (int64_t target : simd::quant_gemm_targets()) {
    hwy::SetSupportedTargetsForTest(target);
    std::fprintf(stderr, "checking target %s\n", hwy::TargetName(target));
    SCOPED_TRACE(hwy::TargetName(target));
    for (DType dt : kFormats) {
      const int64_t max_blocks = block_of(dt) == 32 ? 5 : 2;
      for (int64_t nb = 1; nb <= max_blocks; ++nb)
        for (int64_t n_out : {1, 16, 21, 37})
          for (int64_t n_tok : {5, 12, 13, 24, 37})
            expect_gemm_matches_ref(dt, n_tok, n_out, nb, n_out > 16 ? 3 : 0, uint32_t(nb * 101 + n_out + n_tok));
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}

TEST(OpsQuantGemm, EveryTokenCount) {
  for (DType dt : kFormats)
    for (int64_t n_tok = 5; n_tok <= 37; ++n_tok) expect_gemm_matches_ref(dt, n_tok, 19, 1, 0, uint32_t(n_tok));
}

// matmul() in Int8 mode: each activation is off by at most half its block scale, so
// |y − exact| <= Σ_k |w_k| · d_x(k) / 2 (plus float slack).
void expect_int8_matmul_within_bound(ExecContext& ctx, DType dt, int64_t n_tok, int64_t n_out, int64_t n_in, uint32_t seed) {
  QW qw(dt, n_out, n_in, seed);
  auto x = random_vec(size_t(n_tok * n_in), seed + 1);
  std::vector<float> y(size_t(n_tok * n_out), NAN);
  ctx.set_math(MathMode{QuantMath::Int8});
  matmul(ctx, x.data(), n_tok, qw.w, y.data());
  Arena aq_mem;
  const ActQ8 aq = quantize_act_q8(aq_mem, x.data(), n_in, n_tok, n_in);
  std::vector<float> row(static_cast<size_t>(n_in));
  for (int64_t o = 0; o < n_out; ++o) {
    dequantize_row(dt, qw.w.row(o), row.data(), n_in);
    for (int64_t t = 0; t < n_tok; ++t) {
      double exact = 0, bound = 0, mag = 0;
      for (int64_t k = 0; k < n_in; ++k) {
        exact += double(x[size_t(t * n_in + k)]) * row[size_t(k)];
        mag += std::fabs(double(x[size_t(t * n_in + k)]) * row[size_t(k)]);
        bound += std::fabs(double(row[size_t(k)])) * aq.d[(t * (n_in / 32) + k / 32)] * 0.5;
      }
      ASSERT_NEAR(y[size_t(t * n_out + o)], exact, 1.001 * bound + 1e-5 * mag + 1e-6)
          << dtype_name(dt) << " t=" << t << " o=" << o;
    }
  }
}

TEST(OpsQuantGemm, MatmulInt8WithinRoundingBound) {
  ExecContext ctx(2);
  for (DType dt : kFormats) {
    expect_int8_matmul_within_bound(ctx, dt, 37, 131, 2 * block_of(dt), 41);
    expect_int8_matmul_within_bound(ctx, dt, 6, 20, block_of(dt), 42);
  }
}

// matmul_shared (one quantisation for several weights, mixed formats and a plain f32 weight) gives
// exactly what separate matmul calls give.
TEST(OpsQuantGemm, SharedInputEqualsSeparateMatmuls) {
  ExecContext ctx(2);
  ctx.set_math(MathMode{QuantMath::Int8});
  const int64_t n_tok = 29, n_in = 512;
  QW a(DType::Q8_0, 70, n_in, 1), b(DType::Q4_K, 33, n_in, 2), c(DType::Q8_0, 16, n_in, 3);
  std::vector<float> fw = random_vec(size_t(5 * n_in), 4);
  Weight f;
  f.dtype = DType::F32;
  f.n_out = 5;
  f.n_in = n_in;
  f.data = reinterpret_cast<const uint8_t*>(fw.data());
  f.row_bytes = size_t(n_in) * 4;
  auto x = random_vec(size_t(n_tok * n_in), 5);
  std::vector<const Weight*> ws = {&a.w, &b.w, &c.w, &f};
  std::vector<std::vector<float>> shared(ws.size()), sep(ws.size());
  for (size_t i = 0; i < ws.size(); ++i) {
    shared[i].assign(size_t(n_tok * ws[i]->n_out), NAN);
    sep[i].assign(size_t(n_tok * ws[i]->n_out), NAN);
    matmul(ctx, x.data(), n_tok, *ws[i], sep[i].data());
  }
  matmul_shared(ctx, x.data(), n_tok, {{ws[0], shared[0].data()}, {ws[1], shared[1].data()}, {ws[2], shared[2].data()},
                                  {ws[3], shared[3].data()}});
  for (size_t i = 0; i < ws.size(); ++i) EXPECT_EQ(shared[i], sep[i]) << "weight " << i;
}

}  // namespace
}  // namespace mm
