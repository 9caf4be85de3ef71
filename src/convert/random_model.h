// Random-weight models for tests and benchmarks, in the Hugging Face release layout: the tensors a
// ModelConfig needs, with values from a counter-based generator (any chunk fills independently, so
// multi-GB models write fast), and the tokenizer files that make the text pipeline run on them.
#pragma once
#include <cstdint>
#include <filesystem>
#include <vector>

#include "convert/safetensors_writer.h"
#include "core/dtype.h"
#include "core/thread_pool.h"
#include "model/model.h"

namespace mm {

// Every tensor of model_tensor_specs(cfg), seeded by its name and `seed`: norms uniform in 1 ± 0.1,
// embeddings in ±1, other weights in ±sqrt(3 / fan_in) (unit-variance outputs). Weights are `dt`
// (norms F32 when dt is F16); with `fp8`, dense and expert projections are F8_E4M3 with F32 128x128
// block scales (`<name>_scale_inv`, the M2 release layout). The tensors' fill functions run on `pool`,
// which must outlive them.
std::vector<TensorToWrite> random_model_tensors(ThreadPool& pool, const ModelConfig& cfg, DType dt, bool fp8,
                                                uint64_t seed);

// A byte-level BPE tokenizer.json filling the vocabulary (MiniMax's special tokens at the top) and a
// generation_config.json naming `[e~[` as eos, written into `out`, so the text pipeline (chat, --prompt)
// runs on the model. Vocabularies too small for the 256 bytes + specials get none (a note on stderr
// says so).
void write_random_model_tokenizer(const std::filesystem::path& out, int64_t vocab_size);

}  // namespace mm
