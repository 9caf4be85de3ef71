// The declarative tensor table: each architecture lists the tensors its config requires (HF name,
// shape [out, in]); load checks them all before any forward pass and binds them to Weight views.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "io/tensor_store.h"
#include "model/config.h"
#include "ops/weight.h"

namespace mm {

enum class TensorRole { Embedding, Output, Dense, Expert, Norm, Router };

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;  // HF order
  TensorRole role;
};

// Every missing tensor, wrong shape or unsupported dtype, all in one mm::Error message.
void check_tensors(const TensorStore& store, const std::vector<TensorSpec>& specs, const ModelConfig& cfg);

// A matrix weight; for F8_E4M3 it also binds `<name>_scale_inv` (validated: present, F32, right shape).
Weight bind_weight(const TensorStore& store, const std::string& name, const ModelConfig& cfg);
// A vector (norm weight, bias) converted to f32.
std::vector<float> load_vector(const TensorStore& store, const std::string& name);

struct ParamCounts {
  double total = 0;
  double active = 0;        // per token, excluding embedding and lm_head (model-card convention)
  double embeddings = 0;    // embedding + lm_head
};
ParamCounts count_params(const std::vector<TensorSpec>& specs, const ModelConfig& cfg);

}  // namespace mm
