// A trained model written as a Hugging Face folder that every command loads: config.json (the
// release's key spelling, as given), model.safetensors (bf16 or f32), generation_config.json, and
// the tokenizer.json it was trained with.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "core/dtype.h"
#include "train/params.h"

namespace mm {

// `config` is written verbatim (plus torch_dtype); `tokenizer_json` (a path, may be empty: none) is
// copied. Writes into a temporary folder beside `dir` and renames it, so a reader never sees half a model.
void export_hf_model(const std::string& dir, const nlohmann::ordered_json& config, const ParamSet& params, DType dtype,
                     const std::string& tokenizer_json);

}  // namespace mm
