// The AVX512_BF16 GEMM for 16-bit float weights (ops/simd/bf16_gemm.h) against its scalar reference on
// odd shapes (rows not a multiple of the 32-row panel, token counts around the 8 / 4 / 1 tiles, n_in
// around the 16-pair transpose), and matmul's fast mode against the exact product within the bf16
// rounding bound. Skipped on CPUs without avx512bf16.
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "ops/act_quant.h"
#include "ops/matmul.h"
#include "ops/simd/bf16_gemm.h"
#include "test_util.h"

namespace mm {
namespace {

using test::random_vec;

// n_out x n_in weights of dtype dt (F16 or BF16), stored 2 bytes past a 64-byte boundary.
struct Half16 {
  std::vector<uint8_t> bytes;
  Weight w;
  std::vector<float> vals;  // the stored values, widened
  Half16(DType dt, int64_t n_out, int64_t n_in, uint32_t seed) {
    bytes.resize(size_t(n_out * n_in * 2) + 128);
    uint8_t* base = bytes.data() + (64 - reinterpret_cast<uintptr_t>(bytes.data()) % 64) % 64 + 2;
    auto v = random_vec(size_t(n_out * n_in), seed);
    vals.resize(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      const uint16_t h = dt == DType::BF16 ? f32_to_bf16(v[i]) : f32_to_f16(v[i]);
      std::memcpy(base + 2 * i, &h, 2);
      vals[i] = dt == DType::BF16 ? bf16_to_f32(h) : f16_to_f32(h);
    }
    w.dtype = dt;
    w.n_out = n_out;
    w.n_in = n_in;
    w.data = base;
    w.row_bytes = size_t(n_in) * 2;
  }
  simd::GemmB b() const {
    return {w.dtype == DType::BF16 ? simd::BKind::BF16 : simd::BKind::F16, w.data, w.row_bytes, w.n_in};
  }
};

TEST(OpsBf16Gemm, MatchesReferenceOddShapes) {
  if (!simd::bf16_gemm_supported()) GTEST_SKIP() << "no avx512bf16";
  for (DType dt : {DType::F16, DType::BF16})
    for (int64_t n_in : {2, 30, 64, 130})
      for (int64_t n_out : {1, 31, 32, 45})
        for (int64_t n_tok : {1, 3, 4, 7, 8, 13, 37}) {
          Half16 hw(dt, n_out, n_in, uint32_t(n_in + n_out + n_tok));
          auto x = random_vec(size_t(n_tok * n_in), uint32_t(n_tok * 7 + 1));
          std::vector<uint16_t> xb(size_t(n_tok * n_in));
          simd::act_to_bf16(x.data(), n_in, n_tok, n_in, xb.data());
          Arena scratch;
          const int64_t o0 = n_out > 3 ? 3 : 0;
          std::vector<float> got(size_t(n_tok * n_out), -9.0f), ref(size_t(n_tok * n_out), -9.0f);
          simd::bf16_gemm(scratch, xb.data(), n_tok, hw.b(), o0, n_out, got.data(), n_out);
          simd::bf16_gemm_ref(xb.data(), n_tok, hw.b(), o0, n_out, ref.data(), n_out);
          for (int64_t t = 0; t < n_tok; ++t)
            for (int64_t o = 0; o < n_out; ++o) {
              const size_t i = size_t(t * n_out + o);
              if (o < o0) {
                ASSERT_EQ(got[i], -9.0f) << "wrote outside [o0, o1)";
                continue;
              }
              double mag = 0;
              for (int64_t k = 0; k < n_in; ++k) mag += std::fabs(double(x[size_t(t * n_in + k)]) * hw.vals[size_t(o * n_in + k)]);
              ASSERT_NEAR(got[i], ref[i], 2e-6 * mag + 1e-6)
                  << dtype_name(dt) << " n_in " << n_in << " n_out " << n_out << " tok " << n_tok << " t " << t << " o " << o;
            }
        }
}

// matmul in the fast mode: each product is off by at most its operands' bf16 rounding (2^-9 each).
TEST(OpsBf16Gemm, MatmulFastModeWithinRoundingBound) {
  if (!simd::bf16_gemm_supported()) GTEST_SKIP() << "no avx512bf16";
  ExecContext ctx(2);
  ctx.set_math(MathMode{QuantMath::Int8, true});
  for (DType dt : {DType::F16, DType::BF16}) {
    const int64_t n_tok = 37, n_out = 70, n_in = 96;
    Half16 hw(dt, n_out, n_in, 5);
    auto x = random_vec(size_t(n_tok * n_in), 6);
    std::vector<float> y(size_t(n_tok * n_out), NAN);
    matmul(ctx, x.data(), n_tok, hw.w, y.data());
    for (int64_t t = 0; t < n_tok; ++t)
      for (int64_t o = 0; o < n_out; ++o) {
        double exact = 0, mag = 0;
        for (int64_t k = 0; k < n_in; ++k) {
          const double p = double(x[size_t(t * n_in + k)]) * hw.vals[size_t(o * n_in + k)];
          exact += p;
          mag += std::fabs(p);
        }
        ASSERT_NEAR(y[size_t(t * n_out + o)], exact, (2.0 / 512 + 1e-5) * mag + 1e-6) << dtype_name(dt);
      }
  }
}

}  // namespace
}  // namespace mm
