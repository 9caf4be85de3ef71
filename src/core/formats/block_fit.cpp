// Scale fitting for the reference K-quant quantisers (declared in core/formats/block_common.h).
#include <algorithm>
#include <cmath>

#include "core/formats/block_common.h"

namespace mm::fmt {

void importance(const float* x, int n, float* w) {
  float sum2 = 0;
  for (int i = 0; i < n; ++i) sum2 += x[i] * x[i];
  float av = std::sqrt(sum2 / float(n));
  for (int i = 0; i < n; ++i) w[i] = av + std::fabs(x[i]);
}

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

}  // namespace mm::fmt
