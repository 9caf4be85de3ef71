// Scalar reference of ops/simd/quant_dot.h: each block is decoded to integer levels (the value the
// block format stores before its float scales), dotted with the activation codes in integer math,
// and scaled once per 32 (Q6_K: 16) weights. The SIMD kernels must agree up to float summation order.
#include <cstring>

#include "core/dtype.h"
#include "core/error.h"
#include "ops/simd/quant_dot.h"

namespace mm::simd {

namespace {

float f16_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

void k_scale_min(int j, const uint8_t* s, int* sc, int* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

int32_t idot(const int* lv, const int8_t* q, int n) {
  int32_t s = 0;
  for (int i = 0; i < n; ++i) s += lv[i] * int32_t(q[i]);
  return s;
}

// One weight row against one activation row.
float row_dot(DType t, const uint8_t* row, int64_t n_in, const ActQ8Row& x) {
  float acc = 0.0f, mins = 0.0f;
  int lv[256];
  if (t == DType::Q8_0 || t == DType::Q4_0 || t == DType::Q5_0) {
    const int64_t nb = n_in / 32;
    const size_t bytes = t == DType::Q8_0 ? 34 : t == DType::Q4_0 ? 18 : 22;
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* p = row + size_t(b) * bytes;
      if (t == DType::Q8_0) {
        for (int i = 0; i < 32; ++i) lv[i] = int(int8_t(p[2 + i]));
      } else if (t == DType::Q4_0) {
        for (int j = 0; j < 16; ++j) {
          lv[j] = int(p[2 + j] & 0xF) - 8;
          lv[j + 16] = int(p[2 + j] >> 4) - 8;
        }
      } else {
        uint32_t qh;
        std::memcpy(&qh, p + 2, 4);
        for (int j = 0; j < 16; ++j) {
          lv[j] = (int(p[6 + j] & 0xF) | int(((qh >> j) & 1) << 4)) - 16;
          lv[j + 16] = (int(p[6 + j] >> 4) | int(((qh >> (j + 16)) & 1) << 4)) - 16;
        }
      }
      acc += (f16_at(p) * x.d[b]) * float(idot(lv, x.q + 32 * b, 32));
    }
  } else if (t == DType::Q4_K || t == DType::Q5_K) {
    const bool five = t == DType::Q5_K;
    const int64_t nb = n_in / 256;
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* p = row + size_t(b) * (five ? 176 : 144);
      const float d = f16_at(p), dmin = f16_at(p + 2);
      const uint8_t* qh = p + 16;
      const uint8_t* qs = p + (five ? 48 : 16);
      for (int g = 0; g < 8; ++g) {
        const int c = g / 2;
        for (int l = 0; l < 32; ++l) {
          int v = g % 2 == 0 ? qs[32 * c + l] & 0xF : qs[32 * c + l] >> 4;
          if (five) v |= ((qh[l] >> g) & 1) << 4;
          lv[l] = v;
        }
        int sc, m;
        k_scale_min(g, p + 4, &sc, &m);
        const int64_t xb = 8 * b + g;
        acc += (d * float(sc) * x.d[xb]) * float(idot(lv, x.q + 32 * xb, 32));
        mins += (dmin * float(m)) * (x.d[xb] * float(x.s[xb]));
      }
    }
  } else if (t == DType::Q6_K) {
    const int64_t nb = n_in / 256;
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* p = row + size_t(b) * 210;
      const auto* sc = reinterpret_cast<const int8_t*>(p + 192);
      const float d = f16_at(p + 208);
      for (int n = 0; n < 2; ++n) {
        const uint8_t* l0 = p + 64 * n;
        const uint8_t* h0 = p + 128 + 32 * n;
        for (int l = 0; l < 32; ++l) {
          lv[128 * n + l] = int((l0[l] & 0xF) | (((h0[l] >> 0) & 3) << 4)) - 32;
          lv[128 * n + l + 32] = int((l0[l + 32] & 0xF) | (((h0[l] >> 2) & 3) << 4)) - 32;
          lv[128 * n + l + 64] = int((l0[l] >> 4) | (((h0[l] >> 4) & 3) << 4)) - 32;
          lv[128 * n + l + 96] = int((l0[l + 32] >> 4) | (((h0[l] >> 6) & 3) << 4)) - 32;
        }
      }
      for (int j = 0; j < 16; ++j) {
        const int64_t xb = 8 * b + j / 2;
        acc += (d * float(sc[j]) * x.d[xb]) * float(idot(lv + 16 * j, x.q + 256 * b + 16 * j, 16));
      }
    }
  } else {
    MM_CHECK(false, "quant_gemv_q8_ref: unsupported weight type");
  }
  return acc - mins;
}

}  // namespace

void quant_gemv_q8_ref(const ActQ8& x, int64_t t0, int64_t n_rows, const QMatrix& w, int64_t o0, int64_t o1,
                       float* y, int64_t ldy) {
  MM_CHECK(x.n_in == w.n_in && t0 >= 0 && t0 + n_rows <= x.n_rows, "quant_gemv_q8_ref: shape");
  for (int64_t t = 0; t < n_rows; ++t)
    for (int64_t o = o0; o < o1; ++o)
      y[t * ldy + o] = row_dot(w.type, w.data + size_t(o) * w.row_bytes, w.n_in, x.row(t0 + t));
}

}  // namespace mm::simd
