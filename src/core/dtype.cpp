#include "core/dtype.h"

#include <array>
#include <cmath>

#include "core/error.h"
#include "core/formats/block_format.h"

namespace mm {

namespace {
// Plain types here; block formats from their rows in core/formats/block_format.h.
constexpr std::array<DTypeInfo, size_t(DType::kCount)> make_info() {
  std::array<DTypeInfo, size_t(DType::kCount)> t{};
  t[size_t(DType::F32)] = {"F32", 1, 4};
  t[size_t(DType::F16)] = {"F16", 1, 2};
  t[size_t(DType::BF16)] = {"BF16", 1, 2};
  t[size_t(DType::F8_E4M3)] = {"F8_E4M3", 1, 1};
  t[size_t(DType::I32)] = {"I32", 1, 4};
  t[size_t(DType::I64)] = {"I64", 1, 8};
  for (const BlockFormat& f : kBlockFormats) t[size_t(f.type)] = {f.name, f.block_elems, f.block_bytes};
  return t;
}
constexpr std::array<DTypeInfo, size_t(DType::kCount)> kInfo = make_info();
constexpr bool all_named() {
  for (const DTypeInfo& i : kInfo)
    if (i.name == nullptr) return false;
  return true;
}
static_assert(all_named(), "a DType has neither a plain entry nor a row in kBlockFormats");

struct Fp8Table {
  float v[256];
  Fp8Table() {
    for (int i = 0; i < 256; ++i) {
      int sign = i >> 7, exp = (i >> 3) & 15, man = i & 7;
      float f;
      if (exp == 15 && man == 7) f = NAN;
      else if (exp == 0) f = std::ldexp(float(man), -9);  // subnormal: man/8 * 2^-6
      else f = std::ldexp(1.0f + man / 8.0f, exp - 7);
      v[i] = sign ? -f : f;
    }
  }
};
const Fp8Table kFp8;
}  // namespace

const DTypeInfo& dtype_info(DType t) {
  MM_CHECK(size_t(t) < kInfo.size());
  return kInfo[size_t(t)];
}

bool dtype_is_block_quant(DType t) { return dtype_info(t).block_elems > 1; }

size_t dtype_row_bytes(DType t, int64_t n) {
  const auto& i = dtype_info(t);
  MM_CHECK(n % i.block_elems == 0, std::string(i.name) + " row length " + std::to_string(n) +
                                       " is not a multiple of the block size");
  return size_t(n / i.block_elems) * size_t(i.block_bytes);
}

bool dtype_from_safetensors(std::string_view s, DType* out) {
  for (size_t i = 0; i < kInfo.size(); ++i) {
    if (kInfo[i].block_elems == 1 && s == kInfo[i].name) {
      *out = DType(i);
      return true;
    }
  }
  return false;
}

uint16_t f32_to_f16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  uint16_t sign = uint16_t((u >> 16) & 0x8000);
  float a = std::fabs(f);
  if (std::isnan(f)) return sign | 0x7e00;
  if (a >= 65520.0f) return sign | 0x7c00;  // overflow to inf (RNE boundary)
  if (a < 6.103515625e-05f) {               // subnormal: multiple of 2^-24, round to nearest even
    return sign | uint16_t(std::nearbyint(a * 16777216.0f));
  }
  int e;
  float m = std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
  // 11 significant bits: mantissa scaled to [1024, 2048)
  float scaled = std::nearbyint(m * 2048.0f);
  if (scaled >= 2048.0f) {
    scaled /= 2;
    e += 1;
  }
  uint32_t man = uint32_t(scaled) - 1024;
  uint32_t exp = uint32_t(e - 1 + 15);
  return sign | uint16_t(exp << 10) | uint16_t(man);
}

float fp8_e4m3_to_f32(uint8_t v) { return kFp8.v[v]; }

void convert_to_f32(DType t, const void* src, float* dst, int64_t n) {
  switch (t) {
    case DType::F32: std::memcpy(dst, src, size_t(n) * 4); return;
    case DType::BF16: {
      auto* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
      return;
    }
    case DType::F16: {
      auto* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
      return;
    }
    case DType::F8_E4M3: {
      auto* s = static_cast<const uint8_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = kFp8.v[s[i]];
      return;
    }
    default: MM_CHECK(false, std::string("convert_to_f32: unsupported dtype ") + dtype_name(t));
  }
}

}  // namespace mm
