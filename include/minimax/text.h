// minimax.cpp public API: text in and out — tokenizers, streaming detokenisation, the chat formats
// (prompt rendering, output parsing, end-of-reply rules) — and where a model's tokenizer lives.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "chat/chat.h"            // ChatFormat, chat_render, ChatOutputParser, chat_end_tokens, ...
#include "model/config.h"
#include "tokenizer/tokenizer.h"  // Tokenizer, StreamDecoder

namespace mm {

// A tokenizer.json file, or a .gguf file's tokenizer.ggml.* keys.
std::unique_ptr<Tokenizer> load_tokenizer_file(const std::string& path);
// override_path if not empty; else the model's own: MODEL/tokenizer.json for a folder, the tokenizer
// stored in a .gguf (else a tokenizer.json beside it). Throws mm::Error when there is none.
std::unique_ptr<Tokenizer> load_tokenizer_for(const std::string& model_path, const std::string& override_path);
// The chat format of the model's architecture.
ChatFormat chat_format_of(const ModelConfig& cfg);
// The ids that end a reply: config eos plus the chat format's end tokens the tokenizer knows.
std::vector<int32_t> reply_stop_ids(const ModelConfig& cfg, const Tokenizer& tok);

}  // namespace mm
