// tokenizer.json -> tokenizer.ggml.* metadata, and the tokenizer.json of random-weight models.
#include "io/gguf_tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/error.h"

namespace mm {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The split regexes of the tokenizer.json files llama.cpp knows by name (as they appear in the JSON,
// i.e. after JSON unescaping).
constexpr const char* kLlama3Regex =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr const char* kQwen2Regex =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
// GPT-4o's split regex, which MiniMax-M2's tokenizer uses too (llama.cpp: pre "minimax-m2" = "gpt-4o").
constexpr const char* kMinimaxRegex =
    R"re([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

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

// GPT-2's byte -> printable character table, in its order (printable Latin-1 bytes first, mapped to
// themselves; the rest to U+0100 upwards).
std::vector<std::pair<int, std::string>> byte_symbols() {
  auto utf8 = [](uint32_t cp) {
    std::string s;
    if (cp < 0x80) s += char(cp);
    else s += char(0xC0 | (cp >> 6)), s += char(0x80 | (cp & 0x3F));  // all < U+0800 here
    return s;
  };
  std::vector<std::pair<int, std::string>> out;
  std::vector<bool> direct(256, false);
  for (int b = 0; b < 256; ++b) direct[size_t(b)] = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
  for (int b = 0; b < 256; ++b)
    if (direct[size_t(b)]) out.emplace_back(b, utf8(uint32_t(b)));
  uint32_t next = 256;
  for (int b = 0; b < 256; ++b)
    if (!direct[size_t(b)]) out.emplace_back(b, utf8(next++));
  return out;
}

// English text the merges of random-model tokenizers are learned from (written for this purpose).
constexpr const char* kMergeText =
    "The engine reads the model from the files on the disk and then runs the layers one after another. "
    "Each layer has an attention part and a mixture of experts part, and the router picks the experts "
    "that the token should use. The weights are random, so the text that comes out of the model is not "
    "meant to be read; it is there so that the whole pipeline can be tested from the beginning to the end. "
    "There is a tokenizer that turns the text into numbers, and the numbers into text again. When the "
    "model writes the end of the message, the generation stops, and the chat shows what the assistant "
    "said. In the morning the weather was cold, but in the afternoon the sun came out and the children "
    "played in the garden with their friends. They were thinking about the question for a long time "
    "before they answered it, and then they wrote the answer on the paper and gave it to the teacher. "
    "Numbers such as 2024, 512 and 128 appear in the benchmarks, together with the threads and the tokens "
    "per second that the engine reaches on the machine.";

// Byte-level BPE merges learned from kMergeText: words (a leading space joins the letters after it)
// as GPT-2 byte symbols, most frequent adjacent pair merged first (ties: smallest pair), until every word
// is one symbol or `max_merges` are found.
std::vector<std::pair<std::string, std::string>> learn_merges(int max_merges) {
  const auto syms = byte_symbols();
  std::vector<std::string> sym_of(256);
  for (const auto& [b, s] : syms) sym_of[size_t(b)] = s;
  std::map<std::vector<std::string>, int64_t> words;
  const std::string text = kMergeText;
  auto is_alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  for (size_t i = 0; i < text.size();) {
    size_t j = i;
    if (text[j] == ' ' && j + 1 < text.size() && is_alpha(text[j + 1])) ++j;
    if (is_alpha(text[j])) {
      while (j < text.size() && is_alpha(text[j])) ++j;
    } else {
      ++j;
    }
    std::vector<std::string> w;
    for (size_t k = i; k < j; ++k) w.push_back(sym_of[static_cast<unsigned char>(text[k])]);
    ++words[w];
    i = j;
  }
  std::vector<std::pair<std::string, std::string>> merges;
  while (int(merges.size()) < max_merges) {
    std::map<std::pair<std::string, std::string>, int64_t> counts;
    for (const auto& [w, n] : words)
      for (size_t k = 0; k + 1 < w.size(); ++k) counts[{w[k], w[k + 1]}] += n;
    const std::pair<std::string, std::string>* best = nullptr;
    int64_t best_n = 0;  // pairs seen once count too (they spell out whole rare words)
    for (const auto& [p, n] : counts)
      if (n > best_n) best = &p, best_n = n;
    if (!best) break;
    const auto pair = *best;
    merges.push_back(pair);
    std::map<std::vector<std::string>, int64_t> next;
    for (const auto& [w, n] : words) {
      std::vector<std::string> m;
      for (size_t k = 0; k < w.size(); ++k) {
        if (k + 1 < w.size() && w[k] == pair.first && w[k + 1] == pair.second) {
          m.push_back(w[k] + w[k + 1]);
          ++k;
        } else {
          m.push_back(w[k]);
        }
      }
      next[m] += n;
    }
    words = std::move(next);
  }
  return merges;
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

const std::vector<std::string>& minimax_special_tokens() {
  static const std::vector<std::string> v = {
      "]!p~[", "]~b]", "[e~[", "]!d~[", "]~!b[", "<think>", "</think>", "<minimax:tool_call>",
      "</minimax:tool_call>", "<tool_calls>", "</tool_calls>", "<beginning_of_sentence>", "<end_of_sentence>",
      "<begin_of_document>", "<end_of_document>", "<function_call>"};
  return v;
}

json make_random_model_tokenizer(int64_t vocab_size, int max_merges) {
  using ojson = json;  // std::map objects: the vocabulary has tens of thousands of keys
  const auto& specials = minimax_special_tokens();
  const int64_t n_special = int64_t(specials.size());
  if (vocab_size < 256 + n_special)
    throw Error("a tokenizer needs vocab_size >= " + std::to_string(256 + n_special) + " (256 bytes + " +
                std::to_string(n_special) + " special tokens)");
  const int64_t room = vocab_size - 256 - n_special;
  const auto merges = learn_merges(int(std::min<int64_t>(room, max_merges)));
  ojson vocab = ojson::object();
  int64_t id = 0;
  for (const auto& [b, s] : byte_symbols()) vocab[s] = id++;
  ojson merge_list = ojson::array();
  for (const auto& [a, b] : merges) {
    if (!vocab.contains(a + b)) vocab[a + b] = id++;
    merge_list.push_back(a + " " + b);
  }
  while (id < vocab_size - n_special) {
    vocab["<|filler_" + std::to_string(id) + "|>"] = id;
    ++id;
  }
  ojson added = ojson::array();
  for (const auto& s : specials) {
    vocab[s] = id;
    added.push_back({{"id", id}, {"content", s}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                     {"normalized", false}, {"special", true}});
    ++id;
  }
  ojson t;
  t["version"] = "1.0";
  t["truncation"] = nullptr;
  t["padding"] = nullptr;
  t["added_tokens"] = added;
  t["normalizer"] = nullptr;
  t["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       {{{"type", "Split"}, {"pattern", {{"Regex", kMinimaxRegex}}}, {"behavior", "Isolated"}, {"invert", false}},
        {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}}}};
  t["post_processor"] = nullptr;
  t["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  t["model"] = {{"type", "BPE"},         {"dropout", nullptr},          {"unk_token", nullptr},
                {"continuing_subword_prefix", nullptr}, {"end_of_word_suffix", nullptr}, {"fuse_unk", false},
                {"byte_fallback", false}, {"ignore_merges", false},     {"vocab", vocab},
                {"merges", merge_list}};
  return t;
}

}  // namespace mm
