// The architecture registry: the only place that switches on Arch.
#include "core/error.h"
#include "model/minimax_m2.h"
#include "model/minimax_text01.h"
#include "model/model.h"

namespace mm {

std::vector<TensorSpec> model_tensor_specs(const ModelConfig& cfg) {
  switch (cfg.arch) {
    case Arch::MiniMaxText01: return text01_tensor_specs(cfg);
    case Arch::MiniMaxM2: return m2_tensor_specs(cfg);
  }
  MM_CHECK(false);
}

std::unique_ptr<Model> create_model(HfCheckpoint ck) {
  ModelConfig cfg = parse_model_config(ck.config);
  check_tensors(ck.tensors, model_tensor_specs(cfg), cfg);
  switch (cfg.arch) {
    case Arch::MiniMaxText01: return create_text01(std::move(cfg), std::move(ck.tensors));
    case Arch::MiniMaxM2: return create_m2(std::move(cfg), std::move(ck.tensors));
  }
  MM_CHECK(false);
}

std::unique_ptr<Model> load_model(const std::string& path) { return create_model(load_checkpoint(path)); }

void Model::validate_batch(std::span<const BatchItem> batch) const {
  for (const auto& it : batch) {
    MM_CHECK(it.seq != nullptr && it.n_tokens >= 0);
    for (int64_t i = 0; i < it.n_tokens; ++i)
      if (it.tokens[i] < 0 || it.tokens[i] >= cfg_.vocab_size)
        throw Error("token id " + std::to_string(it.tokens[i]) + " is out of range (vocab_size " +
                    std::to_string(cfg_.vocab_size) + ")");
    if (it.seq->n_past + it.n_tokens > it.seq->n_ctx_max)
      throw Error("context length exceeded: " + std::to_string(it.seq->n_past + it.n_tokens) +
                  " tokens > limit " + std::to_string(it.seq->n_ctx_max));
  }
}

}  // namespace mm
