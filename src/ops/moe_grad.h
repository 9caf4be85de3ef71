// Backward of the MoE router (ops/moe.h's moe_route) and the load-balancing auxiliary loss of the
// reference code (Mixtral's load_balancing_loss_func, which MiniMax's modeling code uses with
// router_aux_loss_coef), next to the forward's moe.h. The experts' SwiGLU and the weighted sum are
// linear layers and element-wise ops (ops/linear_grad.h, ops/basic_grad.h).
#pragma once
#include <cstdint>
#include <vector>

#include "ops/moe.h"

namespace mm {

// Route weights w_k = score(e_k) / Σ_sel score, e_k the chosen experts; score = softmax(logits)
// (RouterKind::Softmax) or sigmoid(logits) (SigmoidBias: the bias only chooses, it gets no gradient).
// Given dL/dw [n_tokens, top_k], writes dL/dlogits [n_tokens, n_experts] (overwrites). The same
// choice (ids) as the forward is used: selection is piecewise constant.
void moe_route_backward(const float* logits, int64_t n_tokens, int64_t n_experts, int64_t top_k, RouterKind kind,
                        const int32_t* ids, const float* d_weights, float* d_logits);

// The auxiliary loss over the router logits of all MoE layers, concatenated as the reference does
// (N = layers x tokens rows): p = softmax(logits), the top-k of p chosen per row,
//   f_e = (number of rows choosing e) / N,  P_e = mean_rows p_e,   loss = n_experts · Σ_e f_e · P_e.
// Returns the loss; when d_logits is given (one [n_tokens, n_experts] buffer per layer, accumulated
// +=), adds coef · dloss/dlogits.
double load_balancing_loss(const std::vector<const float*>& logits, int64_t n_tokens, int64_t n_experts, int64_t top_k,
                           float coef, const std::vector<float*>& d_logits);

}  // namespace mm
