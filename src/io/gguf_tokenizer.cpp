// tokenizer.ggml.* metadata -> tokenizer.json.
#include "io/gguf_tokenizer.h"

#include "core/error.h"

namespace mm {

using nlohmann::json;

std::string gguf_tokenizer_json(const std::vector<GgufKv>& kvs) {
  auto find = [&](const char* key) -> const GgufKv* {
    for (const auto& kv : kvs)
      if (kv.key == key) return &kv;
    return nullptr;
  };
  const GgufKv* tokens = find("tokenizer.ggml.tokens");
  if (!tokens) return "";
  auto str = [&](const char* key, const char* dflt) {
    const GgufKv* kv = find(key);
    return kv && kv->value.is_string() ? kv->value.get<std::string>() : std::string(dflt);
  };
  const std::string model = str("tokenizer.ggml.model", "gpt2");
  if (model != "gpt2")
    throw Error("GGUF tokenizer model '" + model + "' is not supported (byte-level BPE 'gpt2' only); pass --tokenizer tokenizer.json");
  if (!tokens->value.is_array()) throw Error("GGUF: tokenizer.ggml.tokens is not an array");
  const GgufKv* types = find("tokenizer.ggml.token_type");
  const GgufKv* merges = find("tokenizer.ggml.merges");
  if (types && (!types->value.is_array() || types->value.size() != tokens->value.size()))
    throw Error("GGUF: tokenizer.ggml.token_type does not match tokenizer.ggml.tokens");
  if (merges && !merges->value.is_array()) throw Error("GGUF: tokenizer.ggml.merges is not an array");

  const std::string pre = str("tokenizer.ggml.pre", "default");
  auto split = [](const char* regex) {
    return json{{"type", "Split"}, {"pattern", {{"Regex", regex}}}, {"behavior", "Isolated"}, {"invert", false}};
  };
  const json bytelevel_plain = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};
  json pre_tok, normalizer;
  bool ignore_merges = false;
  if (pre == "llama-bpe" || pre == "llama3") {
    pre_tok = {{"type", "Sequence"}, {"pretokenizers", {split(kLlama3Regex), bytelevel_plain}}};
    ignore_merges = true;  // Llama 3's tokenizer.json sets it; llama.cpp does the same for this pre
  } else if (pre == "qwen2") {
    pre_tok = {{"type", "Sequence"}, {"pretokenizers", {split(kQwen2Regex), bytelevel_plain}}};
    normalizer = {{"type", "NFC"}};
  } else if (pre == "minimax-m2" || pre == "gpt-4o") {
    pre_tok = {{"type", "Sequence"}, {"pretokenizers", {split(kMinimaxRegex), bytelevel_plain}}};
  } else if (pre == "gpt-2" || pre == "default") {
    pre_tok = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  } else {
    throw Error("GGUF tokenizer pre-tokenizer '" + pre + "' is not supported; pass --tokenizer tokenizer.json");
  }

  json vocab = json::object(), added = json::array();
  for (size_t id = 0; id < tokens->value.size(); ++id) {
    const json& t = tokens->value[id];
    if (!t.is_string()) throw Error("GGUF: tokenizer.ggml.tokens[" + std::to_string(id) + "] is not a string");
    const int64_t type = types && types->value[id].is_number_integer() ? types->value[id].get<int64_t>() : 1;
    if (type == int64_t(GgufTokenType::CONTROL) || type == int64_t(GgufTokenType::USER_DEFINED)) {
      const bool special = type == int64_t(GgufTokenType::CONTROL);
      added.push_back({{"id", id}, {"content", t}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                       {"normalized", !special}, {"special", special}});
    } else {
      vocab[t.get<std::string>()] = id;
    }
  }
  json out = {{"version", "1.0"},
              {"added_tokens", added},
              {"normalizer", normalizer},
              {"pre_tokenizer", pre_tok},
              {"post_processor", nullptr},
              {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
              {"model",
               {{"type", "BPE"},
                {"ignore_merges", ignore_merges},
                {"byte_fallback", false},
                {"vocab", std::move(vocab)},
                {"merges", merges ? merges->value : json::array()}}}};
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace mm
