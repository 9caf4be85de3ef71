// The format table (core/formats/block_format.h) against its users, for every row:
// - the DType and GGUF type tables derived from it agree with it (names, sizes, ggml numbers);
// - each format's code form (the sub-block decode the int8 kernels share) gives exactly the values of
//   its scalar dequantiser: a · (u − off) + b == dequantize, bit for bit, on quantised random blocks;
// - matmul gives each activation row bit for bit the same result in a batch as alone (batch
//   invariance), under both math modes and for every batch size class the planner distinguishes (1, 3,
//   5, 17 rows), each within its mode's error of a float64 reference.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/exec_context.h"
#include "core/formats/block_format.h"
#include "io/gguf.h"
#include "ops/matmul.h"
#include "ops/quant.h"
#include "quant_test_util.h"
#include "test_util.h"

namespace mm {
namespace {

TEST(BlockFormats, DerivedTablesAgree) {
  ASSERT_GE(std::size(kBlockFormats), 6u);
  for (const BlockFormat& f : kBlockFormats) {
    SCOPED_TRACE(f.name);
    EXPECT_EQ(block_format(f.type), &f);
    EXPECT_STREQ(dtype_name(f.type), f.name);
    EXPECT_EQ(dtype_info(f.type).block_elems, f.block_elems);
    EXPECT_EQ(dtype_info(f.type).block_bytes, f.block_bytes);
    EXPECT_TRUE(dtype_is_block_quant(f.type));
    DType back;
    ASSERT_TRUE(ggml_type_to_dtype(f.ggml_type, &back));
    EXPECT_EQ(back, f.type);
    EXPECT_EQ(dtype_to_ggml_type(f.type), f.ggml_type);
    ASSERT_NE(ggml_type_name(f.ggml_type), nullptr);
    EXPECT_STREQ(ggml_type_name(f.ggml_type), f.name);
    EXPECT_EQ(f.block_elems % f.sub_elems, 0);
    EXPECT_EQ(dtype_row_bytes(f.type, 4 * f.block_elems), size_t(4 * f.block_bytes));
  }
  EXPECT_EQ(block_format(DType::F32), nullptr);
  EXPECT_EQ(block_format(DType::BF16), nullptr);
}

TEST(BlockFormats, CodeFormIsTheDequantiser) {
  for (const BlockFormat& f : kBlockFormats) {
    SCOPED_TRACE(f.name);
    const int64_t n_blk = 24, n = n_blk * f.block_elems;
    auto x = test::random_vec(size_t(n), 77);
    for (int64_t i = 0; i < n; ++i) {  // blocks of different scales, signs and offsets
      const int64_t b = i / f.block_elems;
      x[size_t(i)] = x[size_t(i)] * (0.01f + 0.3f * float(b % 5)) + (b % 3 == 1 ? 0.5f : b % 3 == 2 ? -0.2f : 0.0f);
    }
    std::vector<uint8_t> q(static_cast<size_t>(n_blk * f.block_bytes));
    quantize_row(f.type, x.data(), q.data(), n);
    std::vector<float> deq(static_cast<size_t>(n));
    dequantize_row(f.type, q.data(), deq.data(), n);
    const int subs = f.block_elems / f.sub_elems;
    std::vector<uint8_t> u(static_cast<size_t>(f.block_elems));
    std::vector<float> a(static_cast<size_t>(subs)), b(static_cast<size_t>(subs));
    int64_t n_nonzero = 0;
    for (int64_t blk = 0; blk < n_blk; ++blk) {
      f.decode_codes(q.data() + blk * f.block_bytes, u.data(), a.data(), b.data());
      for (int i = 0; i < f.block_elems; ++i) {
        const int j = i / f.sub_elems;
        if (!f.has_min) {
          EXPECT_EQ(b[size_t(j)], 0.0f);
        }
        const float scaled = a[size_t(j)] * float(int(u[size_t(i)]) - f.code_offset);
        const float v = scaled + b[size_t(j)];
        const float want = deq[size_t(blk * f.block_elems + i)];
        ASSERT_EQ(v, want) << "block " << blk << " value " << i;
        n_nonzero += want != 0.0f;
      }
    }
    EXPECT_GT(n_nonzero, n / 2);  // the comparison saw real values
  }
}

// Σ_k |x_k| |w_k| for row t of x against weight row o (the scale of the products' rounding errors).
double abs_dot(const float* x, const float* w, int64_t n) {
  double s = 0;
  for (int64_t k = 0; k < n; ++k) s += std::fabs(double(x[k]) * double(w[k]));
  return s;
}

TEST(BlockFormats, BatchedRowsEqualRowsAlone) {
  const int64_t n_out = 37;
  ExecContext exact(2, MathMode{QuantMath::Exact});
  ExecContext fast(2, MathMode{QuantMath::Int8});
  for (const BlockFormat& f : kBlockFormats) {
    const int64_t n_in = 2 * std::max<int64_t>(f.block_elems, 64);
    test::QuantWeight qw(f.type, n_out, n_in, 5);
    std::vector<float> wf(static_cast<size_t>(n_out * n_in));
    for (int64_t o = 0; o < n_out; ++o) weight_row_to_f32(qw.w, o, wf.data() + o * n_in);
    for (ExecContext* ctx : {&exact, &fast}) {
      // Bounds relative to Σ|x||w|: f32 summation order (exact), int8 activation rounding (fast: each
      // activation is off by at most half a step of max|x|/127 in its block of 32).
      const double tol = ctx->math().exact() ? 1e-5 : 1.5e-2;
      for (int64_t n_rows : {1, 3, 5, 17}) {
        SCOPED_TRACE(std::string(f.name) + (ctx->math().exact() ? " exact" : " int8") + " rows " +
                     std::to_string(n_rows));
        auto x = test::random_vec(size_t(n_rows * n_in), uint32_t(100 + n_rows));
        std::vector<float> batched(size_t(n_rows * n_out), -7.0f), alone(size_t(n_out), -7.0f);
        matmul(*ctx, x.data(), n_rows, qw.w, batched.data());
        for (int64_t t = 0; t < n_rows; ++t) {
          matmul(*ctx, x.data() + t * n_in, 1, qw.w, alone.data());
          for (int64_t o = 0; o < n_out; ++o) {
            const float* xr = x.data() + t * n_in;
            const float* wr = wf.data() + o * n_in;
            double ref = 0;
            for (int64_t k = 0; k < n_in; ++k) ref += double(xr[k]) * double(wr[k]);
            const double bound = tol * abs_dot(xr, wr, n_in) + 1e-6;
            const double got_b = batched[size_t(t * n_out + o)], got_a = alone[size_t(o)];
            ASSERT_NEAR(got_b, ref, bound) << "batched row " << t << " output " << o;
            ASSERT_NEAR(got_a, ref, bound) << "alone row " << t << " output " << o;
            // Batch invariance: the same bits whatever the batch (the kernel chosen for 1 row and for
            // many must do the same arithmetic in the same order).
            ASSERT_EQ(got_b, got_a) << "row " << t << " output " << o;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace mm
