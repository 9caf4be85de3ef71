// The tokenizer.json of random-weight models (what `minimax init` writes beside the weights): a
// byte-level BPE whose merges are learned from a built-in English text.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mm {

// MiniMax's special tokens, in the order they take the top ids (the first one gets vocab_size - n).
const std::vector<std::string>& minimax_special_tokens();
// The end-of-message token (generation_config.json's eos_token_id in the releases).
inline constexpr const char* kMinimaxEosToken = "[e~[";

// A byte-level BPE tokenizer.json of exactly `vocab_size` ids: the 256 byte symbols (GPT-2 byte
// order), up to `max_merges` merges learned from a built-in English text, filler tokens
// "<|filler_{id}|>" that no merge produces, and minimax_special_tokens() as special added tokens at the
// top of the range. The split regex is MiniMax-M2's (GGUF pre "minimax-m2"). Throws if vocab_size is
// too small for bytes + specials. (Objects are key-sorted, as nlohmann::json keeps them.)
nlohmann::json make_random_model_tokenizer(int64_t vocab_size, int max_merges = 300);

}  // namespace mm
