// GGUF files (llama.cpp's single-file model format), version 2 and 3, little-endian.
//
// Reading: GgufFile memory-maps the file and validates everything before any use: magic, version,
// counts, every string and array inside the file, value and tensor types, dimensions, alignment,
// tensor offsets aligned, inside the file, consistent with type x ne, and not overlapping. A bad file
// raises mm::Error naming the file (and the key or tensor); nothing is ever read out of bounds.
//
// Translation to Hugging Face terms, the part every architecture shares: the common metadata keys as
// config.json keys, and the tensors under their HF names and shapes (views into the mapping; stacked
// experts become per-expert slices). Nothing here names an architecture: the entry point that does,
// load_gguf_as_hf (model/gguf_arch.h), sits in the model layer, finds the architecture's record by
// general.architecture and adds its own keys (ArchSpec::gguf).
//
// Writing lives in convert/gguf_write.h (the io layer only reads).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/dtype.h"
#include "core/mapped_file.h"
#include "io/tensor_store.h"

namespace mm {

// GGUF metadata value types (numbering from the GGUF specification).
enum class GgufType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};
const char* gguf_type_name(GgufType t);

// One metadata entry. `value` holds the decoded value: numbers (FLOAT32 widened to double), bools,
// strings, or a JSON array for ARRAY (elements of `elem_type`; nested arrays are JSON arrays too,
// their element types are not kept).
struct GgufKv {
  std::string key;
  GgufType type = GgufType::UINT32;
  GgufType elem_type = GgufType::UINT32;  // ARRAY only
  nlohmann::json value;
};

// ggml tensor types as stored in GGUF (numbering from ggml). Returns nullptr for unknown numbers.
const char* ggml_type_name(uint32_t ggml_type);
// The mm::DType for a ggml type, false if the engine does not support it.
bool ggml_type_to_dtype(uint32_t ggml_type, DType* out);
uint32_t dtype_to_ggml_type(DType t);  // MM_CHECKs that t has a ggml equivalent

struct GgufTensor {
  std::string name;
  uint32_t ggml_type = 0;
  std::vector<int64_t> ne;  // ggml order: fastest dimension first
  uint64_t offset = 0;      // relative to the data section
  const uint8_t* data = nullptr;
  size_t n_bytes = 0;
  int64_t n_elements() const {
    int64_t n = 1;
    for (auto d : ne) n *= d;
    return n;
  }
};

class GgufFile {
 public:
  explicit GgufFile(const std::string& path);  // maps and validates; throws mm::Error
  explicit GgufFile(std::shared_ptr<MappedFile> file);  // validates bytes already in memory

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  const std::vector<GgufKv>& kvs() const { return kvs_; }  // file order
  const std::vector<GgufTensor>& tensors() const { return tensors_; }  // file order
  const GgufKv* find_kv(const std::string& key) const;
  const GgufTensor* find_tensor(const std::string& name) const;
  // Typed accessors; throw mm::Error naming file and key if absent (unless a default is given) or
  // of a non-numeric / non-string type.
  int64_t get_int(const std::string& key) const;
  int64_t get_int(const std::string& key, int64_t dflt) const;
  double get_float(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  std::shared_ptr<MappedFile> mapping() const { return file_; }

 private:
  std::string path_;
  std::shared_ptr<MappedFile> file_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<GgufKv> kvs_;
  std::vector<GgufTensor> tensors_;
};

// The tokenizer arrays a GGUF carries (tokenizer.ggml.*), for building a tokenizer later.
struct GgufTokenizer {
  std::string model;  // "gpt2" for byte-level BPE
  std::string pre;    // pre-tokenizer name, e.g. "qwen2"
  std::vector<std::string> tokens;
  std::vector<std::string> merges;    // "a b" pairs, rank order
  std::vector<int32_t> token_types;   // 1 normal, 3 control, 4 user-defined, ...
  int64_t eos_id = -1, bos_id = -1, pad_id = -1;
};
// Throws mm::Error if tokenizer.ggml.tokens is absent.
GgufTokenizer gguf_tokenizer(const GgufFile& f);

// ---- translation to HF terms (shared by every architecture) -------------------------------------------

// The config.json keys every architecture shares, read under "<general.architecture>.": sizes, heads,
// experts, RoPE, norm epsilon, context length, vocabulary size, tied embeddings, eos/bos ids, and
// attn_type_list with every layer softmax attention (1), which an architecture with linear-attention
// layers overrides. Throws mm::Error naming the file and key.
nlohmann::json gguf_shared_hf_config(const GgufFile& f);
// A FLOAT32 metadata value as the short decimal an HF config spells (1e-5, not 9.99999974e-06).
double gguf_config_float(const GgufFile& f, const std::string& key);
// The file's tensors under their HF names and shapes, data left in the mapping (the store keeps it).
// attn_types is the config's attn_type_list (it names attn_output, see gguf_to_hf_name).
TensorStore gguf_hf_tensors(const GgufFile& f, const std::vector<int>& attn_types);

// ---- name mapping (shared by reader and writer) -------------------------------------------------------

// GGUF tensor name -> HF name. Stacked expert tensors map to a pattern with "{E}" for the expert index
// and stacked = true. GGUF has one name, attn_output, for the attention output projection; HF calls it
// self_attn.out_proj in a linear-attention layer (attn_types[layer] == 0) and self_attn.o_proj in a
// softmax one (1, and past the end of attn_types). Unknown names give an empty `hf`.
struct GgufHfName {
  std::string hf;
  bool stacked = false;
};
GgufHfName gguf_to_hf_name(const std::string& gguf_name, const std::vector<int>& attn_types);
// HF name -> GGUF name; `expert` receives the expert index for per-expert weights (else -1). Returns ""
// for names with no GGUF equivalent.
std::string hf_to_gguf_name(const std::string& hf_name, int* expert);

}  // namespace mm
