// MiniMax-M2 family (M2, M2.1, M2.5): all softmax attention with QK-norm, sigmoid-routed MoE.
#pragma once
#include <memory>
#include <vector>

#include "model/model.h"

namespace mm {

std::vector<TensorSpec> m2_tensor_specs(const ModelConfig& cfg);
std::unique_ptr<Model> create_m2(ModelConfig cfg, TensorStore tensors);

}  // namespace mm
