#include "ops/matmul.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "ops/act_quant.h"
#include "ops/quant.h"
#include "ops/simd/kernels.h"
#include "ops/simd/quant_dot.h"
#include "ops/simd/quant_kernels.h"

namespace mm {

void weight_row_to_f32(const Weight& w, int64_t r, float* dst) {
  row_to_f32(w.dtype, w.row(r), dst, w.n_in);
  if (w.scale) {
    const int64_t n_kb = (w.n_in + w.scale_bk - 1) / w.scale_bk;
    const float* s = w.scale + (r / w.scale_bn) * n_kb;
    for (int64_t k = 0; k < w.n_in; ++k) dst[k] *= s[k / w.scale_bk];
  }
}

void matmul_ref(const float* x, int64_t n_rows, const Weight& w, float* y) {
  std::vector<float> row(static_cast<size_t>(w.n_in));
  for (int64_t o = 0; o < w.n_out; ++o) {
    weight_row_to_f32(w, o, row.data());
    for (int64_t t = 0; t < n_rows; ++t) {
      double s = 0;
      for (int64_t k = 0; k < w.n_in; ++k) s += double(x[t * w.n_in + k]) * row[size_t(k)];
      y[t * w.n_out + o] = float(s);
    }
  }
}

namespace {

// Plain storage types are widened in registers by the SIMD kernel; anything else (GGUF blocks, fp8
// with unusual scale blocks) is dequantised a few rows at a time into a per-thread f32 buffer.
bool to_gemm_b(const Weight& w, simd::GemmB* b) {
  *b = simd::GemmB{};
  b->data = w.data;
  b->row_bytes = w.row_bytes;
  b->n_in = w.n_in;
  switch (w.dtype) {
    case DType::F32: b->kind = simd::BKind::F32; break;
    case DType::BF16: b->kind = simd::BKind::BF16; break;
    case DType::F16: b->kind = simd::BKind::F16; break;
    case DType::F8_E4M3:
      b->kind = simd::BKind::F8_E4M3;
      b->scale = w.scale;
      b->scale_bn = w.scale_bn;
      b->scale_bk = w.scale_bk;
      return simd::gemm_scale_supported(*b);
    default: return false;
  }
  return !w.scale;
}

}  // namespace

// GGUF block formats. Decode (1..4 x rows): stream each weight row once. Under QuantMath::Int8 (the
// default) x is quantised to int8 blocks of 32 and multiplied against the weights' integer codes
// (simd::quant_gemv_q8, llama.cpp's arithmetic); under Exact the blocks are dequantised in registers
// and FMA'd in f32 against x (simd::quant_gemv). More rows: dequantise a panel of weight rows to f32
// once (SIMD) and run the f32 GEMM on it, which reuses the panel across all x rows (exact).
static bool int8_decode(const Weight& w, int64_t n_rows) {
  return n_rows <= 4 && quant_math() == QuantMath::Int8 && !w.scale && simd::quant_supported(w.dtype);
}

static void matmul_rows_quant(const float* x, int64_t n_rows, const Weight& w, int64_t o0, int64_t o1, float* y,
                              const ActQ8* xq, int64_t xq_row0) {
  const simd::QMatrix q{w.dtype, w.data, w.row_bytes, w.n_in};
  if (int8_decode(w, n_rows)) {
    if (!xq) {
      // Quantise here. Callers that split a product themselves (MoE decode: one call per 32-row group
      // of each expert) pass the same x many times: a per-thread memo, checked against x itself,
      // quantises it once per thread instead of once per call.
      struct Memo {
        std::vector<float> x;
        ActQ8 q;
      };
      thread_local Memo memo;
      const size_t n = size_t(n_rows * w.n_in);
      if (memo.q.n_rows != n_rows || memo.q.n_in != w.n_in || memo.x.size() != n ||
          std::memcmp(memo.x.data(), x, n * sizeof(float)) != 0) {
        memo.x.assign(x, x + n);
        quantize_act_q8(x, w.n_in, n_rows, w.n_in, &memo.q);
      }
      xq = &memo.q;
      xq_row0 = 0;
    }
    simd::quant_gemv_q8(*xq, xq_row0, n_rows, q, o0, o1, y, w.n_out);
    return;
  }
  if (n_rows <= 4) {
    simd::quant_gemv(x, w.n_in, n_rows, q, o0, o1, y, w.n_out);
    return;
  }
  constexpr int64_t kPanel = 64;  // matmul()'s prefill row group: one panel per task
  thread_local std::vector<float> buf;
  const int64_t rows = std::min(kPanel, o1 - o0);
  if (buf.size() < size_t(rows * w.n_in)) buf.resize(size_t(rows * w.n_in));
  for (int64_t o = o0; o < o1; o += kPanel) {
    const int64_t n = std::min(kPanel, o1 - o);
    simd::quant_dequant_rows(q, o, o + n, buf.data());
    simd::GemmB fb{simd::BKind::F32, reinterpret_cast<const uint8_t*>(buf.data()), size_t(w.n_in) * 4, w.n_in};
    simd::gemm_nt(x, w.n_in, n_rows, fb, 0, n, y + o, w.n_out, false);
  }
}

void matmul_rows(const float* x, int64_t n_rows, const Weight& w, int64_t o0, int64_t o1, float* y) {
  matmul_rows(x, n_rows, w, o0, o1, y, nullptr, 0);
}

void matmul_rows(const float* x, int64_t n_rows, const Weight& w, int64_t o0, int64_t o1, float* y,
                 const ActQ8* xq, int64_t xq_row0) {
  simd::GemmB b;
  if (to_gemm_b(w, &b)) {
    simd::gemm_nt(x, w.n_in, n_rows, b, o0, o1, y, w.n_out, false);
    return;
  }
  if (!w.scale && simd::quant_supported(w.dtype)) {
    matmul_rows_quant(x, n_rows, w, o0, o1, y, xq, xq_row0);
    return;
  }
  constexpr int64_t kRows = 16;
  thread_local std::vector<float> buf;
  if (buf.size() < size_t(kRows * w.n_in)) buf.resize(size_t(kRows * w.n_in));
  for (int64_t o = o0; o < o1; o += kRows) {
    const int64_t n = std::min(kRows, o1 - o);
    for (int64_t j = 0; j < n; ++j) weight_row_to_f32(w, o + j, buf.data() + j * w.n_in);
    simd::GemmB fb{simd::BKind::F32, reinterpret_cast<const uint8_t*>(buf.data()), size_t(w.n_in) * 4, w.n_in};
    simd::gemm_nt(x, w.n_in, n_rows, fb, 0, n, y + o, w.n_out, false);
  }
}

void matmul(const float* x, int64_t n_rows, const Weight& w, float* y) {
  MM_CHECK(!w.empty());
  // Split the output rows in groups (multiples of the kernels' 4-row tile and 32-row packed panel)
  // across threads, so each thread streams a disjoint slice of the weight once per block of x rows.
  const int64_t kGroup = n_rows >= 16 ? 64 : 16;
  const int64_t n_groups = (w.n_out + kGroup - 1) / kGroup;
  // Int8 decode: quantise x once here, not once per row group.
  const ActQ8* xq = nullptr;
  thread_local ActQ8 xq_buf;
  if (int8_decode(w, n_rows)) {
    quantize_act_q8(x, w.n_in, n_rows, w.n_in, &xq_buf);
    xq = &xq_buf;
  }
  global_pool().parallel_for(
      n_groups,
      [&](int64_t b, int64_t e, int) {
        matmul_rows(x, n_rows, w, b * kGroup, std::min(w.n_out, e * kGroup), y, xq, 0);
      },
      1);
}

}  // namespace mm
