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
// The same for a file already in memory (file->path() names it in errors).
void safetensors_load_mapped(std::shared_ptr<MappedFile> file, TensorStore& store);
// Loads a model folder: model.safetensors.index.json (+ the shards its weight_map names), or a single
// model.safetensors, or every *.safetensors in the folder.
TensorStore safetensors_load_dir(const std::string& dir);

// A checkpoint in Hugging Face terms: its config.json and its tensors by HF name. A model folder and a
// GGUF file both load into one (load_checkpoint, model/model.h).
struct HfCheckpoint {
  nlohmann::json config;
  TensorStore tensors;
};

}  // namespace mm
