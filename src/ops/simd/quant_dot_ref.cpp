// Scalar reference of ops/simd/quant_dot.h: each block is decoded to its code form (the format's row in
// core/formats/block_format.h: unsigned codes u, per-sub-block scales a and mins b), the integer dot of
// the levels u − off with the activation codes is taken per sub-block, and scaled once per sub-block
// (32 weights; Q6_K: 16), accumulated in sub-block order with fused multiply-adds: the SIMD kernels
// (decode and GEMM) must give exactly these bits.
#include <cmath>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/formats/block_format.h"
#include "ops/simd/quant_dot.h"

namespace mm::simd {

namespace {

// One weight row against one activation row: for each sub-block j in order,
//   acc = fma(float(Σ (u − off) q), a_j · d_x, acc), then (K-quant mins) acc = fma(b_j, d_x · s, acc).
float row_dot(const BlockFormat& f, const uint8_t* row, int64_t n_in, const ActQ8Row& x, uint8_t* u, float* a,
              float* b) {
  MM_CHECK(f.sub_elems <= 32 && 32 % f.sub_elems == 0, "quant_gemv_q8_ref: sub-block larger than an activation block");
  const int64_t n_blk = n_in / f.block_elems, subs = f.block_elems / f.sub_elems;
  for (int64_t blk = 0; blk < n_blk; ++blk)
    f.decode_codes(row + blk * f.block_bytes, u + blk * f.block_elems, a + blk * subs, b + blk * subs);
  float acc = 0.0f;
  for (int64_t j = 0; j < n_in / f.sub_elems; ++j) {
    const int64_t k0 = j * f.sub_elems, xb = k0 / 32;
    int32_t dot = 0;
    for (int i = 0; i < f.sub_elems; ++i) dot += (int32_t(u[k0 + i]) - f.code_offset) * int32_t(x.q[k0 + i]);
    acc = std::fma(float(dot), a[j] * x.d[xb], acc);
    if (f.has_min) acc = std::fma(b[j], x.d[xb] * float(x.s[xb]), acc);
  }
  return acc;
}

}  // namespace

void quant_gemv_q8_ref(const ActQ8& x, int64_t t0, int64_t n_rows, const QMatrix& w, int64_t o0, int64_t o1,
                       float* y, int64_t ldy) {
  MM_CHECK(x.n_in == w.n_in && t0 >= 0 && t0 + n_rows <= x.n_rows, "quant_gemv_q8_ref: shape");
  const BlockFormat* f = block_format(w.type);
  MM_CHECK(f != nullptr, std::string("quant_gemv_q8_ref: unsupported weight type ") + dtype_name(w.type));
  std::vector<uint8_t> u(size_t(w.n_in));
  std::vector<float> a(size_t(w.n_in / f->sub_elems)), b(a.size());
  for (int64_t t = 0; t < n_rows; ++t)
    for (int64_t o = o0; o < o1; ++o)
      y[t * ldy + o] = row_dot(*f, w.data + size_t(o) * w.row_bytes, w.n_in, x.row(t0 + t), u.data(), a.data(), b.data());
}

}  // namespace mm::simd
