// Text-mode helpers shared by `generate --prompt` and `chat`: tokenizer lookup, stop tokens, and a
// streaming generation loop over one sequence.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "chat/chat.h"
#include "model/model.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"
#include "tools/commands.h"

namespace mm::cli {

// A tokenizer.json file, or a .gguf file's tokenizer.ggml.* keys.
std::unique_ptr<Tokenizer> load_tokenizer_file(const std::string& path);
// --tokenizer FILE if given; else the model's own: MODEL/tokenizer.json for a folder, the tokenizer
// stored in a .gguf (else a tokenizer.json beside it). Throws mm::Error when there is none.
std::unique_ptr<Tokenizer> load_tokenizer_for(const std::string& model_path, const std::string& override_path);
// The ids that end a reply: config eos plus the chat format's end tokens the tokenizer knows.
std::vector<int32_t> stop_token_ids(const ModelConfig& cfg, const Tokenizer& tok);
ChatFormat chat_format_for(const ModelConfig& cfg);
// --temp (default 0: greedy), --seed, --top-k, --top-p, --min-p, --repeat-penalty, validated.
SamplingParams sampling_from(const Args& args);

// Feeds `prompt` to `seq` (after whatever it already holds), then samples up to max_new tokens, calling
// on_token(id) for each; stops after a stop id (not passed to on_token). Returns the generated ids.
std::vector<int32_t> generate_tokens(Model& model, SequenceState& seq, const std::vector<int32_t>& prompt,
                                     int64_t max_new, Sampler& sampler, const std::vector<int32_t>& stop_ids,
                                     const std::function<void(int32_t)>& on_token);

}  // namespace mm::cli
