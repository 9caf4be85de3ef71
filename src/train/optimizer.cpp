#include "train/optimizer.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace mm {

double LrSchedule::at(int64_t step) const {
  if (warmup > 0 && step < warmup) return lr_max * double(step + 1) / double(warmup);
  const double span = double(std::max<int64_t>(1, total - warmup));
  const double progress = std::clamp(double(step - warmup) / span, 0.0, 1.0);
  const double cosine = 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
  return lr_max * (min_ratio + (1.0 - min_ratio) * cosine);
}

double clip_grad_norm(std::vector<Param>& ps, double max_norm) {
  double ss = 0;
  for (const Param& p : ps)
    for (float g : p.g) ss += double(g) * g;
  const double norm = std::sqrt(ss);
  if (max_norm > 0 && norm > max_norm) {
    const float s = float(max_norm / norm);
    for (Param& p : ps)
      for (float& g : p.g) g *= s;
  }
  return norm;
}

void adamw_step(ExecContext& ctx, std::vector<Param>& ps, const AdamW& opt, double lr, int64_t t) {
  const double bc1 = 1.0 - std::pow(opt.beta1, double(t)), bc2 = 1.0 - std::pow(opt.beta2, double(t));
  const float b1 = float(opt.beta1), b2 = float(opt.beta2);
  const float step = float(lr / bc1), inv_sqrt_bc2 = float(1.0 / std::sqrt(bc2)), eps = float(opt.eps);
  for (Param& p : ps) {
    const float decay = p.decay ? float(1.0 - lr * opt.weight_decay) : 1.0f;
    float* w = p.w.data();
    float* m = p.m.data();
    float* v = p.v.data();
    const float* g = p.g.data();
    ctx.parallel_for(p.numel, [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i) {
        m[i] = b1 * m[i] + (1.0f - b1) * g[i];
        v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        w[i] = w[i] * decay - step * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + eps);
      }
    }, 1 << 14);
  }
}

}  // namespace mm
