// GGUF writing: gguf_write() writes an HF checkpoint as a GGUF with the tensor names, metadata keys and
// layout of llama.cpp's convert_hf_to_gguf.py, quantising tensors by a type policy. (Reading and the
// name mapping shared by reader and writer are in io/gguf.h.)
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/dtype.h"
#include "io/gguf.h"
#include "io/tensor_store.h"

namespace mm {

// Which type each tensor gets. Plain types (F32, F16, BF16) and block formats apply to every weight
// matrix; norms, biases and routers always stay F32 (as llama.cpp does). Q4_K_M is llama.cpp's mixed
// "q4_k_m" recipe (Q6_K for output, and for attn_v / attn_qkv / ffn_down_exps of the layers its
// use_more_bits rule picks, Q4_K elsewhere). A row length that a block format cannot take falls back:
// K-quants (256) -> Q5_0 (from Q4_K) or Q8_0 (from Q5_K, Q6_K) when rows are multiples of 32, and any
// block format -> F16 when they are not (llama.cpp's fallbacks, with Q8_0 standing in for its Q5_1).
// Single-type policies are "pure": output.weight and token_embd get the same type (llama-quantize would
// bump output to Q6_K for the 4/5-bit types). llama.cpp's extra rules for 8-expert models (attn_v ->
// Q8_0) and for 70B dense models are not reproduced.
enum class GgufPolicy { F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K, Q4_K_M };
// Parses "f32", "q8_0", "q4_k_m", ... (case-insensitive); throws mm::Error listing the choices.
GgufPolicy gguf_policy_from_string(const std::string& s);

struct GgufWriteOptions {
  GgufPolicy policy = GgufPolicy::F32;
  std::string name;  // general.name; empty: omitted
  // Extra metadata appended after the model keys, e.g. tokenizer.ggml.* (as read by GgufFile::kvs()).
  std::vector<GgufKv> extra_kvs;
  // Called after each tensor: (done, total, gguf tensor name).
  std::function<void(size_t, size_t, const std::string&)> progress;
  int n_threads = 0;  // threads converting tensor rows (< 1: physical cores)
};

// The GGUF name and type each tensor of `tensors` would get (file order), without writing.
struct GgufPlanEntry {
  std::string name;
  DType dtype;
  std::vector<int64_t> ne;
};
std::vector<GgufPlanEntry> gguf_plan(const nlohmann::json& hf_config, const TensorStore& tensors,
                                     GgufPolicy policy);
void gguf_write(const std::string& path, const nlohmann::json& hf_config, const TensorStore& tensors,
                const GgufWriteOptions& opts);

}  // namespace mm
