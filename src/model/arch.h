// ArchSpec: everything the engine knows about one architecture, in one record. Every record is listed
// once, in arch_specs() (model/registry.cpp); nothing else switches on the architecture.
//
// An architecture's file (model/<arch>.cpp) defines its record: the config.json names it answers to,
// its config keys (parse_config, run after the keys every architecture shares), its tensor declaration
// (visit_tensors: each HF tensor named once, used to check a checkpoint, count parameters, write random
// models and bind the weights), its Model factory, its chat format, and optionally its GGUF metadata
// (reading and writing llama.cpp's files) and the config of its `minimax init` random models.
// docs/adding-an-architecture.md lists the steps.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/tensor_store.h"
#include "model/config.h"
#include "model/weights.h"

namespace mm {

class GgufFile;
class Model;
struct GgufArchKvs;  // model/gguf_arch.h

// GGUF support: llama.cpp's name for the architecture and its own metadata keys. The keys every
// architecture shares, the tensor names and the expert stacking are generic (io/gguf.h,
// convert/gguf_write.cpp); the hooks add what only this architecture has. An architecture without GGUF
// support leaves the record's `gguf` empty.
struct ArchGguf {
  const char* arch = nullptr;  // general.architecture, also the prefix of its metadata keys
  // config.json model_type values `minimax quantize` writes as this architecture (the dialects whose
  // keys and tensor names the GGUF expresses); the first is the one the writer's errors name.
  std::vector<std::string> model_types;
  // Reading: the architecture's own config.json keys from the file's metadata. c already holds the
  // shared keys (gguf_shared_hf_config), model_type and architectures (the record's first names).
  // Throws mm::Error naming the file and key.
  void (*read_config)(const GgufFile& f, nlohmann::json& c) = nullptr;
  // Writing: checks that the file can express config c (mm::Error saying what cannot be written) and
  // gives the architecture's own metadata keys, placed where llama.cpp's converter writes them.
  void (*write_kvs)(const nlohmann::json& c, GgufArchKvs& kvs) = nullptr;
};

// The `minimax init` options an architecture's init config reads.
struct InitFlags {
  std::function<int64_t(const std::string& flag, int64_t dflt)> i64;  // --flag's value, or dflt
  bool fp8 = false;  // --dtype fp8 (only where ArchInit::fp8)
};

// `minimax init --like <like>`: random-weight test models in the Hugging Face release layout. The
// command writes the keys every architecture shares (model_type and architectures: the record's first
// names; the shape flags, with this record's defaults where they differ); `config` adds the rest.
struct ArchInit {
  const char* like = nullptr;  // the --like value
  // Defaults of --layers, --heads, --inter, --experts, --max-pos.
  int64_t layers = 0, heads = 0, intermediate = 0, experts = 0, max_position = 0;
  bool fp8 = false;  // --dtype fp8 writes the release's fp8 layout (quantization_config, block scales)
  // The architecture's own config.json keys, appended in order after the shared ones.
  void (*config)(const InitFlags& flags, nlohmann::ordered_json& c) = nullptr;
};

struct ArchSpec {
  Arch arch;
  const char* name;                       // display name ("MiniMax-M2"): info, serve banner, bench
  std::vector<std::string> model_types;   // config.json model_type values it answers to (first: canonical)
  std::vector<std::string> hf_classes;    // config.json architectures[0] values it answers to (first: canonical)
  // The chat format's name (chat_format_name: "text01", "m2"): prompt rendering, output parsing,
  // end-of-reply tokens. A name, not chat/'s enum, since the model layer sits below the text layer.
  const char* chat_format;
  // The architecture's own config.json keys; c already holds the shared ones. Throws mm::Error.
  void (*parse_config)(const nlohmann::json& j, ModelConfig& c);
  // Declares every tensor the config requires (TensorDst pointers into a scratch object when only listing).
  void (*visit_tensors)(const ModelConfig& c, const TensorVisitor& v);
  // Builds the model; its constructor binds the weights through the same declaration.
  std::unique_ptr<Model> (*create)(ModelConfig cfg, TensorStore tensors);
  ArchGguf gguf;  // GGUF files (optional)
  ArchInit init;  // minimax init (optional)
};

// Every supported architecture.
std::span<const ArchSpec> arch_specs();
const ArchSpec& arch_spec(Arch a);
// The record whose model_types hold model_type or whose hf_classes hold hf_class; null if none.
const ArchSpec* find_arch(const std::string& model_type, const std::string& hf_class);

}  // namespace mm
