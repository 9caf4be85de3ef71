#include "ops/matmul.h"

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "ops/act_quant.h"
#include "ops/quant.h"
#include "ops/simd/bf16_gemm.h"
#include "ops/simd/kernels.h"
#include "ops/simd/quant_dot.h"
#include "ops/simd/quant_gemm.h"
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

simd::QMatrix quant_matrix(const Weight& w) { return {w.dtype, w.data, w.row_bytes, w.n_in}; }

const char* matmul_path_name(MatmulPath p) {
  switch (p) {
    case MatmulPath::Gemm: return "gemm";
    case MatmulPath::Bf16Gemm: return "bf16_gemm";
    case MatmulPath::Int8Gemv: return "int8_gemv";
    case MatmulPath::Int8Gemm: return "int8_gemm";
    case MatmulPath::QuantPanel: return "quant_panel";
    case MatmulPath::DequantRows: return "dequant_rows";
  }
  return "?";
}

MatmulPath plan_matmul(const Weight& w, int64_t n_rows, const MathMode& math, bool whole) {
  const bool fast = math.quant == QuantMath::Int8;
  if (whole && fast && math.bf16_prefill && n_rows >= 16 && (w.dtype == DType::BF16 || w.dtype == DType::F16) &&
      !w.scale && w.n_in % 2 == 0 && simd::bf16_gemm_supported())
    return MatmulPath::Bf16Gemm;
  simd::GemmB b;
  if (to_gemm_b(w, &b)) return MatmulPath::Gemm;
  if (w.scale || !simd::quant_supported(w.dtype)) return MatmulPath::DequantRows;
  // Batch invariance: the int8 decode and GEMM kernels do the same arithmetic (ops/simd/quant_dot.h), and
  // so do the exact ones (both dequantise and run the f32 GEMM), so the row count only picks the speed.
  if (fast) return n_rows <= 4 ? MatmulPath::Int8Gemv : MatmulPath::Int8Gemm;
  return MatmulPath::QuantPanel;  // (decode included: gemm_nt_invariant is the one exact arithmetic)
}

void matmul_rows(ExecContext& ctx, int thread_index, const float* x, int64_t n_rows, const Weight& w, int64_t o0,
                 int64_t o1, float* y, const ActQ8* xq, int64_t xq_row0) {
  Arena& scratch = ctx.scratch(thread_index);
  ArenaScope scope(scratch);
  switch (plan_matmul(w, n_rows, ctx.math(), false)) {
    case MatmulPath::Gemm:
    case MatmulPath::Bf16Gemm: {  // (not planned for row slices)
      simd::GemmB b;
      to_gemm_b(w, &b);
      // F32 weights (GGUF routers and other small tensors, f32 checkpoints) and every float weight in
      // --exact: the one-order kernel, so that block-format models are batch-invariant whole and exact
      // runs do not depend on batching or chunking; 16-bit and fp8 weights otherwise: the fastest
      // kernel for the row count (not batch-invariant yet, ops/matmul.h).
      if (w.dtype == DType::F32 || ctx.math().exact()) simd::gemm_nt_invariant(x, w.n_in, n_rows, b, o0, o1, y, w.n_out, false);
      else simd::gemm_nt(x, w.n_in, n_rows, b, o0, o1, y, w.n_out, false);
      return;
    }
    case MatmulPath::Int8Gemv: {
      ActQ8 x_local;
      if (!xq) {  // callers that split a product themselves (MoE decode) quantise once and pass xq
        x_local = quantize_act_q8(scratch, x, w.n_in, n_rows, w.n_in);
        xq = &x_local;
        xq_row0 = 0;
      }
      simd::quant_gemv_q8(scratch, *xq, xq_row0, n_rows, quant_matrix(w), o0, o1, y, w.n_out);
      return;
    }
    case MatmulPath::Int8Gemm: {
      const ActQ8 x_local = quantize_act_q8(scratch, x, w.n_in, n_rows, w.n_in);
      const simd::QGemmAct a = simd::quant_gemm_prepare(scratch, w.dtype, x_local);
      simd::quant_gemm(scratch, quant_matrix(w), a, o0, o1, y, w.n_out);
      return;
    }
    case MatmulPath::QuantPanel: {
      // Exact prefill of block formats: dequantise a panel of weight rows to f32 once (SIMD) and run the
      // f32 GEMM on it, which reuses the panel across all x rows.
      constexpr int64_t kPanel = 64;  // matmul()'s prefill row group: one panel per task
      float* buf = scratch.alloc<float>(size_t(std::min(kPanel, o1 - o0) * w.n_in));
      const simd::QMatrix q = quant_matrix(w);
      for (int64_t o = o0; o < o1; o += kPanel) {
        const int64_t n = std::min(kPanel, o1 - o);
        simd::quant_dequant_rows(q, o, o + n, buf);
        simd::GemmB fb{simd::BKind::F32, reinterpret_cast<const uint8_t*>(buf), size_t(w.n_in) * 4, w.n_in};
        simd::gemm_nt_invariant(x, w.n_in, n_rows, fb, 0, n, y + o, w.n_out, false);
      }
      return;
    }
    case MatmulPath::DequantRows: {
      constexpr int64_t kRows = 16;
      float* buf = scratch.alloc<float>(size_t(kRows * w.n_in));
      for (int64_t o = o0; o < o1; o += kRows) {
        const int64_t n = std::min(kRows, o1 - o);
        for (int64_t j = 0; j < n; ++j) weight_row_to_f32(w, o + j, buf + j * w.n_in);
        simd::GemmB fb{simd::BKind::F32, reinterpret_cast<const uint8_t*>(buf), size_t(w.n_in) * 4, w.n_in};
        simd::gemm_nt_invariant(x, w.n_in, n_rows, fb, 0, n, y + o, w.n_out, false);
      }
      return;
    }
  }
}

void matmul_shared(ExecContext& ctx, const float* x, int64_t n_rows, std::initializer_list<MatmulOut> outs) {
  // The int8 GEMM products: one quantisation, one preparation per weight format, one parallel region.
  std::vector<MatmulOut> q8;
  for (const MatmulOut& m : outs) {
    MM_CHECK(!m.w->empty() && m.w->n_in == outs.begin()->w->n_in, "matmul_shared: weights of different widths");
    if (plan_matmul(*m.w, n_rows, ctx.math()) == MatmulPath::Int8Gemm) q8.push_back(m);
    else matmul(ctx, x, n_rows, *m.w, m.y);
  }
  if (q8.empty()) return;
  const int64_t n_in = q8[0].w->n_in;
  Arena& scratch = ctx.scratch();
  ArenaScope scope(scratch);
  const ActQ8 xq = quantize_act_q8(scratch, x, n_in, n_rows, n_in);
  std::vector<simd::QGemmAct> prep(q8.size());
  std::vector<int64_t> first_task(q8.size() + 1, 0);
  constexpr int64_t kGroup = 64;
  for (size_t i = 0; i < q8.size(); ++i) {
    size_t same = i;  // reuse an earlier preparation for the same format
    for (size_t j = 0; j < i; ++j)
      if (q8[j].w->dtype == q8[i].w->dtype) same = j;
    if (same == i) prep[i] = simd::quant_gemm_prepare(scratch, q8[i].w->dtype, xq);
    else prep[i] = prep[same].rows(0, n_rows);
    first_task[i + 1] = first_task[i] + (q8[i].w->n_out + kGroup - 1) / kGroup;
  }
  ctx.parallel_for(
      first_task.back(),
      [&](int64_t b, int64_t e, int ti) {
        for (int64_t task = b; task < e; ++task) {
          const size_t i = size_t(std::upper_bound(first_task.begin(), first_task.end(), task) - first_task.begin() - 1);
          const Weight& w = *q8[i].w;
          const int64_t o0 = (task - first_task[i]) * kGroup;
          simd::quant_gemm(ctx.scratch(ti), quant_matrix(w), prep[i], o0, std::min(w.n_out, o0 + kGroup), q8[i].y,
                           w.n_out);
        }
      },
      1);
}

void matmul(ExecContext& ctx, const float* x, int64_t n_rows, const Weight& w, float* y) {
  MM_CHECK(!w.empty());
  const MatmulPath path = plan_matmul(w, n_rows, ctx.math());
  Arena& scratch = ctx.scratch();
  ArenaScope scope(scratch);
  if (path == MatmulPath::Bf16Gemm) {  // activations (and F16 weights) rounded to bf16, x converted once
    uint16_t* xb = scratch.alloc<uint16_t>(size_t(n_rows * w.n_in));
    simd::act_to_bf16(x, w.n_in, n_rows, w.n_in, xb);
    simd::GemmB b;
    to_gemm_b(w, &b);
    constexpr int64_t kGroup = 64;
    ctx.parallel_for(
        (w.n_out + kGroup - 1) / kGroup,
        [&](int64_t g0, int64_t g1, int ti) {
          simd::bf16_gemm(ctx.scratch(ti), xb, n_rows, b, g0 * kGroup, std::min(w.n_out, g1 * kGroup), y, w.n_out);
        },
        1);
    return;
  }
  if (path == MatmulPath::Int8Gemm) {  // activations quantised once for all row groups
    matmul_shared(ctx, x, n_rows, {{&w, y}});
    return;
  }
  // Split the output rows in groups (multiples of the kernels' 4-row tile and 32-row packed panel)
  // across threads, so each thread streams a disjoint slice of the weight once per block of x rows.
  const int64_t kGroup = n_rows >= 16 ? 64 : 16;
  const int64_t n_groups = (w.n_out + kGroup - 1) / kGroup;
  // Int8 decode: quantise x once here, not once per row group.
  ActQ8 xq_buf;
  const ActQ8* xq = nullptr;
  if (path == MatmulPath::Int8Gemv) {
    xq_buf = quantize_act_q8(scratch, x, w.n_in, n_rows, w.n_in);
    xq = &xq_buf;
  }
  ctx.parallel_for(
      n_groups,
      [&](int64_t b, int64_t e, int ti) {
        matmul_rows(ctx, ti, x, n_rows, w, b * kGroup, std::min(w.n_out, e * kGroup), y, xq, 0);
      },
      1);
}

}  // namespace mm
