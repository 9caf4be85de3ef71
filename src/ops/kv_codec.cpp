#include "ops/kv_codec.h"

#include <cstring>

#include "core/dtype.h"
#include "core/error.h"
#include "core/formats/q8_0.h"
#include "ops/simd/kernels.h"

namespace mm {

const char* kv_type_name(KvType t) {
  switch (t) {
    case KvType::F32: return "f32";
    case KvType::F16: return "f16";
    case KvType::BF16: return "bf16";
    case KvType::Q8_0: return "q8_0";
  }
  return "?";
}

KvType parse_kv_type(std::string_view s) {
  for (KvType t : {KvType::F32, KvType::F16, KvType::BF16, KvType::Q8_0})
    if (s == kv_type_name(t)) return t;
  throw Error("unknown KV type '" + std::string(s) + "' (choose f32, f16, bf16 or q8_0)");
}

bool kv_type_fits(KvType t, int64_t n) { return n > 0 && (t != KvType::Q8_0 || n % 32 == 0); }

size_t kv_row_bytes(KvType t, int64_t n) {
  switch (t) {
    case KvType::F32: return size_t(n) * 4;
    case KvType::F16:
    case KvType::BF16: return size_t(n) * 2;
    case KvType::Q8_0:
      MM_CHECK(n % 32 == 0);
      return size_t(n / 32) * sizeof(fmt::BlockQ8_0);
  }
  return 0;
}

void kv_encode_row(KvType t, const float* x, int64_t n, uint8_t* dst) {
  switch (t) {
    case KvType::F32: std::memcpy(dst, x, size_t(n) * 4); return;
    case KvType::F16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = f32_to_f16(x[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      return;
    case KvType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = f32_to_bf16(x[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
      return;
    case KvType::Q8_0:
      MM_CHECK(n % 32 == 0);
      for (int64_t b = 0; b < n / 32; ++b) fmt::Q8_0::quantize(x + 32 * b, dst + b * sizeof(fmt::BlockQ8_0));
      return;
  }
}

void kv_decode_row_ref(KvType t, const uint8_t* src, int64_t n, float* dst) {
  uint16_t h;
  switch (t) {
    case KvType::F32: std::memcpy(dst, src, size_t(n) * 4); return;
    case KvType::F16:
      for (int64_t i = 0; i < n; ++i) std::memcpy(&h, src + 2 * i, 2), dst[i] = f16_to_f32(h);
      return;
    case KvType::BF16:
      for (int64_t i = 0; i < n; ++i) std::memcpy(&h, src + 2 * i, 2), dst[i] = bf16_to_f32(h);
      return;
    case KvType::Q8_0:
      MM_CHECK(n % 32 == 0);
      for (int64_t b = 0; b < n / 32; ++b) fmt::Q8_0::dequantize(src + b * sizeof(fmt::BlockQ8_0), dst + 32 * b);
      return;
  }
}

void kv_decode_rows(KvType t, const uint8_t* src, size_t src_stride, int64_t n_rows, int64_t n, float* dst,
                    int64_t ldd) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const uint8_t* s = src + size_t(r) * src_stride;
    float* d = dst + r * ldd;
    switch (t) {
      case KvType::F32: std::memcpy(d, s, size_t(n) * 4); break;
      case KvType::F16: simd::widen_f16(s, n, d); break;
      case KvType::BF16: simd::widen_bf16(s, n, d); break;
      case KvType::Q8_0: simd::widen_q8_0(s, n, d); break;
    }
  }
}

}  // namespace mm
