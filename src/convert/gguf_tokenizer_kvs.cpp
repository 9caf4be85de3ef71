// tokenizer.json -> tokenizer.ggml.* metadata.
#include "convert/gguf_tokenizer_kvs.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/error.h"

namespace mm {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

GgufKv kv_str(const std::string& k, const std::string& v) { return {k, GgufType::STRING, GgufType::UINT32, v}; }
GgufKv kv_u32(const std::string& k, int64_t v) { return {k, GgufType::UINT32, GgufType::UINT32, v}; }
GgufKv kv_bool(const std::string& k, bool v) { return {k, GgufType::BOOL, GgufType::UINT32, v}; }
GgufKv kv_array(const std::string& k, GgufType elem, json v) { return {k, GgufType::ARRAY, elem, std::move(v)}; }

// Collects the Split regexes and whether a ByteLevel step splits with its own (GPT-2) regex.
void collect_pre(const json& p, std::vector<std::string>& regexes, bool& bytelevel_regex) {
  if (!p.is_object()) return;
  const std::string type = p.value("type", "");
  if (type == "Sequence" && p.contains("pretokenizers")) {
    for (const auto& q : p["pretokenizers"]) collect_pre(q, regexes, bytelevel_regex);
  } else if (type == "Split" && p.contains("pattern") && p["pattern"].is_object()) {
    if (p["pattern"].contains("Regex") && p["pattern"]["Regex"].is_string()) regexes.push_back(p["pattern"]["Regex"]);
  } else if (type == "ByteLevel") {
    bytelevel_regex |= p.value("use_regex", true);
  }
}

// An integer id from a generation_config / config value: a number, or the first of a list.
int64_t id_value(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) return -1;
  const json& v = j[key];
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_array() && !v.empty() && v[0].is_number_integer()) return v[0].get<int64_t>();
  return -1;
}

json read_json_file(const fs::path& p) {
  std::ifstream f(p);
  if (!f) throw Error("cannot read " + p.string());
  try {
    return json::parse(f);
  } catch (const json::exception& e) {
    throw Error(p.string() + ": invalid JSON: " + e.what());
  }
}

}  // namespace

std::string gguf_tokenizer_pre_name(const json& pre_tokenizer) {
  std::vector<std::string> regexes;
  bool bytelevel_regex = false;
  collect_pre(pre_tokenizer, regexes, bytelevel_regex);
  if (regexes.size() == 1) {
    if (regexes[0] == kLlama3Regex) return "llama-bpe";
    if (regexes[0] == kQwen2Regex) return "qwen2";
    if (regexes[0] == kMinimaxRegex) return "minimax-m2";
  }
  if (regexes.empty() && bytelevel_regex) return "gpt-2";
  return "minimax-m2";
}

std::vector<GgufKv> gguf_tokenizer_kvs(const std::string& tokenizer_json, const GgufTokenizerOptions& opts) {
  json t;
  try {
    t = json::parse(tokenizer_json);
  } catch (const json::exception& e) {
    throw Error(std::string("tokenizer.json: invalid JSON: ") + e.what());
  }
  if (!t.contains("model") || !t["model"].is_object() || t["model"].value("type", "") != "BPE")
    throw Error("tokenizer.json: only BPE tokenizers can be written to GGUF");
  const json& m = t["model"];
  std::map<int64_t, std::string> by_id;
  std::map<int64_t, bool> added_special;  // id -> special flag, for added tokens
  if (m.contains("vocab") && m["vocab"].is_object())
    for (const auto& [tok, id] : m["vocab"].items()) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0) throw Error("tokenizer.json: bad id for token '" + tok + "'");
      by_id[id.get<int64_t>()] = tok;
    }
  if (t.contains("added_tokens") && t["added_tokens"].is_array())
    for (const auto& a : t["added_tokens"]) {
      const int64_t id = a.value("id", int64_t(-1));
      if (id < 0 || !a.contains("content") || !a["content"].is_string()) throw Error("tokenizer.json: bad added token");
      by_id[id] = a["content"].get<std::string>();
      added_special[id] = a.value("special", false);
    }
  if (by_id.empty()) throw Error("tokenizer.json: empty vocabulary");
  const int64_t n_tok = by_id.rbegin()->first + 1;
  const int64_t n = opts.vocab_size > 0 ? opts.vocab_size : n_tok;
  if (n_tok > n)
    throw Error("tokenizer.json has token id " + std::to_string(n_tok - 1) + ", outside the model's vocab_size " +
                std::to_string(n));
  json tokens = json::array(), types = json::array();
  for (int64_t id = 0; id < n; ++id) {
    auto it = by_id.find(id);
    GgufTokenType type = GgufTokenType::NORMAL;
    if (it == by_id.end()) {
      tokens.push_back("[PAD" + std::to_string(id) + "]");
      type = GgufTokenType::UNUSED;
    } else {
      tokens.push_back(it->second);
      auto a = added_special.find(id);
      if (a != added_special.end()) type = a->second ? GgufTokenType::CONTROL : GgufTokenType::USER_DEFINED;
    }
    types.push_back(int32_t(type));
  }
  json merges = json::array();
  if (m.contains("merges") && m["merges"].is_array())
    for (const auto& mg : m["merges"]) {
      if (mg.is_string()) merges.push_back(mg);
      else if (mg.is_array() && mg.size() == 2 && mg[0].is_string() && mg[1].is_string())
        merges.push_back(mg[0].get<std::string>() + " " + mg[1].get<std::string>());
      else throw Error("tokenizer.json: a merge must be \"a b\" or [\"a\", \"b\"]");
    }
  std::vector<GgufKv> kvs;
  kvs.push_back(kv_str("tokenizer.ggml.model", "gpt2"));
  kvs.push_back(kv_str("tokenizer.ggml.pre",
                       opts.pre.empty() ? gguf_tokenizer_pre_name(t.value("pre_tokenizer", json())) : opts.pre));
  kvs.push_back(kv_array("tokenizer.ggml.tokens", GgufType::STRING, std::move(tokens)));
  kvs.push_back(kv_array("tokenizer.ggml.token_type", GgufType::INT32, std::move(types)));
  kvs.push_back(kv_array("tokenizer.ggml.merges", GgufType::STRING, std::move(merges)));
  for (auto [key, id] : {std::pair{"tokenizer.ggml.eos_token_id", opts.eos_id}, std::pair{"tokenizer.ggml.bos_token_id", opts.bos_id}}) {
    if (id < 0) continue;
    if (id >= n) throw Error(std::string(key) + " " + std::to_string(id) + " is outside the vocabulary");
    kvs.push_back(kv_u32(key, id));
  }
  kvs.push_back(kv_bool("tokenizer.ggml.add_bos_token", false));
  return kvs;
}

std::vector<GgufKv> gguf_tokenizer_kvs_from_dir(const std::string& dir, const json& config, const std::string& pre) {
  const fs::path tp = fs::path(dir) / "tokenizer.json";
  if (!fs::is_regular_file(tp)) return {};
  std::ifstream f(tp, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  if (!f) throw Error("cannot read " + tp.string());
  GgufTokenizerOptions o;
  o.pre = pre;
  if (config.contains("vocab_size") && config["vocab_size"].is_number_integer()) o.vocab_size = config["vocab_size"];
  json gen;
  if (fs::is_regular_file(fs::path(dir) / "generation_config.json")) gen = read_json_file(fs::path(dir) / "generation_config.json");
  for (auto [key, dst] : {std::pair{"eos_token_id", &o.eos_id}, std::pair{"bos_token_id", &o.bos_id}}) {
    *dst = id_value(gen, key);
    if (*dst < 0) *dst = id_value(config, key);
  }
  return gguf_tokenizer_kvs(ss.str(), o);
}

std::vector<GgufKv> gguf_tokenizer_kvs_from_gguf(const GgufFile& f) {
  std::vector<GgufKv> out;
  for (const auto& kv : f.kvs())
    if (kv.key.rfind("tokenizer.", 0) == 0) out.push_back(kv);
  return out;
}

}  // namespace mm
