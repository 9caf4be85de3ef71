// MiniMax-Text-01 / MiniMax-M1: lightning + softmax attention hybrid, softmax-routed MoE, DeepNet-style
// alpha/beta residual scaling.
#pragma once
#include <memory>
#include <vector>

#include "model/model.h"

namespace mm {

std::vector<TensorSpec> text01_tensor_specs(const ModelConfig& cfg);
std::unique_ptr<Model> create_text01(ModelConfig cfg, TensorStore tensors);

}  // namespace mm
