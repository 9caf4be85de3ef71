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

// "a", "a or b", "a, b or c" (`sep` between all of them instead when given).
std::string join(const std::vector<std::string>& v, const std::string& last, const std::string& sep = ", ") {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i == 0 ? "" : i + 1 == v.size() ? last : sep) + v[i];
  return out;
}

// The --like values (ArchSpec::init.like) of the architectures that have one; fp8_only: those whose
// release is fp8.
std::vector<std::string> like_names(bool fp8_only = false) {
  std::vector<std::string> out;
  for (const auto& s : arch_specs())
    if (s.init.config && (!fp8_only || s.init.fp8)) out.push_back(s.init.like);
  return out;
}

// The keys every architecture shares (the shape flags, defaults from the record where they differ),
// the architecture's own (ArchSpec::init.config), then torch_dtype.
nlohmann::ordered_json make_config(const Args& a, const ArchSpec& arch, bool fp8) {
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
  c["tie_word_embeddings"] = false;
  c["shared_intermediate_size"] = 0;
  d.config({.i64 = [&](const std::string& flag, int64_t dflt) { return a.i64(flag, dflt); }, .fp8 = fp8}, c);
  c["torch_dtype"] = a.str("dtype", "bf16") == "f32" ? "float32" : "bfloat16";  // fp8: bf16 + quantization_config
  return c;
}

int run_init(int argc, char** argv) {
  Args args(argc, argv);
  args.check_known({"like", "out", "seed", "hidden", "layers", "heads", "kv-heads", "head-dim", "rotary-dim",
                    "experts", "top-k", "inter", "vocab", "max-pos", "softmax-every", "block-size", "dtype",
                    "threads"});
  ThreadPool pool(threads_from(args) < 1 ? default_thread_count() : threads_from(args));
  const std::string like = args.str("like", like_names().front());
  const ArchSpec* arch = nullptr;
  for (const auto& s : arch_specs())
    if (s.init.config && like == s.init.like) arch = &s;
  if (!arch) throw Error("--like must be " + join(like_names(), " or "));
  const std::string dts = args.str("dtype", "bf16");
  DType dt;
  const bool fp8 = dts == "fp8";  // a release's fp8 layout: fp8 projections + f32 128x128 block scales
  if (dts == "bf16" || fp8) dt = DType::BF16;
  else if (dts == "f32") dt = DType::F32;
  else if (dts == "f16") dt = DType::F16;
  else throw Error("--dtype must be bf16, f16, f32 or fp8 (fp8: --like " + join(like_names(true), " or ") + " only)");
  if (fp8 && !arch->init.fp8)
    throw Error("--dtype fp8 is only available with --like " + join(like_names(true), " or ") + " (" + arch->name +
                " has no fp8 release format)");
  const fs::path out = args.required("out");
  const uint64_t seed = uint64_t(args.i64("seed", 0));

  auto cfg_json = make_config(args, *arch, fp8);
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

const std::string kHelp = "write a random-weight model: --like " + join(like_names(), "|", "|") +
                          " --out DIR [--seed S] [--dtype bf16|f16|f32|fp8] [shape flags]";
const Register reg{"init", kHelp.c_str(), run_init};

}  // namespace

}  // namespace mm::cli
