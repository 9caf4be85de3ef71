// The architecture registry: the one array of ArchSpec records, and the entry points that go through it.
#include <algorithm>

#include "core/error.h"
#include "model/arch.h"
#include "model/model.h"

namespace mm {

// The records, one per model/<arch>.cpp.
ArchSpec text01_arch();
ArchSpec m2_arch();

std::span<const ArchSpec> arch_specs() {
  static const ArchSpec specs[] = {text01_arch(), m2_arch()};
  return specs;
}

const ArchSpec& arch_spec(Arch a) {
  for (const auto& s : arch_specs())
    if (s.arch == a) return s;
  MM_CHECK(false, "no ArchSpec for an Arch value");
}

const ArchSpec* find_arch(const std::string& model_type, const std::string& hf_class) {
  auto has = [](const std::vector<std::string>& v, const std::string& x) {
    return !x.empty() && std::find(v.begin(), v.end(), x) != v.end();
  };
  for (const auto& s : arch_specs())
    if (has(s.model_types, model_type) || has(s.hf_classes, hf_class)) return &s;
  return nullptr;
}

std::vector<TensorSpec> model_tensor_specs(const ModelConfig& cfg) {
  std::vector<TensorSpec> specs;
  arch_spec(cfg.arch).visit_tensors(cfg, collect_specs(specs));
  return specs;
}

std::unique_ptr<Model> create_model(HfCheckpoint ck) {
  ModelConfig cfg = parse_model_config(ck.config);
  check_tensors(ck.tensors, model_tensor_specs(cfg), cfg);
  return arch_spec(cfg.arch).create(std::move(cfg), std::move(ck.tensors));
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
