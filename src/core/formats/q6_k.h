// Q6_K (ggml type 14): 256 values in 210 bytes, 16 sub-blocks of 16 with an int8 scale each,
// x = d · scales[j] · (q − 32), q in 0..63: 4 low bits in ql, 2 high bits in qh. Per half n (128
// values), ql[64n + l] holds values 128n + l (low nibble) and 128n + 64 + l (high), ql[64n + 32 + l]
// values 128n + 32 + l and 128n + 96 + l; qh[32n + l] bits 0-1, 2-3, 4-5, 6-7 hold the high bits of
// values 128n + l, + 32 + l, + 64 + l, + 96 + l.
#pragma once
#include <algorithm>

#include "core/formats/block_common.h"

namespace mm::fmt {

struct BlockQ6_K {
  uint8_t ql[128];     // low 4 bits
  uint8_t qh[64];      // high 2 bits
  int8_t scales[16];   // sub-block scales
  uint8_t d[2];        // f16 super-block scale
};
static_assert(sizeof(BlockQ6_K) == 210 && alignof(BlockQ6_K) == 1);

struct Q6_K {
  using Block = BlockQ6_K;
  static constexpr DType kType = DType::Q6_K;
  static constexpr const char* kName = "Q6_K";
  static constexpr uint32_t kGgmlType = 14;
  static constexpr int kElems = 256;
  static constexpr int kSub = 16, kCodeOffset = 32;  // w = (d·scales[j]) · (u − 32)
  static constexpr bool kHasMin = false;

  // The 6-bit codes of half n at l (< 32): values 128n + l, + 32, + 64, + 96.
  MM_FMT_INLINE static void codes_at(const Block& b, int n, int l, int q[4]) {
    const uint8_t* l0 = b.ql + 64 * n;
    const uint8_t h = b.qh[32 * n + l];
    q[0] = int((l0[l] & 0xF) | (((h >> 0) & 3) << 4));
    q[1] = int((l0[l + 32] & 0xF) | (((h >> 2) & 3) << 4));
    q[2] = int((l0[l] >> 4) | (((h >> 4) & 3) << 4));
    q[3] = int((l0[l + 32] >> 4) | (((h >> 6) & 3) << 4));
  }

  static void dequantize(const uint8_t* p, float* y) {
    const Block& b = *reinterpret_cast<const Block*>(p);
    const float d = load_f16(b.d);
    for (int n = 0; n < 2; ++n) {
      const int8_t* s = b.scales + 8 * n;
      float* o = y + 128 * n;
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        int q[4];
        codes_at(b, n, l, q);
        for (int k = 0; k < 4; ++k) o[l + 32 * k] = d * float(s[is + 2 * k]) * float(q[k] - 32);
      }
    }
  }

  static void quantize(const float* x, uint8_t* p) {
    float scales[16], w[16];
    float max_abs = 0, max_scale = 0;
    for (int j = 0; j < 16; ++j) {
      importance(x + 16 * j, 16, w);
      scales[j] = fit_scale_sym(x + 16 * j, w, 16, 32);
      if (std::fabs(scales[j]) > max_abs) {
        max_abs = std::fabs(scales[j]);
        max_scale = scales[j];
      }
    }
    std::memset(p, 0, sizeof(Block));
    if (max_abs == 0) return;
    Block& b = *reinterpret_cast<Block*>(p);
    const float iscale = -128.0f / max_scale;
    for (int j = 0; j < 16; ++j) b.scales[j] = int8_t(std::min(127, nearest(iscale * scales[j])));
    store_f16(b.d, 1.0f / iscale);
    const float d = load_f16(b.d);
    uint8_t q[256];
    for (int j = 0; j < 16; ++j) {
      const float ds = d * float(b.scales[j]);
      for (int i = 0; i < 16; ++i) {
        const int v = ds != 0 ? nearest(x[16 * j + i] / ds) : 0;
        q[16 * j + i] = uint8_t(std::clamp(v, -32, 31) + 32);
      }
    }
    for (int n = 0; n < 2; ++n) {
      for (int l = 0; l < 32; ++l) {
        const uint8_t* v = q + 128 * n;
        const uint8_t q1 = v[l], q2 = v[l + 32], q3 = v[l + 64], q4 = v[l + 96];
        b.ql[64 * n + l] = uint8_t((q1 & 0xF) | ((q3 & 0xF) << 4));
        b.ql[64 * n + l + 32] = uint8_t((q2 & 0xF) | ((q4 & 0xF) << 4));
        b.qh[32 * n + l] = uint8_t((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
      }
    }
  }

  // u = the 6-bit code, a = d · scales[j].
  template <class F16>
  MM_FMT_INLINE static void decode_codes(const uint8_t* p, uint8_t* u, float* a, float* bmin, F16 f16) {
    const Block& b = *reinterpret_cast<const Block*>(p);
    const float d = f16(b.d);
    for (int j = 0; j < 16; ++j) {
      a[j] = d * float(b.scales[j]);
      bmin[j] = 0;
    }
    for (int n = 0; n < 2; ++n) {
      for (int l = 0; l < 32; ++l) {
        int q[4];
        codes_at(b, n, l, q);
        for (int k = 0; k < 4; ++k) u[128 * n + l + 32 * k] = uint8_t(q[k]);
      }
    }
  }
};

}  // namespace mm::fmt
