#include "tools/text_gen.h"

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "io/gguf.h"
#include "io/gguf_tokenizer.h"
#include "model/arch.h"

namespace mm::cli {

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

std::vector<int32_t> stop_token_ids(const ModelConfig& cfg, const Tokenizer& tok) {
  std::vector<int32_t> ids;
  if (cfg.eos_token_id) ids.push_back(int32_t(*cfg.eos_token_id));
  for (const std::string& t : chat_end_tokens(chat_format_for(cfg)))
    if (auto id = tok.token_to_id(t); id && std::find(ids.begin(), ids.end(), *id) == ids.end()) ids.push_back(*id);
  return ids;
}

SamplingParams sampling_from(const Args& args) {
  SamplingParams sp;
  sp.temperature = float(args.f64("temp", 0.0));
  sp.seed = uint64_t(args.i64("seed", 0));
  sp.top_k = args.i64("top-k", 0);
  sp.top_p = float(args.f64("top-p", 1.0));
  sp.min_p = float(args.f64("min-p", 0.0));
  sp.repetition_penalty = float(args.f64("repeat-penalty", 1.0));
  if (sp.top_p <= 0 || sp.top_p > 1) throw Error("--top-p must be in (0, 1]");
  if (sp.top_k < 0) throw Error("--top-k must be >= 0");
  if (sp.min_p < 0 || sp.min_p > 1) throw Error("--min-p must be in [0, 1]");
  return sp;
}

ChatFormat chat_format_for(const ModelConfig& cfg) {
  return arch_spec(cfg.arch).chat_format;
}

std::vector<int32_t> generate_tokens(Model& model, SequenceState& seq, const std::vector<int32_t>& prompt,
                                     int64_t max_new, Sampler& sampler, const std::vector<int32_t>& stop_ids,
                                     const std::function<void(int32_t)>& on_token) {
  if (prompt.empty()) throw Error("the prompt is empty");
  if (seq.n_past + int64_t(prompt.size()) >= seq.n_ctx_max)
    throw Error("the prompt (" + std::to_string(prompt.size()) + " tokens) does not fit the context (" +
                std::to_string(seq.n_ctx_max - seq.n_past) + " tokens left)");
  std::vector<float> logits(static_cast<size_t>(model.config().vocab_size));
  BatchItem it{&seq, prompt.data(), int64_t(prompt.size()), logits.data(), false};
  model.forward({&it, 1});
  std::vector<int32_t> history = prompt, out;
  for (int64_t i = 0; i < max_new && seq.n_past < seq.n_ctx_max; ++i) {
    int32_t tok = sampler.sample(logits, history);
    if (std::find(stop_ids.begin(), stop_ids.end(), tok) != stop_ids.end()) break;
    out.push_back(tok);
    history.push_back(tok);
    on_token(tok);
    if (i + 1 == max_new) break;
    BatchItem step{&seq, &out.back(), 1, logits.data(), false};
    model.forward({&step, 1});
  }
  return out;
}

}  // namespace mm::cli
