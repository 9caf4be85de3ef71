#include "train/params.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "core/error.h"
#include "model/model.h"

namespace mm {

ParamSet::ParamSet(const ModelConfig& cfg) {
  for (const TensorSpec& s : model_tensor_specs(cfg)) {
    Param p;
    p.spec = s;
    p.numel = 1;
    for (int64_t d : s.shape) p.numel *= d;
    p.w.assign(size_t(p.numel), 0.0f);
    p.g.assign(size_t(p.numel), 0.0f);
    p.m.assign(size_t(p.numel), 0.0f);
    p.v.assign(size_t(p.numel), 0.0f);
    p.decay = s.role != TensorRole::Norm;
    params_.push_back(std::move(p));
  }
  for (size_t i = 0; i < params_.size(); ++i) index_.push_back({params_[i].spec.name, i});
  std::sort(index_.begin(), index_.end());
}

Param& ParamSet::at(const std::string& name) {
  auto it = std::lower_bound(index_.begin(), index_.end(), std::make_pair(name, size_t(0)));
  MM_CHECK(it != index_.end() && it->first == name);
  return params_[it->second];
}

const Param& ParamSet::at(const std::string& name) const { return const_cast<ParamSet*>(this)->at(name); }

int64_t ParamSet::numel() const {
  int64_t n = 0;
  for (const auto& p : params_) n += p.numel;
  return n;
}

void ParamSet::zero_grad() {
  for (auto& p : params_) std::fill(p.g.begin(), p.g.end(), 0.0f);
}

void init_params(ParamSet& ps, const ModelConfig& cfg, double init_std, uint64_t seed) {
  const double resid_scale = 1.0 / std::sqrt(2.0 * double(std::max<int64_t>(1, cfg.num_hidden_layers)));
  uint64_t k = 0;
  for (Param& p : ps.all()) {
    const std::string& n = p.spec.name;
    if (p.spec.role == TensorRole::Norm) {
      const bool bias = n.find("e_score_correction_bias") != std::string::npos;
      std::fill(p.w.begin(), p.w.end(), bias ? 0.0f : 1.0f);
      continue;
    }
    // One generator per tensor (seed, tensor index): adding a tensor does not reshuffle the others.
    std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + (++k));
    const bool writes_residual = n.find("o_proj.weight") != std::string::npos ||
                                 n.find("out_proj.weight") != std::string::npos ||
                                 n.find(".w2.weight") != std::string::npos;
    std::normal_distribution<double> nd(0.0, init_std * (writes_residual ? resid_scale : 1.0));
    for (auto& x : p.w) x = float(nd(rng));
  }
}

}  // namespace mm
