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

uint64_t hash_name(const std::string& s, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Uniform values in [center - a, center + a] from a counter-based generator (splitmix64), so any
// chunk can be produced independently by any thread.
struct Filler {
  uint64_t key;
  float center, a;
  float at(uint64_t i) const {
    uint64_t z = key + (i + 1) * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return center + a * (float(z >> 40) * (2.0f / 16777216.0f) - 1.0f);
  }
};

void fill_tensor(const Filler& f, DType dt, uint8_t* dst, size_t n_bytes) {
  const int64_t n = int64_t(n_bytes / size_t(dtype_info(dt).block_bytes));
  global_pool().parallel_for(
      n,
      [&](int64_t b, int64_t e, int) {
        for (int64_t i = b; i < e; ++i) {
          float v = f.at(uint64_t(i));
          if (dt == DType::F32) std::memcpy(dst + i * 4, &v, 4);
          else {
            uint16_t h = dt == DType::BF16 ? f32_to_bf16(v) : f32_to_f16(v);
            std::memcpy(dst + i * 2, &h, 2);
          }
        }
      },
      1 << 16);
}

// float8 e4m3fn, round to nearest even, saturating at ±448 (no infinities; NaN stays NaN).
uint8_t f32_to_fp8_e4m3(float f) {
  const uint8_t sign = std::signbit(f) ? 0x80 : 0x00;
  const float a = std::fabs(f);
  if (std::isnan(f)) return uint8_t(sign | 0x7f);
  if (a >= 448.0f) return uint8_t(sign | 0x7e);
  if (a < 0.015625f) {  // below the smallest normal 2^-6: subnormal steps of 2^-9 (code 8 = 2^-6)
    return uint8_t(sign | uint8_t(std::nearbyint(a * 512.0f)));
  }
  int ex = 0;
  std::frexp(a, &ex);                   // a = fr · 2^ex, fr in [0.5, 1)
  int e = ex - 1;                       // a = 1.m · 2^e
  float q = std::nearbyint(std::ldexp(a, 3 - e));  // 8..16: 1.m with 3 mantissa bits, times 8
  if (q >= 16.0f) q = 8.0f, e += 1;
  const int code = ((e + 7) << 3) | (int(q) - 8);
  return uint8_t(sign | std::min(code, 0x7e));  // 0x7f is NaN: saturate to 448
}

// fp8 block scales of one weight: a power of two near `a / 448` times (8 + m) / 16, m in 0..7, per
// 128x128 block. Both factors have <= 4 significant bits, as do e4m3 values, so every dequantised
// weight is exactly representable in bf16 (a bf16 copy holds identical numbers).
float fp8_block_scale(uint64_t key, float a, int64_t block) {
  const float base = std::ldexp(1.0f, int(std::lround(std::log2(double(a) / 448.0))));
  const uint64_t m = hash_name(std::to_string(block), key) % 8;
  return base * float(8 + m) / 16.0f;
}

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

// An F8_E4M3 weight (codes spread over the whole e4m3 range, ±448 and subnormals included) and its F32
// `weight_scale_inv` [ceil(N/bn), ceil(K/bk)], together uniform in about [-a, a] like the bf16 weights.
void add_fp8_weight(std::vector<TensorToWrite>& tensors, const TensorSpec& s, const Filler& f, const ModelConfig& cfg) {
  MM_CHECK(s.shape.size() == 2, s.name);
  const Filler codes{f.key, 0.0f, 448.0f};
  tensors.push_back({s.name, DType::F8_E4M3, s.shape, [codes](uint8_t* d, size_t n) {
                       global_pool().parallel_for(
                           int64_t(n),
                           [&](int64_t b, int64_t e, int) {
                             for (int64_t i = b; i < e; ++i) d[i] = f32_to_fp8_e4m3(codes.at(uint64_t(i)));
                           },
                           1 << 16);
                     }});
  const int64_t rows = (s.shape[0] + cfg.fp8_block_n - 1) / cfg.fp8_block_n;
  const int64_t cols = (s.shape[1] + cfg.fp8_block_k - 1) / cfg.fp8_block_k;
  const uint64_t key = hash_name(s.name + "_scale_inv", f.key);
  const float a = f.a;
  tensors.push_back({s.name + "_scale_inv", DType::F32, {rows, cols}, [key, a](uint8_t* d, size_t n) {
                       for (size_t i = 0; i < n / 4; ++i) {
                         float v = fp8_block_scale(key, a, int64_t(i));
                         std::memcpy(d + i * 4, &v, 4);
                       }
                     }});
}

// A byte-level BPE tokenizer.json filling the vocabulary (MiniMax's special tokens at the top) and a
// generation_config.json naming `[e~[` as eos, so the text pipeline (chat, --prompt) runs on the model.
// Vocabularies too small for the 256 bytes + specials get none (a note says so).
void write_tokenizer(const fs::path& out, int64_t vocab_size) {
  const int64_t need = 256 + int64_t(minimax_special_tokens().size());
  if (vocab_size < need) {
    std::fprintf(stderr, "note: --vocab %lld < %lld: no tokenizer.json written (ids only)\n", (long long)vocab_size,
                 (long long)need);
    return;
  }
  const nlohmann::json tok = make_random_model_tokenizer(vocab_size);
  int64_t eos = -1;
  for (const auto& a : tok["added_tokens"])
    if (a["content"] == kMinimaxEosToken) eos = a["id"].get<int64_t>();
  std::ofstream tf(out / "tokenizer.json");
  tf << tok.dump() << "\n";
  if (!tf) throw Error("cannot write " + (out / "tokenizer.json").string());
  nlohmann::ordered_json gen;
  gen["eos_token_id"] = eos;
  gen["do_sample"] = false;
  std::ofstream gf(out / "generation_config.json");
  gf << gen.dump(2) << "\n";
  if (!gf) throw Error("cannot write " + (out / "generation_config.json").string());
}

int run_init(int argc, char** argv) {
  Args args(argc, argv);
  args.check_known({"like", "out", "seed", "hidden", "layers", "heads", "kv-heads", "head-dim", "rotary-dim",
                    "experts", "top-k", "inter", "vocab", "max-pos", "softmax-every", "block-size", "dtype",
                    "threads"});
  set_global_threads(int(args.i64("threads", 0)));
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
  std::vector<TensorToWrite> tensors;
  for (const auto& s : model_tensor_specs(cfg)) {
    Filler f{hash_name(s.name, seed), 0.0f, 0.0f};
    const int64_t fan_in = s.shape.size() > 1 ? s.shape[1] : 1;
    switch (s.role) {
      case TensorRole::Norm: f.center = 1.0f, f.a = 0.1f; break;
      case TensorRole::Embedding: f.a = 1.0f; break;
      default: f.a = float(std::sqrt(3.0 / double(fan_in)));  // unit-variance outputs
    }
    if (fp8 && (s.role == TensorRole::Dense || s.role == TensorRole::Expert)) {
      add_fp8_weight(tensors, s, f, cfg);
      continue;
    }
    DType tdt = s.role == TensorRole::Norm ? (dt == DType::F16 ? DType::F32 : dt) : dt;
    tensors.push_back({s.name, tdt, s.shape, [f, tdt](uint8_t* d, size_t n) { fill_tensor(f, tdt, d, n); }});
  }
  fs::create_directories(out);
  {
    std::ofstream cf(out / "config.json");
    cf << cfg_json.dump(2) << "\n";
    if (!cf) throw Error("cannot write " + (out / "config.json").string());
  }
  write_tokenizer(out, cfg_json["vocab_size"].get<int64_t>());
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
