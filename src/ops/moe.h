// Mixture of Experts: routing (softmax or sigmoid-with-bias) and SwiGLU experts applied to the tokens
// routed to them as matrix-matrix work.
#pragma once
#include <cstdint>
#include <vector>

#include "core/exec_context.h"
#include "ops/weight.h"

namespace mm {

enum class RouterKind {
  Softmax,      // Text-01: softmax over all experts, top-k, renormalise the chosen probabilities
  SigmoidBias,  // M2: sigmoid scores, choose top-k by score + bias, weights = chosen scores renormalised
};

struct MoeLayerWeights {
  Weight router;                // [n_experts, hidden]
  std::vector<float> bias;      // [n_experts] (SigmoidBias only)
  std::vector<Weight> w1, w3, w2;  // per expert: gate [inter, hidden], up [inter, hidden], down [hidden, inter]
};

// logits [n_tokens, n_experts] -> expert ids and weights [n_tokens, top_k]. Ties keep the lower id.
void moe_route(ExecContext& ctx, const float* logits, int64_t n_tokens, int64_t n_experts, int64_t top_k, RouterKind kind,
               const float* bias, int32_t* ids, float* weights);

// out[n_tokens, hidden] = Σ_k weight_k · expert_k(x) (overwrites out).
void moe_forward(ExecContext& ctx, const float* x, int64_t n_tokens, int64_t hidden, const MoeLayerWeights& w, int64_t top_k,
                 RouterKind kind, float* out);

}  // namespace mm
