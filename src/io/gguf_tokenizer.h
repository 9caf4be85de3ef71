// The tokenizer a GGUF file carries (tokenizer.ggml.*), rebuilt as a tokenizer.json. Writing those keys
// (from a tokenizer.json) is convert/gguf_tokenizer_kvs.h.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/gguf.h"

namespace mm {

// llama.cpp token types (llama_token_type).
enum class GgufTokenType : int32_t { NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6 };

// The split regexes of the tokenizer.json files llama.cpp knows by name (as they appear in the JSON,
// i.e. after JSON unescaping).
inline constexpr const char* kLlama3Regex =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
inline constexpr const char* kQwen2Regex =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
// GPT-4o's split regex, which MiniMax-M2's tokenizer uses too (llama.cpp: pre "minimax-m2" = "gpt-4o").
inline constexpr const char* kMinimaxRegex =
    R"re([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

// A tokenizer.json (text) rebuilt from a GGUF's tokenizer.ggml.* keys, so a GGUF file is a
// complete model on its own. Byte-level BPE ("gpt2") only; the split regex comes from the pre name
// (llama-bpe / llama3, qwen2 (+ NFC, as Qwen's tokenizer.json), minimax-m2 / gpt-4o, gpt-2 / default);
// control tokens become special added tokens, user-defined ones plain added tokens. Throws mm::Error
// for another tokenizer model or an unknown pre name; returns "" when the file has no tokenizer.
std::string gguf_tokenizer_json(const std::vector<GgufKv>& kvs);

}  // namespace mm
