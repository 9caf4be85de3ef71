// GGUF files through the architecture records (ArchSpec::gguf, model/arch.h): reading a GGUF as an HF
// checkpoint.
//
// The generic part of reading lives in io/gguf.h (file parsing, the shared metadata keys, tensor names,
// expert slices); this is the layer that knows the records.
#pragma once
#include <string>

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

}  // namespace mm
