// `minimax init`: writes a random-weight model in the Hugging Face release layout (config.json +
// safetensors), at any shape, fast enough for multi-GB benchmark models.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "minimax/convert.h"
#include "minimax/model.h"
#include "minimax/runtime.h"
#include "tools/commands.h"

namespace mm::cli {

namespace {

namespace fs = std::filesystem;

nlohmann::ordered_json make_config(const Args& a, bool m2) {
  const int64_t layers = a.i64("layers", m2 ? 4 : 8);
  const int64_t heads = a.i64("heads", m2 ? 8 : 4);
  const int64_t head_dim = a.i64("head-dim", 64);
  nlohmann::ordered_json c;
  c["architectures"] = {m2 ? "MiniMaxM2ForCausalLM" : "MiniMaxText01ForCausalLM"};
  c["model_type"] = m2 ? "minimax_m2" : "minimax_text_01";
  c["hidden_size"] = a.i64("hidden", 256);
  c["intermediate_size"] = a.i64("inter", m2 ? 128 : 256);
  c["num_hidden_layers"] = layers;
  c["num_attention_heads"] = heads;
  c["num_key_value_heads"] = a.i64("kv-heads", m2 ? 2 : 2);
  c["head_dim"] = head_dim;
  c["rotary_dim"] = a.i64("rotary-dim", head_dim / 2);
  c["num_local_experts"] = a.i64("experts", m2 ? 16 : 8);
  c["num_experts_per_tok"] = a.i64("top-k", 2);
  c["vocab_size"] = a.i64("vocab", 512);
  c["max_position_embeddings"] = a.i64("max-pos", m2 ? 196608 : 1048576);
  c["hidden_act"] = "silu";
  c["tie_word_embeddings"] = false;
  c["shared_intermediate_size"] = 0;
  if (m2) {
    c["attn_type_list"] = std::vector<int>(static_cast<size_t>(layers), 1);
    c["rms_norm_eps"] = 1e-6;
    c["rope_theta"] = 5000000.0;
    c["qk_norm_type"] = "per_layer";
    c["use_qk_norm"] = true;
    c["scoring_func"] = "sigmoid";
    c["use_routing_bias"] = true;
    c["use_mtp"] = false;
    if (a.str("dtype", "bf16") == "fp8") {
      c["quantization_config"] = {{"quant_method", "fp8"},
                                  {"fmt", "float8_e4m3fn"},
                                  {"activation_scheme", "dynamic"},
                                  {"weight_block_size", {128, 128}},
                                  {"modules_to_not_convert", {"gate", "e_score_correction_bias", "lm_head"}}};
    }
  } else {
    const int64_t every = a.i64("softmax-every", 8);
    if (every <= 0) throw Error("--softmax-every must be positive");
    std::vector<int> types;
    for (int64_t i = 0; i < layers; ++i) types.push_back((i + 1) % every == 0 ? 1 : 0);
    c["attn_type_list"] = types;
    const double alpha = std::pow(2.0 * double(layers), 0.25);
    for (const char* k : {"layernorm_full_attention", "layernorm_linear_attention", "layernorm_mlp"}) {
      c[std::string(k) + "_alpha"] = alpha;
      c[std::string(k) + "_beta"] = 1.0;
    }
    c["postnorm"] = true;
    c["rms_norm_eps"] = 1e-5;
    c["rope_theta"] = 10000000.0;
    c["block_size"] = a.i64("block-size", 256);
  }
  c["torch_dtype"] = a.str("dtype", "bf16") == "f32" ? "float32" : "bfloat16";  // fp8: bf16 + quantization_config
  return c;
}

int run_init(int argc, char** argv) {
  Args args(argc, argv);
  args.check_known({"like", "out", "seed", "hidden", "layers", "heads", "kv-heads", "head-dim", "rotary-dim",
                    "experts", "top-k", "inter", "vocab", "max-pos", "softmax-every", "block-size", "dtype",
                    "threads"});
  ThreadPool pool(threads_from(args) < 1 ? default_thread_count() : threads_from(args));
  const std::string like = args.str("like", "text-01");
  if (like != "text-01" && like != "m2") throw Error("--like must be text-01 or m2");
  const std::string dts = args.str("dtype", "bf16");
  DType dt;
  const bool fp8 = dts == "fp8";  // the M2 release layout: fp8 projections + f32 128x128 block scales
  if (dts == "bf16" || fp8) dt = DType::BF16;
  else if (dts == "f32") dt = DType::F32;
  else if (dts == "f16") dt = DType::F16;
  else throw Error("--dtype must be bf16, f16, f32 or fp8 (fp8: --like m2 only)");
  if (fp8 && like != "m2") throw Error("--dtype fp8 is only available with --like m2 (the M2 release format)");
  const fs::path out = args.required("out");
  const uint64_t seed = uint64_t(args.i64("seed", 0));

  auto cfg_json = make_config(args, like == "m2");
  ModelConfig cfg = parse_model_config(cfg_json);  // validates the requested shape
  std::vector<TensorToWrite> tensors = random_model_tensors(pool, cfg, dt, fp8, seed);
  fs::create_directories(out);
  {
    std::ofstream cf(out / "config.json");
    cf << cfg_json.dump(2) << "\n";
    if (!cf) throw Error("cannot write " + (out / "config.json").string());
  }
  write_random_model_tokenizer(out, cfg_json["vocab_size"].get<int64_t>());
  std::fprintf(stderr, "writing %zu tensors to %s\n", tensors.size(), (out / "model.safetensors").c_str());
  int last_pct = -1;
  safetensors_write((out / "model.safetensors").string(), tensors, [&](size_t done, size_t total) {
    int pct = int(100.0 * double(done) / double(total ? total : 1));
    if (pct != last_pct) std::fprintf(stderr, "\r%3d%%", pct), last_pct = pct;
  });
  std::fprintf(stderr, "\rdone: %s\n", out.c_str());
  return 0;
}

const Register reg{"init", "write a random-weight model: --like text-01|m2 --out DIR [--seed S] [--dtype bf16|f16|f32|fp8] [shape flags]", run_init};

}  // namespace

}  // namespace mm::cli
