// The int8-activation kernels (ops/simd/quant_dot.h, ops/act_quant.h) against their scalar references:
// the SIMD activation quantiser gives the reference's bytes; the SIMD gemv equals the scalar integer
// reference up to float summation order, for every block format, odd output counts, 1..7 activation
// rows (rows taken from the middle of a bigger ActQ8), 1..5 blocks per row, unaligned weight rows,
// output sub-ranges, and every Highway target this build generated and this CPU runs (forced one at a
// time, AVX-512 VNNI included).
#define HWY_WANT_AVX3_DL  // as in quant_dot_hwy.cpp, so the AVX3_DL target is listed and forced too
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "ops/act_quant.h"
#include "ops/matmul.h"
#include "ops/quant.h"
#include "ops/simd/quant_dot.h"
#include "ops/simd/quant_gemm.h"
#include "quant_test_util.h"
#include "test_util.h"

namespace mm {
namespace {

constexpr auto& kFormats = test::kQuantFormats;
using test::QuantWeight;
using test::block_of;

using test::random_vec;



// Activations with one all-zero block and blocks of very different magnitude.
std::vector<float> activations(int64_t n_rows, int64_t n_in, uint32_t seed) {
  auto x = random_vec(size_t(n_rows * n_in), seed, -2.0f, 2.0f);
  for (int64_t i = 0; i < n_rows * n_in; ++i) x[size_t(i)] *= float(1 + (i / 32) % 5) * 0.7f;
  if (n_in >= 64) std::fill(x.begin() + 32, x.begin() + 64, 0.0f);
  return x;
}

void expect_quantizer_equal(int64_t n_rows, int64_t n_in, uint32_t seed) {
  const int64_t ldx = n_in + 5;  // row stride > n_in
  auto x = activations(n_rows, ldx, seed);
  Arena got_mem;
  const ActQ8 got = quantize_act_q8(got_mem, x.data(), ldx, n_rows, n_in);
  const int64_t nb = n_in / kActBlock;
  std::vector<int8_t> q(static_cast<size_t>(n_in));
  std::vector<float> d(static_cast<size_t>(nb));
  std::vector<int32_t> s(static_cast<size_t>(nb));
  for (int64_t t = 0; t < n_rows; ++t) {
    quantize_act_q8_ref(x.data() + t * ldx, n_in, q.data(), d.data(), s.data());
    ASSERT_EQ(0, std::memcmp(q.data(), got.q + t * n_in, size_t(n_in))) << "row " << t;
    ASSERT_EQ(0, std::memcmp(d.data(), got.d + t * nb, size_t(nb) * 4)) << "row " << t;
    ASSERT_EQ(0, std::memcmp(s.data(), got.s + t * nb, size_t(nb) * 4)) << "row " << t;
  }
}

// quant_gemv_q8 on rows [t0, t0 + n_rows) of a 9-row ActQ8 and outputs [o0, o1) gives the reference's
// bits (quant_dot.h: one arithmetic, one order), and so does the int8 GEMM on the same rows (batch
// invariance: a row decoded alone equals the same row in a prefill batch).
void expect_gemv_close(DType dt, int64_t n_rows, int64_t n_out, int64_t n_blocks, uint32_t seed, bool subrange) {
  const int64_t n_in = n_blocks * block_of(dt), t0 = 2;
  QuantWeight qw(dt, n_out, n_in, seed);
  const simd::QMatrix m{dt, qw.w.data, qw.w.row_bytes, n_in};
  auto xf = activations(t0 + n_rows + 2, n_in, seed + 7);
  Arena x_mem;
  const ActQ8 x = quantize_act_q8(x_mem, xf.data(), n_in, t0 + n_rows + 2, n_in);
  const int64_t o0 = subrange ? n_out / 3 : 0, o1 = subrange ? n_out - n_out / 4 : n_out;
  std::vector<float> got(size_t(n_rows * n_out), -7.0f), ref(size_t(n_rows * n_out), -7.0f),
      gemm(size_t(n_rows * n_out), -7.0f);
  Arena scratch;
  simd::quant_gemv_q8(scratch, x, t0, n_rows, m, o0, o1, got.data(), n_out);
  simd::quant_gemv_q8_ref(x, t0, n_rows, m, o0, o1, ref.data(), n_out);
  const simd::QGemmAct a = simd::quant_gemm_prepare(x_mem, dt, x.rows(t0, n_rows));
  simd::quant_gemm(scratch, m, a, o0, o1, gemm.data(), n_out);
  for (int64_t o = 0; o < n_out; ++o) {
    for (int64_t t = 0; t < n_rows; ++t) {
      const size_t i = size_t(t * n_out + o);
      if (o < o0 || o >= o1) {
        ASSERT_EQ(got[i], -7.0f) << "wrote outside [o0, o1)";
        continue;
      }
      ASSERT_EQ(got[i], ref[i]) << dtype_name(dt) << " rows " << n_rows << " n_out " << n_out << " blocks "
                                << n_blocks << " t=" << t << " o=" << o;
      ASSERT_EQ(gemm[i], got[i]) << dtype_name(dt) << " (GEMM) rows " << n_rows << " n_out " << n_out << " blocks "
                                 << n_blocks << " t=" << t << " o=" << o;
    }
  }
}

void check_all_shapes() {
  for (DType dt : kFormats)
    for (int64_t nb = 1; nb <= 5; ++nb)
      for (int64_t n_out : {1, 17, 37})
        for (int64_t rows = 1; rows <= 7; ++rows)
          expect_gemv_close(dt, rows, n_out, nb, uint32_t(rows * 131 + n_out * 7 + nb), n_out > 1 && rows % 2 == 0);
}

TEST(QuantDot, QuantizerMatchesReference) {
  for (int64_t n_in : {32, 96, 160, 1024}) expect_quantizer_equal(3, n_in, uint32_t(n_in));
}

TEST(QuantDot, GemvMatchesReference) { check_all_shapes(); }

// The reference itself against f32 math on the dequantised weights and activations: same value up
// to float rounding (it is the int8 product of the dequantised operands, nothing else).
TEST(QuantDot, ReferenceIsTheDequantisedProduct) {
  for (DType dt : kFormats) {
    const int64_t n_in = 2 * block_of(dt), n_out = 9;
    QuantWeight qw(dt, n_out, n_in, 5);
    auto xf = activations(1, n_in, 6);
    Arena x_mem;
    const ActQ8 x = quantize_act_q8(x_mem, xf.data(), n_in, 1, n_in);
    std::vector<float> y(static_cast<size_t>(n_out)), wrow(static_cast<size_t>(n_in));
    simd::quant_gemv_q8_ref(x, 0, 1, {dt, qw.w.data, qw.w.row_bytes, n_in}, 0, n_out, y.data(), n_out);
    for (int64_t o = 0; o < n_out; ++o) {
      dequantize_row(dt, qw.w.row(o), wrow.data(), n_in);
      double ref = 0, mag = 0;
      for (int64_t k = 0; k < n_in; ++k) {
        const double xv = double(x.d[k / 32]) * x.q[size_t(k)];
        ref += xv * wrow[size_t(k)];
        mag += std::fabs(xv * wrow[size_t(k)]);
      }
      EXPECT_NEAR(y[size_t(o)], ref, 1e-5 * mag + 1e-6) << dtype_name(dt) << " o=" << o;
    }
  }
}

TEST(QuantDot, EveryTargetMatchesReference) {
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    std::fprintf(stderr, "checking target %s\n", hwy::TargetName(target));
    SCOPED_TRACE(hwy::TargetName(target));
    expect_quantizer_equal(2, 160, 3);
    check_all_shapes();
  }
  hwy::SetSupportedTargetsForTest(0);
}

// matmul / matmul_rows under Int8: the same numbers as the kernel, whether x is quantised by matmul,
// by matmul_rows itself or handed in pre-quantised (rows taken from the middle of a bigger ActQ8).
TEST(QuantDot, MatmulInt8Paths) {
  ExecContext ctx(2);
  ctx.set_math(MathMode{QuantMath::Int8});
  for (DType dt : kFormats)
    for (int64_t rows : {1, 3, 4}) {
      const int64_t n_in = 2 * block_of(dt), n_out = 45;
      QuantWeight qw(dt, n_out, n_in, 41);
      auto xf = activations(rows + 3, n_in, 42);
      Arena xq_mem;
      const ActQ8 xq = quantize_act_q8(xq_mem, xf.data(), n_in, rows + 3, n_in);
      const float* x = xf.data() + 2 * n_in;  // rows 2 .. 2 + rows of xq
      std::vector<float> want(size_t(rows * n_out)), a(size_t(rows * n_out)), b(size_t(rows * n_out), -7.0f),
          c(size_t(rows * n_out), -7.0f);
      simd::quant_gemv_q8_ref(xq, 2, rows, {dt, qw.w.data, qw.w.row_bytes, n_in}, 0, n_out, want.data(), n_out);
      matmul(ctx, x, rows, qw.w, a.data());
      matmul_rows(ctx, 0, x, rows, qw.w, 5, 33, b.data());
      matmul_rows(ctx, 0, x, rows, qw.w, 5, 33, c.data(), &xq, 2);
      // Rows quantised locally follow the weight's width: the same floats seen as one longer row.
      if (rows == 4 && n_in % 64 == 0) {
        QuantWeight wide(dt, 3, 2 * n_in, 43);
        std::vector<float> yw(size_t(2 * 3), NAN), yref(size_t(2 * 3));
        matmul_rows(ctx, 0, x, 2, wide.w, 0, 3, yw.data());
        Arena xq2_mem;
        const ActQ8 xq2 = quantize_act_q8(xq2_mem, x, 2 * n_in, 2, 2 * n_in);
        simd::quant_gemv_q8_ref(xq2, 0, 2, {dt, wide.w.data, wide.w.row_bytes, 2 * n_in}, 0, 3, yref.data(), 3);
        for (size_t i = 0; i < yw.size(); ++i) EXPECT_NEAR(yw[i], yref[i], 1e-5f * (1 + std::fabs(yref[i])));
      }
      for (int64_t t = 0; t < rows; ++t)
        for (int64_t o = 0; o < n_out; ++o) {
          const size_t i = size_t(t * n_out + o);
          const float tol = 1e-5f * (1 + std::fabs(want[i]));
          EXPECT_NEAR(a[i], want[i], tol) << dtype_name(dt);
          if (o < 5 || o >= 33) {
            EXPECT_EQ(b[i], -7.0f);
            EXPECT_EQ(c[i], -7.0f);
          } else {
            EXPECT_NEAR(b[i], want[i], tol) << dtype_name(dt);
            EXPECT_NEAR(c[i], want[i], tol) << dtype_name(dt);
          }
        }
    }
}

}  // namespace
}  // namespace mm
