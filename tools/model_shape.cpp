// The config.json of a new model from the shape flags (`minimax init`, `minimax train`).
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "minimax/model.h"
#include "tools/commands.h"

namespace mm::cli {

std::string join(const std::vector<std::string>& v, const std::string& last, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i == 0 ? "" : i + 1 == v.size() ? last : sep) + v[i];
  return out;
}

std::vector<std::string> like_names(bool fp8_only) {
  std::vector<std::string> out;
  for (const auto& s : arch_specs())
    if (s.init.config && (!fp8_only || s.init.fp8)) out.push_back(s.init.like);
  return out;
}

const ArchSpec& arch_from_like(const Args& a) {
  const std::string like = a.str("like", like_names().front());
  for (const auto& s : arch_specs())
    if (s.init.config && like == s.init.like) return s;
  throw Error("--like must be " + join(like_names(), " or "));
}

nlohmann::ordered_json init_config_from(const Args& a, const ArchSpec& arch, bool fp8) {
  const ArchInit& d = arch.init;
  const int64_t layers = a.i64("layers", d.layers);
  const int64_t heads = a.i64("heads", d.heads);
  const int64_t head_dim = a.i64("head-dim", 64);
  nlohmann::ordered_json c;
  c["architectures"] = {arch.hf_classes.front()};
  c["model_type"] = arch.model_types.front();
  c["hidden_size"] = a.i64("hidden", 256);
  c["intermediate_size"] = a.i64("inter", d.intermediate);
  c["num_hidden_layers"] = layers;
  c["num_attention_heads"] = heads;
  c["num_key_value_heads"] = a.i64("kv-heads", 2);
  c["head_dim"] = head_dim;
  c["rotary_dim"] = a.i64("rotary-dim", head_dim / 2);
  c["num_local_experts"] = a.i64("experts", d.experts);
  c["num_experts_per_tok"] = a.i64("top-k", 2);
  c["vocab_size"] = a.i64("vocab", 512);
  c["max_position_embeddings"] = a.i64("max-pos", d.max_position);
  c["hidden_act"] = "silu";
  c["tie_word_embeddings"] = a.has("tie-embeddings");
  c["shared_intermediate_size"] = 0;
  d.config({.i64 = [&](const std::string& flag, int64_t dflt) { return a.i64(flag, dflt); }, .fp8 = fp8}, c);
  c["torch_dtype"] = a.str("dtype", "bf16") == "f32" ? "float32" : "bfloat16";  // fp8: bf16 + quantization_config
  return c;
}

}  // namespace mm::cli
