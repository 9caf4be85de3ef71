// Model: the forward pass of one architecture over a batch of sequence chunks.
// Adding an architecture = one model/<arch>.cpp (its tensor table, its forward) + one entry in
// model/registry.cpp.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/exec_context.h"
#include "io/safetensors.h"
#include "model/config.h"
#include "model/weights.h"
#include "state/sequence_state.h"

namespace mm {

// One sequence's chunk in a batch: n_tokens new tokens appended to seq (positions seq->n_past ...).
struct BatchItem {
  SequenceState* seq = nullptr;
  const int32_t* tokens = nullptr;
  int64_t n_tokens = 0;
  float* logits = nullptr;  // [n_tokens, vocab] if all_logits, else [vocab] for the last token; may be null
  bool all_logits = false;
};

enum class LightningMode { Auto, Blocked, Recurrent };

class Model {
 public:
  explicit Model(ModelConfig cfg) : cfg_(std::move(cfg)) {}
  virtual ~Model() = default;
  const ModelConfig& config() const { return cfg_; }

  // Runs every item's new tokens through the model, appending to their sequence memory, on the
  // context's threads and math mode (core/exec_context.h). Token ids and context length are validated
  // (mm::Error) before any state changes.
  virtual void forward(std::span<const BatchItem> batch, ExecContext& ctx) = 0;
  // Fresh per-layer memory for one sequence of at most n_ctx_max tokens (<= max_position_embeddings;
  // <= 0: that limit). KV pages come from `pool` (new_kv_pool; null: a private unbounded f32 pool).
  std::unique_ptr<SequenceState> new_sequence(int64_t n_ctx_max, std::shared_ptr<KvPool> pool = nullptr) const;
  // A pool of KV pages for this model's softmax layers; n_pages_max <= 0: no budget. Throws mm::Error
  // when the type cannot store this model's heads (q8_0 needs head_dim % 32 == 0).
  std::shared_ptr<KvPool> new_kv_pool(KvType type, int64_t n_pages_max = 0) const;
  // Bytes of weights read per token (active experts only), for the roofline in benchmarks.
  virtual double active_weight_bytes() const = 0;
  virtual double total_weight_bytes() const = 0;

  // Testing hook: how lightning layers process multi-token chunks (default: blocked, recurrent for 1).
  void set_lightning_mode(LightningMode m) { lightning_mode_ = m; }

 protected:
  // The start of every forward(), before any state changes: ids in range, contexts not exceeded, KV
  // types allowed by the math mode (mm::Error), then KV pages for the new tokens (KvFullError).
  void begin_batch(std::span<const BatchItem> batch, const ExecContext& ctx) const;
  ModelConfig cfg_;
  LightningMode lightning_mode_ = LightningMode::Auto;
};

// Tensor table of an architecture (used for load checks and parameter counts).
std::vector<TensorSpec> model_tensor_specs(const ModelConfig& cfg);
// A model folder (config.json [+ generation_config.json] + safetensors) or, when `path` ends in .gguf, a
// GGUF file translated to HF names and config keys (load_gguf_as_hf, model/gguf_arch.h).
// `need_weights=false` allows a folder with only config.json.
HfCheckpoint load_checkpoint(const std::string& path, bool need_weights = true);
// Loads config + weights from a model folder or .gguf file; validates everything.
std::unique_ptr<Model> load_model(const std::string& path);
// Builds a model from an already loaded checkpoint (takes ownership of its tensors).
std::unique_ptr<Model> create_model(HfCheckpoint ck);

}  // namespace mm
