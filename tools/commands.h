// Subcommand registry and a small option parser shared by the tools/cmd_*.cpp files.
// A subcommand registers itself with a file-scope `static const mm::cli::Register reg{...};`.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "minimax/generation.h"
#include "minimax/model.h"
#include "minimax/runtime.h"

namespace mm::cli {

struct Command {
  const char* name;
  const char* help;
  int (*run)(int argc, char** argv);
};

std::vector<Command>& commands();

struct Register {
  Register(const char* name, const char* help, int (*run)(int, char**)) {
    commands().push_back({name, help, run});
  }
};

// Parses "--key value", "--key=value" and bare "--flag" options. Unknown options are errors, raised
// by check_known() (so a typo never passes silently).
class Args {
 public:
  // `flags` names the options that take no value.
  Args(int argc, char** argv, std::vector<std::string> flags = {});

  bool has(const std::string& key) const { return values_.count(key) > 0; }
  std::string str(const std::string& key, const std::string& def = "") const;
  std::string required(const std::string& key) const;
  int64_t i64(const std::string& key, int64_t def) const;
  double f64(const std::string& key, double def) const;
  // Comma-separated integers ("3,14,15").
  std::vector<int64_t> i64_list(const std::string& key) const;
  // Throws mm::Error naming the first option not in `known`.
  void check_known(const std::vector<std::string>& known) const;

 private:
  std::map<std::string, std::string> values_;
};

// --temp (default 0: greedy), --seed, --top-k, --top-p, --min-p, --repeat-penalty, validated.
SamplingParams sampling_from(const Args& args);

// The math mode of a command that runs a model: `--exact` makes GGUF block-format weights take the
// exact f32 path (QuantMath::Exact) instead of the default int8 activations (decode and prefill);
// MM_BF16_PREFILL=1 in the environment opts into AVX512_BF16 prefill for 16-bit float weights.
MathMode math_mode_from(const Args& args);
// `--threads N` (default 0: physical cores).
int threads_from(const Args& args);
// `--kv-type f32|f16|bf16|q8_0` for softmax-layer KV (default kDefaultKvType); --exact keeps f32 (and
// refuses another --kv-type).
KvType kv_type_from(const Args& args);

// Benchmark clocks: wall seconds since t0, and CPU seconds used by all threads of the process (on a
// shared machine cpu / (wall · threads) says how much of the machine a run really had).
using BenchClock = std::chrono::steady_clock;
double seconds_since(BenchClock::time_point t0);
double process_cpu_seconds();

// The prompt ids of the benchmarks: n pseudo-random ids below vocab, the same on every run.
std::vector<int32_t> bench_ids(int64_t n, int64_t vocab);
// Shape flags -> config.json (tools/model_shape.cpp), shared by `init` and `train`: --like NAME
// (ArchSpec::init.like), --hidden, --layers, --heads, --kv-heads, --head-dim, --rotary-dim, --experts,
// --top-k, --inter, --vocab, --max-pos, --tie-embeddings and the architecture's own flags.
std::string join(const std::vector<std::string>& v, const std::string& last, const std::string& sep = ", ");
std::vector<std::string> like_names(bool fp8_only = false);
const ArchSpec& arch_from_like(const Args& a);
nlohmann::ordered_json init_config_from(const Args& a, const ArchSpec& arch, bool fp8);
inline const std::vector<std::string> kShapeFlags = {"like", "hidden", "layers", "heads", "kv-heads", "head-dim",
                                                     "rotary-dim", "experts", "top-k", "inter", "vocab", "max-pos",
                                                     "softmax-every", "block-size", "tie-embeddings"};

// `minimax bench --ctx-sweep L1,L2,...` (tools/cmd_bench_ctx.cpp): prefill / decode / memory per context length.
int run_bench_ctx_sweep(int argc, char** argv);

}  // namespace mm::cli
