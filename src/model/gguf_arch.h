// GGUF files through the architecture records (ArchSpec::gguf, model/arch.h): reading a GGUF as an HF
// checkpoint, finding the record a GGUF is written as, and what the records' GGUF hooks use.
//
// The generic part of reading lives in io/gguf.h (file parsing, the shared metadata keys, tensor names,
// expert slices) and of writing in convert/gguf_write.cpp; this is the layer that knows the records.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/gguf.h"
#include "io/safetensors.h"
#include "model/arch.h"

namespace mm {

// ---- reading --------------------------------------------------------------------------------------------

// The record of the file's general.architecture; mm::Error listing the supported names if none.
const ArchSpec& gguf_arch_spec(const GgufFile& f);
// The HF config.json the file describes: the shared keys, the record's model_type and architectures,
// and the architecture's own keys (ArchSpec::gguf.read_config).
nlohmann::json gguf_hf_config(const GgufFile& f);
// GGUF -> HF checkpoint (config + tensors by HF name, data left in the mapping).
HfCheckpoint load_gguf_as_hf(const std::string& path);

// ---- writing (used by convert/gguf_write.cpp and the records' write_kvs hooks) -------------------------

// The record a config is written as: its model_type among some record's gguf.model_types; mm::Error
// naming the supported model_types if none.
const ArchSpec& gguf_arch_for_config(const nlohmann::json& hf_config);

// The metadata an architecture adds to a GGUF being written (keys "<gguf.arch>.*"), in the two places
// llama.cpp's converter writes such keys.
struct GgufArchKvs {
  std::vector<GgufKv> after_experts;    // right after <arch>.expert_used_count (e.g. the router's gating)
  std::vector<GgufKv> after_file_type;  // after general.file_type (the architecture's own keys)
};

// Metadata entries.
GgufKv gguf_kv_u32(const std::string& key, int64_t v);
GgufKv gguf_kv_f32(const std::string& key, double v);
GgufKv gguf_kv_str(const std::string& key, const std::string& v);
// A config.json value the writer needs; mm::Error "cannot write GGUF: config.json needs ..." otherwise.
int64_t gguf_cfg_int(const nlohmann::json& c, const char* key);
double gguf_cfg_num(const nlohmann::json& c, const char* key);

}  // namespace mm
