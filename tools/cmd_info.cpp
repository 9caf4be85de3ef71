// `minimax info`: architecture, parameter counts and memory needs of a model (config.json suffices).
#include <cstdio>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "minimax/model.h"
#include "tools/commands.h"

namespace mm::cli {

namespace {

std::string human(double n, const char* unit) {
  const char* suf[] = {"", "K", "M", "G", "T"};
  int i = 0;
  double base = unit[0] == 'B' ? 1024.0 : 1000.0;
  while (n >= base && i < 4) n /= base, ++i;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f %s%s%s", n, suf[i], unit[0] == 'B' && i ? "i" : "", unit);
  return buf;
}

int run_info(int argc, char** argv) {
  Args args(argc, argv, {"json"});
  args.check_known({"model", "ctx", "json"});
  const std::string path = args.required("model");
  const int64_t n_ctx = args.i64("ctx", 4096);
  if (n_ctx < 0) throw Error("--ctx must be >= 0");
  const bool is_dir = std::filesystem::is_directory(path);
  bool has_weights = !is_dir || std::filesystem::exists(std::filesystem::path(path) / "model.safetensors") ||
                     std::filesystem::exists(std::filesystem::path(path) / "model.safetensors.index.json");
  HfCheckpoint ck = load_checkpoint(path, has_weights);
  ModelConfig c = parse_model_config(ck.config);
  auto specs = model_tensor_specs(c);
  if (has_weights) check_tensors(ck.tensors, specs, c);
  ParamCounts pc = count_params(specs, c);

  double weight_bytes = 0;
  if (has_weights) {
    for (const auto& [name, t] : ck.tensors.all()) weight_bytes += double(t.n_bytes);
  } else {
    weight_bytes = pc.total * (c.fp8 ? 1.0 : 2.0);  // estimate: bf16, or fp8 for quantised releases
  }
  // Sequence memory (fp32): lightning states are constant, KV caches grow with n_ctx.
  const double state_bytes = double(c.n_lightning_layers()) * double(c.num_attention_heads) *
                             double(c.head_dim * c.head_dim) * 4.0;
  const double kv_per_token = double(c.n_softmax_layers()) * 2.0 * double(c.num_key_value_heads * c.head_dim) * 4.0;
  const double seq_bytes = state_bytes + kv_per_token * double(n_ctx);

  nlohmann::ordered_json j;
  j["architecture"] = c.arch_name();
  j["model_type"] = c.model_type;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["lightning_layers"] = c.n_lightning_layers();
  j["softmax_layers"] = c.n_softmax_layers();
  j["hidden_size"] = c.hidden_size;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["head_dim"] = c.head_dim;
  j["num_local_experts"] = c.num_local_experts;
  j["num_experts_per_tok"] = c.num_experts_per_tok;
  j["intermediate_size"] = c.intermediate_size;
  j["vocab_size"] = c.vocab_size;
  j["total_params"] = pc.total;
  j["active_params"] = pc.active;
  j["active_params_with_embeddings"] = pc.active + pc.embeddings;
  j["weights_bytes"] = weight_bytes;
  j["weights_bytes_estimated"] = !has_weights;
  j["sequence_tokens"] = n_ctx;
  j["sequence_bytes"] = seq_bytes;
  j["lightning_state_bytes"] = state_bytes;
  j["kv_bytes_per_token"] = kv_per_token;
  if (args.has("json")) {
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("architecture      %s (model_type %s)\n", c.arch_name(), c.model_type.c_str());
  std::printf("layers            %lld: %lld lightning, %lld softmax attention\n", (long long)c.num_hidden_layers,
              (long long)c.n_lightning_layers(), (long long)c.n_softmax_layers());
  std::printf("attention         %lld heads x %lld dims, %lld KV heads, rotary_dim %lld, theta %g\n",
              (long long)c.num_attention_heads, (long long)c.head_dim, (long long)c.num_key_value_heads,
              (long long)c.rotary_dim, c.rope_theta);
  std::printf("experts           %lld, top-%lld, intermediate %lld (%s router)\n", (long long)c.num_local_experts,
              (long long)c.num_experts_per_tok, (long long)c.intermediate_size,
              c.scoring_func != "sigmoid" ? "softmax" : c.use_routing_bias ? "sigmoid+bias" : "sigmoid");
  std::printf("hidden / vocab    %lld / %lld\n", (long long)c.hidden_size, (long long)c.vocab_size);
  std::printf("parameters        %s total, %s active per token (%s with embeddings)\n", human(pc.total, "").c_str(),
              human(pc.active, "").c_str(), human(pc.active + pc.embeddings, "").c_str());
  std::printf("weights memory    %s%s\n", human(weight_bytes, "B").c_str(), has_weights ? "" : " (estimated, no weights)");
  std::printf("sequence memory   %s for %lld tokens (lightning state %s + KV %s/token, fp32)\n",
              human(seq_bytes, "B").c_str(), (long long)n_ctx, human(state_bytes, "B").c_str(),
              human(kv_per_token, "B").c_str());
  return 0;
}

const Register reg{"info", "describe a model: --model PATH [--ctx N] [--json]", run_info};

}  // namespace

}  // namespace mm::cli
