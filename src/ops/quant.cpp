// Scalar reference dequantisers and quantisers for the GGUF block formats.
//
// Layouts (little-endian, one block each):
//   Q8_0  (32 values, 34 B): f16 d; int8 q[32]                       x = d*q
//   Q4_0  (32 values, 18 B): f16 d; u8 qs[16]                        x = d*(nibble-8); low nibbles are
//                            values 0..15, high nibbles values 16..31
//   Q5_0  (32 values, 22 B): f16 d; u32 qh; u8 qs[16]                as Q4_0 with a fifth bit: bit j of qh
//                            is the high bit of value j; x = d*(q-16)
//   Q4_K  (256 values, 144 B): f16 d; f16 dmin; u8 scales[12]; u8 qs[128]
//                            8 sub-blocks of 32, each with a 6-bit scale sc and 6-bit min m:
//                            x = d*sc*q - dmin*m, q in 0..15. qs byte 32c+l holds value 64c+l (low
//                            nibble) and 64c+32+l (high nibble).
//   Q5_K  (256 values, 176 B): f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]
//                            as Q4_K plus a fifth bit: bit 2c of qh[l] for value 64c+l, bit 2c+1 for
//                            value 64c+32+l.
//   Q6_K  (256 values, 210 B): u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d
//                            16 sub-blocks of 16, x = d*scales[j]*(q-32), q in 0..63 from 4 low bits in
//                            ql and 2 high bits in qh (see pack_q6k).
// The 12 K-quant scale bytes pack eight 6-bit scales and eight 6-bit mins: bytes 0..3 hold sc0..3 in
// their low 6 bits, bytes 4..7 hold m0..3; sc4..7 / m4..7 keep their low nibbles in bytes 8..11 (sc
// low, m high) and their top two bits in the top two bits of bytes 0..3 / 4..7.
#include "ops/quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"

namespace mm {

namespace {

constexpr int kQK = 256;  // K-quant super-block

inline float load_f16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}
inline void store_f16(uint8_t* p, float f) {
  uint16_t h = f32_to_f16(f);
  std::memcpy(p, &h, 2);
}

// ---- dequantisers --------------------------------------------------------------------------------

void deq_q8_0(const uint8_t* b, float* y) {
  float d = load_f16(b);
  auto* q = reinterpret_cast<const int8_t*>(b + 2);
  for (int i = 0; i < 32; ++i) y[i] = d * float(q[i]);
}

void deq_q4_0(const uint8_t* b, float* y) {
  float d = load_f16(b);
  const uint8_t* qs = b + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = d * float(int(qs[j] & 0xF) - 8);
    y[j + 16] = d * float(int(qs[j] >> 4) - 8);
  }
}

void deq_q5_0(const uint8_t* b, float* y) {
  float d = load_f16(b);
  uint32_t qh;
  std::memcpy(&qh, b + 2, 4);
  const uint8_t* qs = b + 6;
  for (int j = 0; j < 16; ++j) {
    int lo = int(qs[j] & 0xF) | int(((qh >> j) & 1) << 4);
    int hi = int(qs[j] >> 4) | int(((qh >> (j + 16)) & 1) << 4);
    y[j] = d * float(lo - 16);
    y[j + 16] = d * float(hi - 16);
  }
}

// Sub-block j's 6-bit scale and min from the 12 packed bytes.
inline void k_scale_min(int j, const uint8_t* s, int* sc, int* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

void deq_q4_k(const uint8_t* b, float* y) {
  float d = load_f16(b), dmin = load_f16(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qs = b + 16;
  for (int c = 0; c < 4; ++c) {
    int sc0, m0, sc1, m1;
    k_scale_min(2 * c, scales, &sc0, &m0);
    k_scale_min(2 * c + 1, scales, &sc1, &m1);
    float d0 = d * float(sc0), mm0 = dmin * float(m0);
    float d1 = d * float(sc1), mm1 = dmin * float(m1);
    const uint8_t* q = qs + 32 * c;
    for (int l = 0; l < 32; ++l) y[64 * c + l] = d0 * float(q[l] & 0xF) - mm0;
    for (int l = 0; l < 32; ++l) y[64 * c + 32 + l] = d1 * float(q[l] >> 4) - mm1;
  }
}

void deq_q5_k(const uint8_t* b, float* y) {
  float d = load_f16(b), dmin = load_f16(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qh = b + 16;
  const uint8_t* qs = b + 48;
  for (int c = 0; c < 4; ++c) {
    int sc0, m0, sc1, m1;
    k_scale_min(2 * c, scales, &sc0, &m0);
    k_scale_min(2 * c + 1, scales, &sc1, &m1);
    float d0 = d * float(sc0), mm0 = dmin * float(m0);
    float d1 = d * float(sc1), mm1 = dmin * float(m1);
    const uint8_t* q = qs + 32 * c;
    for (int l = 0; l < 32; ++l) {
      int v = (q[l] & 0xF) | (((qh[l] >> (2 * c)) & 1) << 4);
      y[64 * c + l] = d0 * float(v) - mm0;
    }
    for (int l = 0; l < 32; ++l) {
      int v = (q[l] >> 4) | (((qh[l] >> (2 * c + 1)) & 1) << 4);
      y[64 * c + 32 + l] = d1 * float(v) - mm1;
    }
  }
}

void deq_q6_k(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  auto* sc = reinterpret_cast<const int8_t*>(b + 192);
  float d = load_f16(b + 208);
  for (int n = 0; n < 2; ++n) {
    const uint8_t* l0 = ql + 64 * n;
    const uint8_t* h0 = qh + 32 * n;
    const int8_t* s = sc + 8 * n;
    float* o = y + 128 * n;
    for (int l = 0; l < 32; ++l) {
      int is = l / 16;
      int q1 = int((l0[l] & 0xF) | (((h0[l] >> 0) & 3) << 4)) - 32;
      int q2 = int((l0[l + 32] & 0xF) | (((h0[l] >> 2) & 3) << 4)) - 32;
      int q3 = int((l0[l] >> 4) | (((h0[l] >> 4) & 3) << 4)) - 32;
      int q4 = int((l0[l + 32] >> 4) | (((h0[l] >> 6) & 3) << 4)) - 32;
      o[l] = d * float(s[is]) * float(q1);
      o[l + 32] = d * float(s[is + 2]) * float(q2);
      o[l + 64] = d * float(s[is + 4]) * float(q3);
      o[l + 96] = d * float(s[is + 6]) * float(q4);
    }
  }
}

// ---- quantisers ----------------------------------------------------------------------------------

void q_q8_0(const float* x, uint8_t* b) {
  float amax = 0;
  for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[i]));
  float d = amax / 127.0f;
  float id = d != 0 ? 1.0f / d : 0.0f;
  store_f16(b, d);
  auto* q = reinterpret_cast<int8_t*>(b + 2);
  for (int i = 0; i < 32; ++i) q[i] = int8_t(std::round(x[i] * id));
}

// Q4_0 / Q5_0: the value of largest magnitude maps to -2^(bits-1) exactly (ggml's convention), so
// the full signed range is used on the side where it matters.
void q_qx_0(const float* x, uint8_t* b, int bits) {
  float amax = 0, vmax = 0;
  for (int i = 0; i < 32; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      vmax = x[i];
    }
  }
  const int half = 1 << (bits - 1), top = (1 << bits) - 1;
  float d = vmax / float(-half);
  float id = d != 0 ? 1.0f / d : 0.0f;
  store_f16(b, d);
  uint8_t q[32];
  for (int i = 0; i < 32; ++i) {
    int v = int(std::floor(x[i] * id + float(half) + 0.5f));
    q[i] = uint8_t(std::clamp(v, 0, top));
  }
  uint8_t* qs = b + 2;
  if (bits == 5) {
    uint32_t qh = 0;
    for (int j = 0; j < 32; ++j) qh |= uint32_t((q[j] >> 4) & 1) << j;
    std::memcpy(b + 2, &qh, 4);
    qs = b + 6;
  }
  for (int j = 0; j < 16; ++j) qs[j] = uint8_t((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4));
}

inline int nearest(float f) { return int(std::nearbyint(f)); }

// Fits x ~= scale*q - min with q in [0, nmax], min >= 0, minimising the weighted squared error over a
// small grid of candidate scales, each refined by a weighted least-squares solve for (scale, min).
void fit_scale_min(const float* x, const float* w, int n, int nmax, float* scale, float* the_min) {
  float lo = x[0], hi = x[0];
  for (int i = 1; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  lo = std::min(lo, 0.0f);
  if (hi <= lo) {
    *scale = 0;
    *the_min = -lo;
    return;
  }
  auto error_of = [&](float s, float m) {  // x ~= s*q + m, m <= 0
    float err = 0;
    for (int i = 0; i < n; ++i) {
      int q = s > 0 ? std::clamp(nearest((x[i] - m) / s), 0, nmax) : 0;
      float e = s * float(q) + m - x[i];
      err += w[i] * e * e;
    }
    return err;
  };
  float best_s = (hi - lo) / float(nmax), best_m = lo;
  float best_err = error_of(best_s, best_m);
  for (int step = -10; step <= 10; ++step) {
    float iscale = (float(nmax) + 0.1f * float(step)) / (hi - lo);
    // Quantise with this candidate, then solve the 2x2 weighted least squares for (s, m).
    double sw = 0, sq = 0, sqq = 0, sx = 0, sqx = 0;
    for (int i = 0; i < n; ++i) {
      int q = std::clamp(nearest(iscale * (x[i] - lo)), 0, nmax);
      sw += w[i];
      sq += w[i] * q;
      sqq += w[i] * double(q) * q;
      sx += w[i] * x[i];
      sqx += w[i] * double(q) * x[i];
    }
    double det = sw * sqq - sq * sq;
    if (det <= 0) continue;
    double s = (sw * sqx - sq * sx) / det;
    double m = (sqq * sx - sq * sqx) / det;
    if (m > 0) {  // the minimum must not be positive: fix m = 0 and refit s
      m = 0;
      s = sqq > 0 ? sqx / sqq : 0;
    }
    if (s <= 0) continue;
    float err = error_of(float(s), float(m));
    if (err < best_err) {
      best_err = err;
      best_s = float(s);
      best_m = float(m);
    }
  }
  *scale = best_s;
  *the_min = -best_m;
}

// Fits x ~= scale*q, q in [-nmax, nmax-1], over a grid around the natural scale (symmetric formats).
float fit_scale_sym(const float* x, const float* w, int n, int nmax) {
  float amax = 0, vmax = 0;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      vmax = x[i];
    }
  }
  if (amax == 0) return 0;
  auto error_of = [&](float s) {
    float err = 0;
    for (int i = 0; i < n; ++i) {
      int q = std::clamp(nearest(x[i] / s), -nmax, nmax - 1);
      float e = s * float(q) - x[i];
      err += w[i] * e * e;
    }
    return err;
  };
  float best = vmax / float(-nmax);
  float best_err = error_of(best);
  for (int step = -9; step <= 9; ++step) {
    float iscale = -(float(nmax) + 0.1f * float(step)) / vmax;
    double sqq = 0, sqx = 0;
    for (int i = 0; i < n; ++i) {
      int q = std::clamp(nearest(iscale * x[i]), -nmax, nmax - 1);
      sqq += w[i] * double(q) * q;
      sqx += w[i] * double(q) * x[i];
    }
    if (sqq <= 0) continue;
    float s = float(sqx / sqq);
    if (s == 0) continue;
    float err = error_of(s);
    if (err < best_err) {
      best_err = err;
      best = s;
    }
  }
  return best;
}

void importance(const float* x, int n, float* w) {
  float sum2 = 0;
  for (int i = 0; i < n; ++i) sum2 += x[i] * x[i];
  float av = std::sqrt(sum2 / float(n));
  for (int i = 0; i < n; ++i) w[i] = av + std::fabs(x[i]);
}

// Q4_K (bits 4) and Q5_K (bits 5).
void q_k_asym(const float* x, uint8_t* b, int bits) {
  const int nmax = (1 << bits) - 1;
  float scales[8], mins[8], w[32];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    importance(x + 32 * j, 32, w);
    fit_scale_min(x + 32 * j, w, 32, nmax, &scales[j], &mins[j]);
    max_scale = std::max(max_scale, scales[j]);
    max_min = std::max(max_min, mins[j]);
  }
  float d = max_scale / 63.0f, dmin = max_min / 63.0f;
  int sc[8], mn[8];
  for (int j = 0; j < 8; ++j) {
    sc[j] = d > 0 ? std::clamp(nearest(scales[j] / d), 0, 63) : 0;
    mn[j] = dmin > 0 ? std::clamp(nearest(mins[j] / dmin), 0, 63) : 0;
  }
  store_f16(b, d);
  store_f16(b + 2, dmin);
  uint8_t* s = b + 4;
  for (int j = 0; j < 4; ++j) {
    s[j] = uint8_t(sc[j] | ((sc[j + 4] >> 4) << 6));
    s[j + 4] = uint8_t(mn[j] | ((mn[j + 4] >> 4) << 6));
    s[j + 8] = uint8_t((sc[j + 4] & 0xF) | ((mn[j + 4] & 0xF) << 4));
  }
  // Re-quantise against the scales as they will be decoded (f16 d/dmin, 6-bit factors).
  float df = load_f16(b), dminf = load_f16(b + 2);
  uint8_t q[kQK];
  for (int j = 0; j < 8; ++j) {
    float ds = df * float(sc[j]), dm = dminf * float(mn[j]);
    for (int i = 0; i < 32; ++i) {
      int v = ds > 0 ? nearest((x[32 * j + i] + dm) / ds) : 0;
      q[32 * j + i] = uint8_t(std::clamp(v, 0, nmax));
    }
  }
  uint8_t* qs = b + (bits == 4 ? 16 : 48);
  if (bits == 5) std::memset(b + 16, 0, 32);
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      uint8_t a = q[64 * c + l], z = q[64 * c + 32 + l];
      qs[32 * c + l] = uint8_t((a & 0xF) | ((z & 0xF) << 4));
      if (bits == 5) b[16 + l] |= uint8_t(((a >> 4) << (2 * c)) | ((z >> 4) << (2 * c + 1)));
    }
  }
}

void q_q6_k(const float* x, uint8_t* b) {
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
  std::memset(b, 0, 210);
  if (max_abs == 0) return;
  float iscale = -128.0f / max_scale;
  auto* sc = reinterpret_cast<int8_t*>(b + 192);
  for (int j = 0; j < 16; ++j) sc[j] = int8_t(std::min(127, nearest(iscale * scales[j])));
  store_f16(b + 208, 1.0f / iscale);
  float d = load_f16(b + 208);
  uint8_t q[kQK];
  for (int j = 0; j < 16; ++j) {
    float ds = d * float(sc[j]);
    for (int i = 0; i < 16; ++i) {
      int v = ds != 0 ? nearest(x[16 * j + i] / ds) : 0;
      q[16 * j + i] = uint8_t(std::clamp(v, -32, 31) + 32);
    }
  }
  uint8_t* ql = b;
  uint8_t* qh = b + 128;
  for (int n = 0; n < 2; ++n) {
    for (int l = 0; l < 32; ++l) {
      const uint8_t* v = q + 128 * n;
      uint8_t q1 = v[l], q2 = v[l + 32], q3 = v[l + 64], q4 = v[l + 96];
      ql[64 * n + l] = uint8_t((q1 & 0xF) | ((q3 & 0xF) << 4));
      ql[64 * n + l + 32] = uint8_t((q2 & 0xF) | ((q4 & 0xF) << 4));
      qh[32 * n + l] = uint8_t((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
    }
  }
}

}  // namespace

void dequantize_row(DType t, const void* src, float* dst, int64_t n) {
  const auto& info = dtype_info(t);
  MM_CHECK(info.block_elems > 1, std::string("dequantize_row: ") + info.name + " is not a block format");
  MM_CHECK(n % info.block_elems == 0, std::string("dequantize_row: ") + info.name + " row of " +
                                          std::to_string(n) + " values is not a whole number of blocks");
  auto* b = static_cast<const uint8_t*>(src);
  const int64_t nb = n / info.block_elems;
  void (*fn)(const uint8_t*, float*) = nullptr;
  switch (t) {
    case DType::Q8_0: fn = deq_q8_0; break;
    case DType::Q4_0: fn = deq_q4_0; break;
    case DType::Q5_0: fn = deq_q5_0; break;
    case DType::Q4_K: fn = deq_q4_k; break;
    case DType::Q5_K: fn = deq_q5_k; break;
    case DType::Q6_K: fn = deq_q6_k; break;
    default: MM_CHECK(false, std::string("dequantize_row: no dequantiser for ") + info.name);
  }
  for (int64_t i = 0; i < nb; ++i) fn(b + i * info.block_bytes, dst + i * info.block_elems);
}

void quantize_row(DType t, const float* src, void* dst, int64_t n) {
  const auto& info = dtype_info(t);
  MM_CHECK(info.block_elems > 1, std::string("quantize_row: ") + info.name + " is not a block format");
  MM_CHECK(n % info.block_elems == 0, std::string("quantize_row: ") + info.name + " row of " +
                                          std::to_string(n) + " values is not a whole number of blocks");
  auto* b = static_cast<uint8_t*>(dst);
  const int64_t nb = n / info.block_elems;
  for (int64_t i = 0; i < nb; ++i) {
    const float* x = src + i * info.block_elems;
    uint8_t* o = b + i * info.block_bytes;
    switch (t) {
      case DType::Q8_0: q_q8_0(x, o); break;
      case DType::Q4_0: q_qx_0(x, o, 4); break;
      case DType::Q5_0: q_qx_0(x, o, 5); break;
      case DType::Q4_K: q_k_asym(x, o, 4); break;
      case DType::Q5_K: q_k_asym(x, o, 5); break;
      case DType::Q6_K: q_q6_k(x, o); break;
      default: MM_CHECK(false, std::string("quantize_row: no quantiser for ") + info.name);
    }
  }
}

}  // namespace mm
