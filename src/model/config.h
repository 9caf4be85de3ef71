// ModelConfig: config.json read key by key (HF names verbatim), plus one LayerConfig per decoder layer.
// config.cpp reads the keys all architectures share; each architecture's file reads its own keys
// (ArchSpec::parse_config, model/arch.h). Inconsistent configs raise mm::Error naming the key.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mm {

enum class Arch { MiniMaxText01, MiniMaxM2 };
enum class AttnKind { Lightning, Softmax };

struct LayerConfig {
  AttnKind attn_kind = AttnKind::Softmax;
  // Residual scaling (Text-01): h = skip * alpha + sublayer * beta. M2: all 1.
  float attn_alpha = 1, attn_beta = 1;
  float mlp_alpha = 1, mlp_beta = 1;
};

struct ModelConfig {
  Arch arch = Arch::MiniMaxText01;
  std::string model_type;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;  // per expert
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;
  int64_t rotary_dim = 0;
  int64_t vocab_size = 0;
  int64_t num_local_experts = 0;
  int64_t num_experts_per_tok = 0;
  int64_t max_position_embeddings = 0;
  int64_t block_size = 256;  // lightning prefill block (results do not depend on it)
  int64_t shared_intermediate_size = 0;
  double rope_theta = 10000.0;
  double rms_norm_eps = 1e-5;
  double lightning_norm_eps = 1e-6;  // the reference's class default; config eps is not passed
  bool postnorm = false;
  bool tie_word_embeddings = false;
  // M2
  bool use_qk_norm = false;
  std::string qk_norm_type;
  std::string scoring_func = "softmax";
  bool use_routing_bias = false;
  // fp8 block quantisation (quantization_config), M2 release
  bool fp8 = false;
  int64_t fp8_block_n = 128, fp8_block_k = 128;
  std::optional<int64_t> bos_token_id, eos_token_id;

  std::vector<LayerConfig> layers;

  int64_t n_lightning_layers() const;
  int64_t n_softmax_layers() const;
  const char* arch_name() const;
};

// Parses and validates: the keys every architecture shares, then the architecture's own
// (ArchSpec::parse_config); throws mm::Error with the offending key on a bad config.
ModelConfig parse_model_config(const nlohmann::json& j);

// Readers for the architectures' parse_config hooks: a missing or null key takes the default (or is
// an error without one); a wrong type is an error naming the key.
namespace config_json {
[[noreturn]] void bad(const std::string& key, const std::string& what);  // "config.json: KEY WHAT"
bool has(const nlohmann::json& j, const char* key);
int64_t get_int(const nlohmann::json& j, const char* key, std::optional<int64_t> def = std::nullopt);
double get_num(const nlohmann::json& j, const char* key, std::optional<double> def = std::nullopt);
bool get_bool(const nlohmann::json& j, const char* key, bool def);
std::string get_str(const nlohmann::json& j, const char* key, const std::string& def);
// attn_type_list (0 = lightning, 1 = softmax) or layer_types ("linear_attention" / "full_attention");
// when neither is given: all softmax if all_softmax_default, else an error.
std::vector<AttnKind> read_layer_kinds(const nlohmann::json& j, int64_t n_layers, bool all_softmax_default);
}  // namespace config_json

}  // namespace mm
