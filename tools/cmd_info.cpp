// `minimax info`: architecture, parameter counts, memory of a context of --ctx tokens and (--flops) the
// forward FLOPs per token at that depth, against DeepSeek-R1 at 100K generated tokens (config.json suffices).
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

// FLOPs in scientific notation ("1.274e+11").
std::string flops_str(double f) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", f);
  return buf;
}

nlohmann::ordered_json flop_json(const FlopModel& f, int64_t depth, int64_t n_generated) {
  return {{"name", f.name},
          {"active_matmul_params", f.active_matmul_params},
          {"matmul_flops", f.matmul_flops},
          {"lightning_flops", f.lightning_flops},
          {"attention_flops_per_depth", f.attention_flops_per_depth},
          {"depth", depth},
          {"per_token_flops", f.per_token(depth)},
          {"generated_tokens", n_generated},
          {"cumulative_flops", f.cumulative(n_generated)}};
}

int run_info(int argc, char** argv) {
  Args args(argc, argv, {"json", "flops"});
  args.check_known({"model", "ctx", "kv-type", "flops", "json"});
  const std::string path = args.required("model");
  const int64_t n_ctx = args.i64("ctx", 4096);
  if (n_ctx < 0) throw Error("--ctx must be >= 0 (a number of tokens)");
  const KvType kv_type = parse_kv_type(args.str("kv-type", "f16"));
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
  // Sequence memory (model/context_cost.h): KV pages of the softmax layers in --kv-type, fp32
  // lightning states (constant in n_ctx), plus the weights.
  const ContextMemory mem = context_memory(c, n_ctx, kv_type, uint64_t(weight_bytes));
  const double kv_per_token = double(c.n_softmax_layers()) * 2.0 * double(mem.kv_row_bytes);

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
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["total_params"] = pc.total;
  j["active_params"] = pc.active;
  j["active_params_with_embeddings"] = pc.active + pc.embeddings;
  j["weights_bytes"] = weight_bytes;
  j["weights_bytes_estimated"] = !has_weights;
  j["sequence_tokens"] = n_ctx;
  j["beyond_max_position_embeddings"] = n_ctx > c.max_position_embeddings;
  j["kv_type"] = kv_type_name(kv_type);
  j["kv_page_tokens"] = kContextPageTokens;
  j["kv_pages_per_layer"] = mem.n_pages;
  j["kv_row_bytes"] = mem.kv_row_bytes;
  j["kv_bytes"] = mem.kv_bytes;
  j["state_bytes"] = mem.state_bytes;
  j["total_bytes"] = mem.total_bytes;
  j["sequence_bytes"] = mem.kv_bytes + mem.state_bytes;
  j["lightning_state_bytes"] = mem.state_bytes;
  j["kv_bytes_per_token"] = kv_per_token;

  const bool flops = args.has("flops");
  FlopModel fm, r1, r1_abs;
  const int64_t n_gen = kM1PaperGenerationTokens;
  if (flops) {
    fm = flop_model(c);
    r1 = deepseek_r1_flop_model(false);
    r1_abs = deepseek_r1_flop_model(true);
    nlohmann::ordered_json f = flop_json(fm, n_ctx, n_gen);
    nlohmann::ordered_json cmp;
    cmp["generated_tokens"] = n_gen;
    cmp["model"] = flop_json(fm, n_gen, n_gen);
    cmp["deepseek_r1"] = flop_json(r1, n_gen, n_gen);
    cmp["deepseek_r1_absorbed_mla"] = flop_json(r1_abs, n_gen, n_gen);
    cmp["per_token_ratio"] = fm.per_token(n_gen) / r1.per_token(n_gen);
    cmp["cumulative_ratio"] = fm.cumulative(n_gen) / r1.cumulative(n_gen);
    cmp["per_token_ratio_absorbed_mla"] = fm.per_token(n_gen) / r1_abs.per_token(n_gen);
    cmp["cumulative_ratio_absorbed_mla"] = fm.cumulative(n_gen) / r1_abs.cumulative(n_gen);
    cmp["m1_paper_claim_ratio"] = kM1PaperFlopRatio;
    f["vs_deepseek_r1"] = cmp;
    j["flops"] = f;
  }
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
  std::printf("context           %lld tokens%s, KV %s: %lld pages of %lld tokens per softmax layer\n", (long long)n_ctx,
              n_ctx > c.max_position_embeddings ? " (beyond max_position_embeddings)" : "", kv_type_name(kv_type),
              (long long)mem.n_pages, (long long)kContextPageTokens);
  std::printf("  KV cache        %s (%lld softmax layers x K+V x %llu B per token row)\n",
              human(double(mem.kv_bytes), "B").c_str(), (long long)c.n_softmax_layers(),
              (unsigned long long)mem.kv_row_bytes);
  std::printf("  lightning state %s (%lld layers x %lld heads x %lld^2 x fp32, constant in context)\n",
              human(double(mem.state_bytes), "B").c_str(), (long long)c.n_lightning_layers(),
              (long long)c.num_attention_heads, (long long)c.head_dim);
  std::printf("  weights         %s\n", human(double(mem.weight_bytes), "B").c_str());
  std::printf("  total           %s\n", human(double(mem.total_bytes), "B").c_str());
  if (flops) {
    std::printf("flops per token   %s at depth %lld: matmuls %s (%s active params), lightning %s, attention %s\n",
                flops_str(fm.per_token(n_ctx)).c_str(), (long long)n_ctx, flops_str(fm.matmul_flops).c_str(),
                human(fm.active_matmul_params, "").c_str(), flops_str(fm.lightning_flops).c_str(),
                flops_str(fm.attention_flops_per_depth * double(n_ctx)).c_str());
    std::printf("vs DeepSeek-R1    generating %lld tokens (depths 0..%lld):\n", (long long)n_gen, (long long)(n_gen - 1));
    std::printf("  per token at depth %lld: %s vs %s = %.3f (absorbed MLA %s: %.3f)\n", (long long)n_gen,
                flops_str(fm.per_token(n_gen)).c_str(), flops_str(r1.per_token(n_gen)).c_str(),
                fm.per_token(n_gen) / r1.per_token(n_gen), flops_str(r1_abs.per_token(n_gen)).c_str(),
                fm.per_token(n_gen) / r1_abs.per_token(n_gen));
    std::printf("  cumulative:            %s vs %s = %.3f (absorbed MLA %s: %.3f)\n",
                flops_str(fm.cumulative(n_gen)).c_str(), flops_str(r1.cumulative(n_gen)).c_str(),
                fm.cumulative(n_gen) / r1.cumulative(n_gen), flops_str(r1_abs.cumulative(n_gen)).c_str(),
                fm.cumulative(n_gen) / r1_abs.cumulative(n_gen));
    std::printf("  MiniMax-M1 paper: M1 needs %.0f%% of DeepSeek-R1's FLOPs at 100K generated tokens\n",
                100 * kM1PaperFlopRatio);
  }
  return 0;
}

const Register reg{"info", "describe a model: --model PATH [--ctx N] [--kv-type f16|bf16|f32|q8_0] [--flops] [--json]",
                   run_info};

}  // namespace

}  // namespace mm::cli
