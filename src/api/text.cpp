// The text facade of the public API (include/minimax/text.h): where a model's tokenizer lives, its chat
// format and end-of-reply ids.
#include "minimax/text.h"

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "io/gguf.h"
#include "io/gguf_tokenizer.h"
#include "model/arch.h"

namespace mm {

namespace {
bool is_gguf(const std::string& path) { return path.size() > 5 && path.compare(path.size() - 5, 5, ".gguf") == 0; }
}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer_file(const std::string& path) {
  if (!is_gguf(path)) return Tokenizer::from_file(path);
  const std::string text = gguf_tokenizer_json(GgufFile(path).kvs());
  if (text.empty()) throw Error(path + " carries no tokenizer (tokenizer.ggml.tokens); pass --tokenizer tokenizer.json");
  return Tokenizer::from_json_string(text);
}

std::unique_ptr<Tokenizer> load_tokenizer_for(const std::string& model_path, const std::string& override_path) {
  namespace fs = std::filesystem;
  if (!override_path.empty()) return load_tokenizer_file(override_path);
  if (is_gguf(model_path)) {
    const std::string text = gguf_tokenizer_json(GgufFile(model_path).kvs());
    if (!text.empty()) return Tokenizer::from_json_string(text);
    const fs::path beside = fs::path(model_path).parent_path() / "tokenizer.json";
    if (fs::exists(beside)) return Tokenizer::from_file(beside.string());
    throw Error(model_path + " carries no tokenizer and there is no tokenizer.json beside it; pass --tokenizer FILE or use --ids");
  }
  const fs::path p = fs::path(model_path) / "tokenizer.json";
  if (!fs::exists(p)) throw Error("no tokenizer.json in " + model_path + "; pass --tokenizer FILE or use --ids");
  return Tokenizer::from_file(p.string());
}

std::vector<int32_t> reply_stop_ids(const ModelConfig& cfg, const Tokenizer& tok) {
  std::vector<int32_t> ids;
  if (cfg.eos_token_id) ids.push_back(int32_t(*cfg.eos_token_id));
  for (const std::string& t : chat_end_tokens(chat_format_of(cfg)))
    if (auto id = tok.token_to_id(t); id && std::find(ids.begin(), ids.end(), *id) == ids.end()) ids.push_back(*id);
  return ids;
}

ChatFormat chat_format_of(const ModelConfig& cfg) {
  return chat_format_from_name(arch_spec(cfg.arch).chat_format);
}

}  // namespace mm
