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

int run_init(int argc, char** argv) {
  Args args(argc, argv, {"tie-embeddings"});
  args.check_known({"like", "out", "seed", "hidden", "layers", "heads", "kv-heads", "head-dim", "rotary-dim",
                    "experts", "top-k", "inter", "vocab", "max-pos", "softmax-every", "block-size", "tie-embeddings", "dtype",
                    "threads"});
  ThreadPool pool(threads_from(args) < 1 ? default_thread_count() : threads_from(args));
  const ArchSpec* arch = &arch_from_like(args);
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

  auto cfg_json = init_config_from(args, *arch, fp8);
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
