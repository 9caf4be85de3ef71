// The architecture registry: the one array of ArchSpec records, and the entry points that go through it.
#include <algorithm>

#include "core/error.h"
#include "model/arch.h"
#include "model/model.h"
#include "model/blocks.h"

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

void Model::begin_batch(std::span<const BatchItem> batch, const ExecContext& ctx) const {
  for (size_t i = 0; i < batch.size(); ++i) {
    const BatchItem& it = batch[i];
    MM_CHECK(it.seq != nullptr && it.n_tokens >= 0);
    for (size_t j = 0; j < i; ++j) MM_CHECK(batch[j].seq != it.seq);  // one chunk per sequence and forward
    for (int64_t t = 0; t < it.n_tokens; ++t)
      if (it.tokens[t] < 0 || it.tokens[t] >= cfg_.vocab_size)
        throw Error("token id " + std::to_string(it.tokens[t]) + " is out of range (vocab_size " +
                    std::to_string(cfg_.vocab_size) + ")");
    if (it.seq->n_past + it.n_tokens > it.seq->n_ctx_max)
      throw Error("context length exceeded: " + std::to_string(it.seq->n_past + it.n_tokens) +
                  " tokens > limit " + std::to_string(it.seq->n_ctx_max));
    for (const auto& l : it.seq->layers)
      if (auto* kv = std::get_if<KvCache>(&l); kv && ctx.math().exact() && kv->pool().type() != KvType::F32)
        throw Error(std::string("--exact keeps the KV cache in f32, this sequence stores ") +
                    kv_type_name(kv->pool().type()) + " (drop --kv-type or --exact)");
  }
  for (const auto& it : batch) it.seq->prepare(it.n_tokens);
}

std::unique_ptr<SequenceState> Model::new_sequence(int64_t n_ctx_max, std::shared_ptr<KvPool> pool) const {
  return make_sequence_state(cfg_, n_ctx_max, std::move(pool));
}

std::shared_ptr<KvPool> Model::new_kv_pool(KvType type, int64_t n_pages_max) const {
  return make_kv_pool(cfg_, type, n_pages_max);
}

}  // namespace mm
