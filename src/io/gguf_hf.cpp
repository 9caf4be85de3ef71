// GGUF -> HF terms, the part every architecture shares (llama.cpp's conventions): the common metadata
// keys as config.json keys, the tensors under HF names (per-expert slices of the stacked experts), and
// the tokenizer arrays. The architecture's own keys come from its record (model/gguf_arch.cpp).
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "core/error.h"
#include "io/gguf.h"

namespace mm {

namespace {

std::vector<std::string> string_array(const GgufFile& f, const std::string& key) {
  std::vector<std::string> out;
  const GgufKv* kv = f.find_kv(key);
  if (!kv) return out;
  if (kv->type != GgufType::ARRAY || kv->elem_type != GgufType::STRING)
    throw Error("GGUF file " + f.path() + ": " + key + " must be an array of strings");
  out.reserve(kv->value.size());
  for (const auto& s : kv->value) out.push_back(s.get<std::string>());
  return out;
}

}  // namespace

GgufTokenizer gguf_tokenizer(const GgufFile& f) {
  GgufTokenizer t;
  if (!f.find_kv("tokenizer.ggml.tokens"))
    throw Error("GGUF file " + f.path() + " carries no tokenizer (tokenizer.ggml.tokens is missing)");
  t.tokens = string_array(f, "tokenizer.ggml.tokens");
  t.merges = string_array(f, "tokenizer.ggml.merges");
  if (f.find_kv("tokenizer.ggml.model")) t.model = f.get_string("tokenizer.ggml.model");
  if (f.find_kv("tokenizer.ggml.pre")) t.pre = f.get_string("tokenizer.ggml.pre");
  if (const GgufKv* kv = f.find_kv("tokenizer.ggml.token_type")) {
    if (kv->type != GgufType::ARRAY || !kv->value.is_array())
      throw Error("GGUF file " + f.path() + ": tokenizer.ggml.token_type must be an array");
    for (const auto& v : kv->value) {
      if (!v.is_number_integer()) throw Error("GGUF file " + f.path() + ": tokenizer.ggml.token_type must hold integers");
      t.token_types.push_back(v.get<int32_t>());
    }
    if (t.token_types.size() != t.tokens.size())
      throw Error("GGUF file " + f.path() + ": tokenizer.ggml.token_type has " +
                  std::to_string(t.token_types.size()) + " entries for " + std::to_string(t.tokens.size()) +
                  " tokens");
  }
  t.eos_id = f.get_int("tokenizer.ggml.eos_token_id", -1);
  t.bos_id = f.get_int("tokenizer.ggml.bos_token_id", -1);
  t.pad_id = f.get_int("tokenizer.ggml.padding_token_id", -1);
  for (int64_t id : {t.eos_id, t.bos_id, t.pad_id})
    if (id >= int64_t(t.tokens.size()))
      throw Error("GGUF file " + f.path() + ": special token id " + std::to_string(id) + " is outside the " +
                  std::to_string(t.tokens.size()) + "-token vocabulary");
  return t;
}

double gguf_config_float(const GgufFile& f, const std::string& key) {
  const GgufKv* kv = f.find_kv(key);
  double v = f.get_float(key);
  if (kv->type != GgufType::FLOAT32) return v;
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf) - 1, float(v));
  *r.ptr = 0;
  return std::strtod(buf, nullptr);
}

nlohmann::json gguf_shared_hf_config(const GgufFile& f) {
  const std::string p = f.get_string("general.architecture") + ".";
  nlohmann::json c;
  const int64_t n_layers = f.get_int(p + "block_count");
  const int64_t hidden = f.get_int(p + "embedding_length");
  const int64_t heads = f.get_int(p + "attention.head_count");
  if (n_layers <= 0 || hidden <= 0 || heads <= 0)
    throw Error("GGUF file " + f.path() + ": block_count, embedding_length and head_count must be positive");
  // Every layer has tensors: a block_count beyond the tensor count is corrupt (and would size tables by it).
  if (uint64_t(n_layers) > f.tensors().size())
    throw Error("GGUF file " + f.path() + ": block_count " + std::to_string(n_layers) + " exceeds the " +
                std::to_string(f.tensors().size()) + " tensors the file holds");
  const int64_t head_dim = f.get_int(p + "attention.key_length", hidden / heads);
  c["hidden_size"] = hidden;
  c["intermediate_size"] = f.find_kv(p + "expert_feed_forward_length")
                               ? f.get_int(p + "expert_feed_forward_length")
                               : f.get_int(p + "feed_forward_length");
  c["num_hidden_layers"] = n_layers;
  c["num_attention_heads"] = heads;
  c["num_key_value_heads"] = f.get_int(p + "attention.head_count_kv", heads);
  c["head_dim"] = head_dim;
  c["rotary_dim"] = f.get_int(p + "rope.dimension_count", head_dim);
  c["rope_theta"] = gguf_config_float(f, p + "rope.freq_base");
  c["rms_norm_eps"] = gguf_config_float(f, p + "attention.layer_norm_rms_epsilon");
  c["max_position_embeddings"] = f.get_int(p + "context_length");
  c["num_local_experts"] = f.get_int(p + "expert_count");
  c["num_experts_per_tok"] = f.get_int(p + "expert_used_count");
  c["hidden_act"] = "silu";
  c["shared_intermediate_size"] = 0;
  c["tie_word_embeddings"] = f.find_tensor("output.weight") == nullptr;
  if (const GgufTensor* emb = f.find_tensor("token_embd.weight"); emb && emb->ne.size() == 2) {
    c["vocab_size"] = emb->ne[1];
  } else if (const GgufKv* toks = f.find_kv("tokenizer.ggml.tokens")) {
    c["vocab_size"] = toks->value.size();
  } else {
    throw Error("GGUF file " + f.path() + ": cannot tell the vocabulary size (no token_embd.weight)");
  }
  if (f.find_kv("tokenizer.ggml.eos_token_id")) c["eos_token_id"] = f.get_int("tokenizer.ggml.eos_token_id");
  if (f.find_kv("tokenizer.ggml.bos_token_id")) c["bos_token_id"] = f.get_int("tokenizer.ggml.bos_token_id");
  c["attn_type_list"] = std::vector<int>(size_t(n_layers), 1);
  return c;
}

TensorStore gguf_hf_tensors(const GgufFile& f, const std::vector<int>& attn_types) {
  const std::string& path = f.path();
  TensorStore store;
  store.keep_file(f.mapping());
  store.set_source(path);
  for (const GgufTensor& t : f.tensors()) {
    DType dt;
    if (!ggml_type_to_dtype(t.ggml_type, &dt)) {
      const char* tn = ggml_type_name(t.ggml_type);
      throw Error("GGUF file " + path + ": unsupported GGUF tensor type " + (tn ? tn : "?") + " for tensor '" +
                  t.name + "'");
    }
    GgufHfName m = gguf_to_hf_name(t.name, attn_types);
    if (m.hf.empty())
      throw Error("GGUF file " + path + ": tensor '" + t.name + "' has no known HF equivalent");
    std::vector<int64_t> shape(t.ne.rbegin(), t.ne.rend());
    if (!m.stacked) {
      store.add(TensorInfo{m.hf, dt, shape, t.data, t.n_bytes, path});
      continue;
    }
    if (t.ne.size() != 3)
      throw Error("GGUF file " + path + ": stacked expert tensor '" + t.name + "' must have 3 dimensions, has " +
                  std::to_string(t.ne.size()));
    const int64_t n_exp = t.ne[2];
    const size_t per = t.n_bytes / size_t(n_exp);
    std::vector<int64_t> eshape(shape.begin() + 1, shape.end());
    for (int64_t e = 0; e < n_exp; ++e) {
      std::string name = m.hf;
      name.replace(name.find("{E}"), 3, std::to_string(e));
      store.add(TensorInfo{name, dt, eshape, t.data + size_t(e) * per, per, path});
    }
  }
  return store;
}

}  // namespace mm
