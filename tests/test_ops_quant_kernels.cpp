// The SIMD GGUF block-format kernels (ops/simd/quant_kernels.h) and matmul's block-format path against
// the scalar reference (ops/quant.h dequantize_row + a double-precision dot): odd output counts, 1..17
// and 100 activation rows, several blocks per row, unaligned weight and activation pointers, and every
// Highway target this build generated and this CPU runs, forced one at a time.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "ops/act_quant.h"
#include "ops/matmul.h"
#include "ops/quant.h"
#include "ops/simd/quant_kernels.h"
#include "quant_test_util.h"
#include "test_util.h"

namespace mm {
namespace {

// These tests check the exact path (weights dequantised to f32, f32 arithmetic), not the int8-activation
// default (tests/test_quant_int8.cpp covers that one).
const MathMode kExact{QuantMath::Exact};

constexpr auto& kFormats = test::kQuantFormats;
using test::QuantWeight;
using test::block_of;

using test::random_vec;


// |y - ref| <= 2e-6 * Σ_k |x_k w_k| + 1e-6 per output, ref = dequantize_row + double dot.
void expect_quant_matmul_close(ExecContext& ctx, DType dt, int64_t n_rows, int64_t n_out, int64_t n_in, uint32_t seed) {
  ASSERT_TRUE(ctx.math().exact());  // the exact path (Int8 prefill: test_ops_quant_gemm.cpp)
  QuantWeight qw(dt, n_out, n_in, seed);
  std::vector<float> xbuf = random_vec(size_t(n_rows * n_in) + 1, seed + 1);
  const float* x = xbuf.data() + 1;  // off vector alignment
  std::vector<float> y(size_t(n_rows * n_out), NAN);
  matmul(ctx, x, n_rows, qw.w, y.data());
  std::vector<float> row(static_cast<size_t>(n_in));
  for (int64_t o = 0; o < n_out; ++o) {
    dequantize_row(dt, qw.w.row(o), row.data(), n_in);
    for (int64_t t = 0; t < n_rows; ++t) {
      double ref = 0, mag = 0;
      for (int64_t k = 0; k < n_in; ++k) {
        ref += double(x[t * n_in + k]) * row[size_t(k)];
        mag += std::fabs(double(x[t * n_in + k]) * row[size_t(k)]);
      }
      ASSERT_NEAR(y[size_t(t * n_out + o)], ref, 2e-6 * mag + 1e-6)
          << dtype_name(dt) << " rows " << n_rows << " n_out " << n_out << " n_in " << n_in << " at t=" << t
          << " o=" << o;
    }
  }
}

// The SIMD dequantiser gives dequantize_row's values (bit for bit up to FMA contraction of d*q - m).
void expect_dequant_equal(DType dt, int64_t n_out, int64_t n_in, uint32_t seed) {
  QuantWeight qw(dt, n_out, n_in, seed);
  const simd::QMatrix q{dt, qw.w.data, qw.w.row_bytes, n_in};
  std::vector<float> got(static_cast<size_t>(n_out * n_in)), ref(static_cast<size_t>(n_in));
  simd::quant_dequant_rows(q, 0, n_out, got.data());
  for (int64_t o = 0; o < n_out; ++o) {
    dequantize_row(dt, qw.w.row(o), ref.data(), n_in);
    for (int64_t k = 0; k < n_in; ++k)
      ASSERT_NEAR(got[size_t(o * n_in + k)], ref[size_t(k)], 4e-7f * std::fabs(ref[size_t(k)]) + 1e-30f)
          << dtype_name(dt) << " row " << o << " k " << k;
  }
}


TEST(OpsQuantKernels, DequantMatchesReference) {
  for (DType dt : kFormats) expect_dequant_equal(dt, 5, 3 * block_of(dt), uint32_t(block_of(dt)));
}

TEST(OpsQuantKernels, DecodeRowsOddShapes) {
  ExecContext ctx(3, kExact);  // uneven split of the row groups
  for (DType dt : kFormats)
    for (int64_t nb : {1, 3})
      for (int64_t n_out : {1, 17, 37})
        for (int64_t rows = 1; rows <= 17; ++rows)
          expect_quant_matmul_close(ctx, dt, rows, n_out, nb * block_of(dt), uint32_t(rows * 131 + n_out + nb));
}

TEST(OpsQuantKernels, PrefillRows) {
  ExecContext ctx(2, kExact);
  for (DType dt : kFormats) {
    expect_quant_matmul_close(ctx, dt, 100, 37, 5 * block_of(dt), 11);
    expect_quant_matmul_close(ctx, dt, 100, 131, 2 * block_of(dt), 12);  // more than one 64-row panel
  }
}

TEST(OpsQuantKernels, MatmulRowsSubrange) {
  ExecContext ctx(1, kExact);
  for (DType dt : kFormats)
    for (int64_t rows : {1, 4, 20}) {
      QuantWeight qw(dt, 50, 2 * block_of(dt), 21);
      auto x = random_vec(size_t(rows * qw.w.n_in), 22);
      std::vector<float> all(size_t(rows * 50)), part(size_t(rows * 50), -7.0f);
      matmul(ctx, x.data(), rows, qw.w, all.data());
      matmul_rows(ctx, 0, x.data(), rows, qw.w, 13, 41, part.data());
      for (int64_t t = 0; t < rows; ++t)
        for (int64_t o = 0; o < 50; ++o) {
          const float v = part[size_t(t * 50 + o)];
          if (o < 13 || o >= 41) EXPECT_EQ(v, -7.0f) << "wrote outside [o0, o1)";
          else EXPECT_NEAR(v, all[size_t(t * 50 + o)], 1e-5f * (1 + std::fabs(v)));
        }
    }
}

TEST(OpsQuantKernels, EveryTargetMatchesReference) {
  ExecContext ctx(2, kExact);
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    std::fprintf(stderr, "checking target %s\n", hwy::TargetName(target));
    SCOPED_TRACE(hwy::TargetName(target));
    for (DType dt : kFormats) {
      expect_dequant_equal(dt, 3, 2 * block_of(dt), 31);
      for (int64_t rows : {1, 2, 3, 4, 5, 17, 20}) expect_quant_matmul_close(ctx, dt, rows, 21, 2 * block_of(dt), 32);
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}

}  // namespace
}  // namespace mm
