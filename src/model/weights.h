// The declarative tensor table: each architecture declares the tensors its config requires once (HF
// name, shape [out, in], role, and the field it binds to) by calling a TensorVisitor. The same
// declaration lists the table (load checks, parameter counts, `minimax init`) and binds the weights.
#pragma once
#include <cstdint>
#include <functional>
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

// Where a declared tensor goes when bound: a matrix (Weight view) or a vector converted to f32 (norm
// weights, biases; role Norm).
struct TensorDst {
  TensorDst(Weight* w) : weight(w) {}
  TensorDst(std::vector<float>* v) : vec(v) {}
  Weight* weight = nullptr;
  std::vector<float>* vec = nullptr;
};
using TensorVisitor = std::function<void(TensorSpec spec, TensorDst dst)>;

// A visitor that records the specs only.
TensorVisitor collect_specs(std::vector<TensorSpec>& out);
// A visitor that binds every tensor from `store` (bind_weight / load_vector by destination).
TensorVisitor bind_from(const TensorStore& store, const ModelConfig& cfg);

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
