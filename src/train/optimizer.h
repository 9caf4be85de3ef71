// AdamW with decoupled weight decay, global-norm gradient clipping, and the learning-rate schedule
// (linear warmup, then cosine decay to a floor).
#pragma once
#include <cstdint>

#include "core/exec_context.h"
#include "train/params.h"

namespace mm {

struct AdamW {
  double beta1 = 0.9, beta2 = 0.95;
  double eps = 1e-8;  // the M1 report needed 1e-15 for its RL stage: any positive value is accepted
  double weight_decay = 0.1;
};

struct LrSchedule {
  double lr_max = 1e-3;
  double min_ratio = 0.1;  // the cosine ends at lr_max · min_ratio
  int64_t warmup = 0;      // steps of linear warmup
  int64_t total = 1;       // steps in all
  // Learning rate of step `step` (0-based).
  double at(int64_t step) const;
};

// Global L2 norm of all gradients; when it exceeds max_norm (> 0) every gradient is scaled by
// max_norm / norm. Returns the norm before clipping. Sums in double, in parameter order.
double clip_grad_norm(std::vector<Param>& ps, double max_norm);

// One AdamW update of every parameter with learning rate lr; `t` is the 1-based step count for the
// bias corrections. Decay (lr · weight_decay · w) only where Param::decay.
void adamw_step(ExecContext& ctx, std::vector<Param>& ps, const AdamW& opt, double lr, int64_t t);

}  // namespace mm
