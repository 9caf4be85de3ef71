// Tokenizer metadata for GGUF files: the tokenizer.ggml.* keys llama.cpp needs (it refuses a GGUF
// without them), built from a Hugging Face byte-level BPE tokenizer.json the way llama.cpp's
// convert_hf_to_gguf.py lays them out:
//   tokenizer.ggml.model      "gpt2" (byte-level BPE)
//   tokenizer.ggml.pre        pre-tokenizer name, picked from the tokenizer.json's split regex
//   tokenizer.ggml.tokens     one string per id 0..vocab_size-1; ids without a token are "[PAD{id}]"
//   tokenizer.ggml.token_type 1 normal, 3 control (special added token), 4 user-defined (non-special
//                             added token), 5 unused (the [PAD{id}] fillers)
//   tokenizer.ggml.merges     "a b" strings in rank order
//   tokenizer.ggml.eos_token_id / bos_token_id   from generation_config.json, else config.json
//   tokenizer.ggml.add_bos_token false (MiniMax's chat format writes its own begin token)
// (The reverse, reading them, is io/gguf_tokenizer.h.)
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/gguf.h"
#include "io/gguf_tokenizer.h"

namespace mm {

struct GgufTokenizerOptions {
  int64_t vocab_size = -1;  // rows of the embedding; -1: max id + 1 of the tokenizer
  std::string pre;          // tokenizer.ggml.pre; empty: gguf_tokenizer_pre_name() of the tokenizer.json
  int64_t eos_id = -1, bos_id = -1;  // -1: key omitted
};

// llama.cpp's pre-tokenizer name for a tokenizer.json's pre_tokenizer: "llama-bpe", "qwen2",
// "minimax-m2" (MiniMax's own = GPT-4o's split regex), "gpt-2" (plain ByteLevel with its regex);
// anything else gets "minimax-m2", the MiniMax release tokenizers' value.
std::string gguf_tokenizer_pre_name(const nlohmann::json& pre_tokenizer);

// tokenizer.ggml.* entries from the text of a tokenizer.json (byte-level BPE only; throws mm::Error
// otherwise, or if an id is >= opts.vocab_size).
std::vector<GgufKv> gguf_tokenizer_kvs(const std::string& tokenizer_json, const GgufTokenizerOptions& opts);

// The same for a model folder: DIR/tokenizer.json with eos/bos from DIR/generation_config.json or
// `config`, and vocab_size from `config`. Empty when the folder has no tokenizer.json.
std::vector<GgufKv> gguf_tokenizer_kvs_from_dir(const std::string& dir, const nlohmann::json& config,
                                                const std::string& pre = "");

// The tokenizer.* entries of an existing GGUF file (to carry them over when re-quantising one).
std::vector<GgufKv> gguf_tokenizer_kvs_from_gguf(const GgufFile& f);

}  // namespace mm
