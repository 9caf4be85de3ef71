// The trainer's parameters: owned fp32 master copies of every tensor of the architecture's tensor
// table (model_tensor_specs: the same names and shapes the inference loader checks), each with its
// gradient and AdamW moments. The inference `Weight` views stay read-only; a trained model reaches
// the engine by export (train/export.h), never by sharing these buffers.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/weights.h"

namespace mm {

struct Param {
  TensorSpec spec;
  int64_t numel = 0;
  std::vector<float> w;     // the value
  std::vector<float> g;     // dL/dw, accumulated over micro-batches
  std::vector<float> m, v;  // AdamW first and second moments
  bool decay = true;        // weight decay applies (matrices), not to norms and embeddings' biases
};

class ParamSet {
 public:
  // Every tensor of model_tensor_specs(cfg), zero-filled.
  explicit ParamSet(const ModelConfig& cfg);
  Param& at(const std::string& name);
  const Param& at(const std::string& name) const;
  float* w(const std::string& name) { return at(name).w.data(); }
  float* g(const std::string& name) { return at(name).g.data(); }
  std::vector<Param>& all() { return params_; }
  const std::vector<Param>& all() const { return params_; }
  int64_t numel() const;
  void zero_grad();

 private:
  std::vector<Param> params_;
  std::vector<std::pair<std::string, size_t>> index_;  // sorted by name
};

// Fresh weights, reproducible from `seed`: norms 1, the e_score_correction_bias 0, matrices normal
// with std `init_std` (config initializer_range, 0.02 by default), the projections that write into
// the residual stream (o_proj, out_proj, experts' w2) scaled by 1/sqrt(2·layers) (GPT-2's scheme).
void init_params(ParamSet& p, const ModelConfig& cfg, double init_std, uint64_t seed);

}  // namespace mm
