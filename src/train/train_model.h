// The trainer's model: the forward pass of the MiniMax architectures (Text-01 / M1 hybrids of
// lightning and softmax layers with DeepNet α/β residuals; M2's all-softmax layers with QK-norm and
// a sigmoid router) on owned fp32 parameters, keeping the activations the backward pass needs, and
// that backward pass, which reads as the forward run in reverse.
//
//   h = embed[ids]
//   per layer:  a = RMSNorm_in(h);   h = (postnorm ? a : h)·α_attn + Attn(a)·β_attn
//               b = RMSNorm_post(h); h = (postnorm ? b : h)·α_mlp  + MoE(b)·β_mlp
//   logits = lm_head(RMSNorm_final(h));   loss = CE(logits, targets) + coef · aux(router logits)
//
// The per-op forwards are the engine's own (ops/basic.h, ops/lightning.h, ops/attention.h,
// ops/moe.h's routing), so the trainer's logits are the engine's on the same weights; the backward
// ops are their neighbours (ops/*_grad.h).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "core/exec_context.h"
#include "model/config.h"
#include "train/params.h"

namespace mm {

// n_seq sequences of n_tokens each, laid end to end, every one starting at position 0 with fresh
// lightning states. targets[r] is the token to predict at row r (< 0: not counted).
struct TrainBatch {
  int64_t n_seq = 0, n_tokens = 0;
  const int32_t* tokens = nullptr;   // [n_seq·n_tokens]
  const int32_t* targets = nullptr;  // [n_seq·n_tokens]
};

struct LossParts {
  double ce_sum = 0;      // Σ over counted rows of −log p(target)
  int64_t n_counted = 0;  // counted rows
  double aux = 0;         // load-balancing loss (before its coefficient)
  double ce_mean() const { return n_counted ? ce_sum / double(n_counted) : 0.0; }
};

class TrainModel {
 public:
  // `aux_coef`: router_aux_loss_coef (0: no auxiliary loss).
  TrainModel(const ModelConfig& cfg, ParamSet& params, float aux_coef);
  ~TrainModel();
  TrainModel(const TrainModel&) = delete;
  TrainModel& operator=(const TrainModel&) = delete;

  // Forward and backward of L = ce_mean · ce_scale + aux_coef · aux · aux_scale: gradients are
  // accumulated into the parameters' g (ce_scale = 1 / micro-batches for accumulation).
  LossParts forward_backward(ExecContext& ctx, const TrainBatch& b, float ce_scale = 1.0f);
  // Forward only (evaluation); `logits` (when given) receives [n_seq·n_tokens, vocab].
  LossParts forward(ExecContext& ctx, const TrainBatch& b, std::vector<float>* logits = nullptr);

  // Model FLOPs of one token's forward (matrix products and attention at this batch's length), for MFU.
  double forward_flops_per_token(int64_t n_tokens) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mm
