// Sequence state files ("prefill once, ask many times"): a sequence's memory — the KV rows of every
// softmax layer in their stored type, the fp32 state of every lightning layer — and the tokens it holds,
// written to a file and read back into a fresh sequence. The header names the format version, the
// model's shape (a fingerprint of its config) and the KV type; a file from another model, another KV
// type or another version, and a truncated or corrupted file (a checksum closes it), are rejected
// with a message that says which.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/model.h"

namespace mm {

// FNV-1a over the config fields the sequence memory depends on (architecture, layer kinds, heads, sizes).
uint64_t model_fingerprint(const ModelConfig& cfg);

// tokens: what seq holds (tokens.size() == seq.n_past). Throws mm::Error when the file cannot be written.
void save_sequence_state(const std::string& path, const Model& model, const SequenceState& seq,
                         std::span<const int32_t> tokens);

struct LoadedSequence {
  std::unique_ptr<SequenceState> seq;
  std::vector<int32_t> tokens;
};
// A new sequence (pages from `pool`, n_ctx_max as Model::new_sequence) holding the file's state.
LoadedSequence load_sequence_state(const std::string& path, const Model& model, std::shared_ptr<KvPool> pool,
                                   int64_t n_ctx_max);

}  // namespace mm
