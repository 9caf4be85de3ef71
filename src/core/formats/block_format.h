// The GGUF block formats the engine reads, one row each: the traits table every other place derives
// from (core/dtype.cpp's DType sizes, io/gguf.cpp's ggml type mapping, the scalar dequantisers and
// quantisers of ops/quant.h, the code form the int8 kernels use).
//
// Adding a format: its header here (block struct with a static_assert on its size, a traits struct as
// in q8_0.h), its DType value (core/dtype.h), its row in kBlockFormats below. That alone makes it load,
// dequantise, quantise and multiply (through the planner's DequantRows path, ops/matmul.h); a SIMD kernel
// unit in ops/simd/ (and its case in quant_supported) makes it fast.
#pragma once
#include <cstdint>
#include <span>

#include "core/dtype.h"
#include "core/formats/q4_0.h"
#include "core/formats/q4_k.h"
#include "core/formats/q5_0.h"
#include "core/formats/q5_k.h"
#include "core/formats/q6_k.h"
#include "core/formats/q8_0.h"

namespace mm {

struct BlockFormat {
  DType type;
  const char* name;    // GGUF / ggml spelling
  uint32_t ggml_type;  // ggml's type number
  int block_elems, block_bytes;
  // Code form: each sub-block of sub_elems values is w = a · (u − code_offset) + b with u a byte
  // (b = 0 unless has_min).
  int sub_elems, code_offset;
  bool has_min;
  void (*dequantize)(const uint8_t* block, float* y);  // block_elems values, scalar reference
  void (*quantize)(const float* x, uint8_t* block);    // round-to-nearest, as ggml's reference quantisers
  // One block to u[block_elems], a / b[block_elems / sub_elems] (exact f16 conversion).
  void (*decode_codes)(const uint8_t* block, uint8_t* u, float* a, float* b);
};

namespace fmt {

inline float f16_exact(const uint8_t* p) { return load_f16(p); }

template <class F>
constexpr BlockFormat format_row() {
  static_assert(F::kElems % F::kSub == 0 && F::kElems % 32 == 0);
  return {F::kType,
          F::kName,
          F::kGgmlType,
          F::kElems,
          int(sizeof(typename F::Block)),
          F::kSub,
          F::kCodeOffset,
          F::kHasMin,
          &F::dequantize,
          &F::quantize,
          [](const uint8_t* p, uint8_t* u, float* a, float* b) { F::decode_codes(p, u, a, b, f16_exact); }};
}

}  // namespace fmt

inline constexpr BlockFormat kBlockFormats[] = {
    fmt::format_row<fmt::Q8_0>(), fmt::format_row<fmt::Q4_0>(), fmt::format_row<fmt::Q5_0>(),
    fmt::format_row<fmt::Q4_K>(), fmt::format_row<fmt::Q5_K>(), fmt::format_row<fmt::Q6_K>(),
};

// The row of block format t; null for plain types.
constexpr const BlockFormat* block_format(DType t) {
  for (const BlockFormat& f : kBlockFormats)
    if (f.type == t) return &f;
  return nullptr;
}

}  // namespace mm
