#include "model/config.h"

#include <cmath>

#include "core/error.h"
#include "model/arch.h"

namespace mm {

namespace config_json {

[[noreturn]] void bad(const std::string& key, const std::string& what) {
  throw Error("config.json: " + key + " " + what);
}

bool has(const nlohmann::json& j, const char* key) { return j.contains(key) && !j[key].is_null(); }

int64_t get_int(const nlohmann::json& j, const char* key, std::optional<int64_t> def) {
  if (!has(j, key)) {
    if (def) return *def;
    bad(key, "is missing");
  }
  const auto& v = j[key];
  if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)) bad(key, "is too large, got " + v.dump());
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    // Integral and inside int64_t (converting anything else is undefined behaviour): 6.7e45 is no count.
    if (std::floor(d) == d && std::fabs(d) < 9.2e18) return int64_t(d);
    if (std::floor(d) == d) bad(key, "is too large, got " + v.dump());
  }
  bad(key, "must be an integer, got " + v.dump());
}

double get_num(const nlohmann::json& j, const char* key, std::optional<double> def) {
  if (!has(j, key)) {
    if (def) return *def;
    bad(key, "is missing");
  }
  if (!j[key].is_number()) bad(key, "must be a number, got " + j[key].dump());
  const double v = j[key].get<double>();
  if (!std::isfinite(v)) bad(key, "must be a finite number");
  return v;
}

bool get_bool(const nlohmann::json& j, const char* key, bool def) {
  if (!has(j, key)) return def;
  if (!j[key].is_boolean()) bad(key, "must be true or false, got " + j[key].dump());
  return j[key].get<bool>();
}

std::string get_str(const nlohmann::json& j, const char* key, const std::string& def) {
  if (!has(j, key)) return def;
  if (!j[key].is_string()) bad(key, "must be a string, got " + j[key].dump());
  return j[key].get<std::string>();
}

static std::optional<int64_t> get_token_id(const nlohmann::json& j, const char* key) {
  if (!has(j, key)) return std::nullopt;
  const auto& v = j[key];
  if (v.is_array() && !v.empty() && v[0].is_number_integer()) return v[0].get<int64_t>();
  if (v.is_number_integer()) return v.get<int64_t>();
  bad(key, "must be an integer or a list of integers");
}

// attn_type_list (0 = lightning, 1 = softmax) or layer_types ("linear_attention" / "full_attention").
std::vector<AttnKind> read_layer_kinds(const nlohmann::json& j, int64_t n_layers, bool all_softmax_default) {
  std::vector<AttnKind> kinds;
  if (has(j, "attn_type_list")) {
    const auto& a = j["attn_type_list"];
    if (!a.is_array()) bad("attn_type_list", "must be a list");
    for (const auto& v : a) {
      // (read as int64_t: an int would truncate 2^32 to 0, a lightning layer)
      if (!v.is_number_integer() || (v.get<int64_t>() != 0 && v.get<int64_t>() != 1))
        bad("attn_type_list", "entries must be 0 (lightning) or 1 (softmax), got " + v.dump());
      kinds.push_back(v.get<int64_t>() == 0 ? AttnKind::Lightning : AttnKind::Softmax);
    }
    if (int64_t(kinds.size()) != n_layers)
      bad("attn_type_list", "has " + std::to_string(kinds.size()) + " entries but num_hidden_layers is " +
                                std::to_string(n_layers));
  } else if (has(j, "layer_types")) {
    const auto& a = j["layer_types"];
    if (!a.is_array()) bad("layer_types", "must be a list");
    for (const auto& v : a) {
      std::string s = v.is_string() ? v.get<std::string>() : "";
      if (s == "linear_attention") kinds.push_back(AttnKind::Lightning);
      else if (s == "full_attention") kinds.push_back(AttnKind::Softmax);
      else bad("layer_types", "entries must be \"linear_attention\" or \"full_attention\", got " + v.dump());
    }
    if (int64_t(kinds.size()) != n_layers)
      bad("layer_types", "has " + std::to_string(kinds.size()) + " entries but num_hidden_layers is " +
                             std::to_string(n_layers));
  } else if (all_softmax_default) {
    kinds.assign(size_t(n_layers), AttnKind::Softmax);
  } else {
    bad("attn_type_list", "is missing (neither attn_type_list nor layer_types is given)");
  }
  return kinds;
}

}  // namespace config_json

namespace {

using namespace config_json;

void require_positive(int64_t v, const char* key) {
  if (v <= 0) bad(key, "must be positive, got " + std::to_string(v));
}

}  // namespace

int64_t ModelConfig::n_lightning_layers() const {
  int64_t n = 0;
  for (const auto& l : layers) n += l.attn_kind == AttnKind::Lightning;
  return n;
}
int64_t ModelConfig::n_softmax_layers() const { return int64_t(layers.size()) - n_lightning_layers(); }
const char* ModelConfig::arch_name() const { return arch_spec(arch).name; }

ModelConfig parse_model_config(const nlohmann::json& j) {
  if (!j.is_object()) throw Error("config.json: not a JSON object");
  ModelConfig c;
  c.model_type = get_str(j, "model_type", "");
  std::string arch0;
  if (has(j, "architectures") && j["architectures"].is_array() && !j["architectures"].empty() &&
      j["architectures"][0].is_string())
    arch0 = j["architectures"][0].get<std::string>();
  const ArchSpec* spec = find_arch(c.model_type, arch0);
  if (!spec) {
    std::string known;
    for (const auto& a : arch_specs())
      for (const auto& t : a.model_types) known += (known.empty() ? "" : ", ") + t;
    bad("model_type", "'" + c.model_type + "' (architectures " + (arch0.empty() ? "?" : arch0) +
                          ") is not a supported architecture (" + known + ")");
  }
  c.arch = spec->arch;

  c.hidden_size = get_int(j, "hidden_size");
  c.intermediate_size = get_int(j, "intermediate_size");
  c.num_hidden_layers = get_int(j, "num_hidden_layers");
  c.num_attention_heads = get_int(j, "num_attention_heads");
  c.num_key_value_heads = get_int(j, "num_key_value_heads", c.num_attention_heads);
  c.head_dim = get_int(j, "head_dim", c.num_attention_heads > 0 ? c.hidden_size / c.num_attention_heads : 0);
  c.vocab_size = get_int(j, "vocab_size");
  c.num_local_experts = get_int(j, "num_local_experts");
  c.num_experts_per_tok = get_int(j, "num_experts_per_tok");
  c.max_position_embeddings = get_int(j, "max_position_embeddings", 4096);
  c.shared_intermediate_size = get_int(j, "shared_intermediate_size", 0);
  c.rms_norm_eps = get_num(j, "rms_norm_eps", 1e-5);  // an architecture may choose its own default
  c.tie_word_embeddings = get_bool(j, "tie_word_embeddings", false);
  c.postnorm = get_bool(j, "postnorm", false);  // a missing postnorm means false, as the released code
  c.block_size = get_int(j, "block_size", 256);
  c.bos_token_id = get_token_id(j, "bos_token_id");
  c.eos_token_id = get_token_id(j, "eos_token_id");

  for (auto [v, k] : {std::pair{c.hidden_size, "hidden_size"}, {c.intermediate_size, "intermediate_size"},
                      {c.num_hidden_layers, "num_hidden_layers"}, {c.num_attention_heads, "num_attention_heads"},
                      {c.num_key_value_heads, "num_key_value_heads"}, {c.head_dim, "head_dim"},
                      {c.vocab_size, "vocab_size"}, {c.num_local_experts, "num_local_experts"},
                      {c.num_experts_per_tok, "num_experts_per_tok"}, {c.block_size, "block_size"},
                      {c.max_position_embeddings, "max_position_embeddings"}})
    require_positive(v, k);
  if (c.num_hidden_layers > 100000) bad("num_hidden_layers", "is absurdly large");
  // Lightning attention allocates per block: a block past the longest context any release uses is a
  // corrupt value, not a choice (the releases use 256).
  if (c.block_size > 65536) bad("block_size", "(" + std::to_string(c.block_size) + ") is larger than 65536");
  if (c.num_experts_per_tok > c.num_local_experts)
    bad("num_experts_per_tok", "(" + std::to_string(c.num_experts_per_tok) + ") exceeds num_local_experts (" +
                                   std::to_string(c.num_local_experts) + ")");
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    bad("num_key_value_heads", "(" + std::to_string(c.num_key_value_heads) +
                                   ") must divide num_attention_heads (" + std::to_string(c.num_attention_heads) + ")");
  if (c.shared_intermediate_size != 0)
    bad("shared_intermediate_size", "is " + std::to_string(c.shared_intermediate_size) +
                                        "; shared experts are not supported (the releases use 0)");
  if (has(j, "hidden_act") && get_str(j, "hidden_act", "silu") != "silu")
    bad("hidden_act", "'" + get_str(j, "hidden_act", "") + "' is not supported (only silu)");

  // RoPE: rotary_dim (release) or rope_parameters.partial_rotary_factor / partial_rotary_factor (native).
  double theta = 10000.0;
  double partial = -1;
  if (has(j, "rope_parameters") && j["rope_parameters"].is_object()) {
    const auto& rp = j["rope_parameters"];
    theta = get_num(rp, "rope_theta", theta);
    partial = get_num(rp, "partial_rotary_factor", -1);
    std::string type = get_str(rp, "rope_type", "default");
    if (type != "default") bad("rope_parameters.rope_type", "'" + type + "' is not supported (only default)");
  }
  c.rope_theta = get_num(j, "rope_theta", theta);
  if (has(j, "rotary_dim")) c.rotary_dim = get_int(j, "rotary_dim");
  else if (partial > 0) c.rotary_dim = int64_t(std::llround(partial * double(c.head_dim)));
  else if (has(j, "partial_rotary_factor"))
    c.rotary_dim = int64_t(std::llround(get_num(j, "partial_rotary_factor") * double(c.head_dim)));
  else c.rotary_dim = c.head_dim;
  if (c.rotary_dim <= 0 || c.rotary_dim % 2 != 0 || c.rotary_dim > c.head_dim)
    bad("rotary_dim", "(" + std::to_string(c.rotary_dim) + ") must be even, positive and <= head_dim (" +
                          std::to_string(c.head_dim) + ")");
  if (c.rope_theta <= 0) bad("rope_theta", "must be positive");

  spec->parse_config(j, c);
  if (has(j, "quantization_config")) {
    const auto& q = j["quantization_config"];
    if (!q.is_object()) bad("quantization_config", "must be an object");
    std::string method = get_str(q, "quant_method", "");
    if (method != "fp8") bad("quantization_config.quant_method", "'" + method + "' is not supported (only fp8)");
    std::string fmt = get_str(q, "fmt", "float8_e4m3fn");
    if (fmt != "float8_e4m3fn" && fmt != "e4m3")
      bad("quantization_config.fmt", "'" + fmt + "' is not supported (only float8_e4m3fn)");
    c.fp8 = true;
    if (has(q, "weight_block_size")) {
      const auto& b = q["weight_block_size"];
      if (!b.is_array() || b.size() != 2 || !b[0].is_number_integer() || !b[1].is_number_integer() ||
          b[0].get<int64_t>() <= 0 || b[1].get<int64_t>() <= 0)
        bad("quantization_config.weight_block_size", "must be two positive integers");
      c.fp8_block_n = b[0].get<int64_t>();
      c.fp8_block_k = b[1].get<int64_t>();
    }
  }
  return c;
}

}  // namespace mm
