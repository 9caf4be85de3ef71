// Element types of weights and activations, and scalar conversions between them.
// Block formats (GGUF Q*_0 / Q*_K) store `block_elems` values in `block_bytes` bytes; plain types have
// block_elems == 1. Each block format's layout and traits: core/formats/block_format.h. F8_E4M3 weights carry a separate block-scale tensor (see model weights).
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace mm {

enum class DType : uint8_t { F32, F16, BF16, F8_E4M3, I32, I64, Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K, kCount };

struct DTypeInfo {
  const char* name;  // safetensors / GGUF spelling
  int block_elems;
  int block_bytes;
};

const DTypeInfo& dtype_info(DType t);
inline const char* dtype_name(DType t) { return dtype_info(t).name; }
// Bytes of `n` consecutive elements; n must be a multiple of the block size (checked).
size_t dtype_row_bytes(DType t, int64_t n);
bool dtype_is_block_quant(DType t);
// Parses a safetensors dtype name ("F32", "BF16", ...). Returns false if unknown.
bool dtype_from_safetensors(std::string_view s, DType* out);

inline float bf16_to_f32(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
// Round to nearest even, NaN stays NaN.
inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffff) > 0x7f800000) return uint16_t((u >> 16) | 0x40);
  u += 0x7fff + ((u >> 16) & 1);
  return uint16_t(u >> 16);
}
inline float round_bf16(float f) { return bf16_to_f32(f32_to_bf16(f)); }

// Exact: the exponent/mantissa bits moved into f32 position and rescaled by 2^(127-15), which also
// turns f16 subnormals into exact f32 values; inf/NaN get the all-ones exponent. Inline because
// weight-packing loops call it per element.
inline float f16_to_f32(uint16_t h) {
  const uint32_t em = h & 0x7fffu;
  uint32_t u = em << 13;
  float f;
  if (em >= 0x7c00u) {
    u |= 0x7f800000u;
    std::memcpy(&f, &u, 4);
  } else {
    std::memcpy(&f, &u, 4);
    f *= 0x1p112f;
  }
  std::memcpy(&u, &f, 4);
  u |= uint32_t(h & 0x8000u) << 16;
  std::memcpy(&f, &u, 4);
  return f;
}
uint16_t f32_to_f16(float f);
// float8 e4m3fn (no infinities; 0x7f/0xff are NaN; max 448).
float fp8_e4m3_to_f32(uint8_t v);

// Converts n elements of a plain (non-block) type to f32.
void convert_to_f32(DType t, const void* src, float* dst, int64_t n);

}  // namespace mm
