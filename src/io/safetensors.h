// safetensors checkpoints: a single file, or model.safetensors.index.json + shards of any naming.
// Every header is validated before use (length, JSON, dtype names, offsets inside the file and
// consistent with dtype x shape, no overlaps); a bad file raises mm::Error naming file and tensor.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "io/tensor_store.h"

namespace mm {

// Loads one .safetensors file into `store` (tensors are views into the mapped file).
void safetensors_load_file(const std::string& path, TensorStore& store);
// Loads a model folder: model.safetensors.index.json (+ the shards its weight_map names), or a single
// model.safetensors, or every *.safetensors in the folder.
TensorStore safetensors_load_dir(const std::string& dir);

// A checkpoint in Hugging Face terms: its config.json and its tensors by HF name.
struct HfCheckpoint {
  nlohmann::json config;
  TensorStore tensors;
};

// A model folder (config.json + safetensors) or, when `path` ends in .gguf, a GGUF file translated
// to HF names and config keys (io/gguf.h). `need_weights=false` allows a folder with only config.json.
HfCheckpoint load_checkpoint(const std::string& path, bool need_weights = true);

}  // namespace mm
