// `minimax bench --ctx-sweep L1,L2,...`: how prefill time, decode speed and memory scale with the
// context length (issue #11).
//
//   minimax bench --model PATH --ctx-sweep 4096,16384,65536 [-n 32] [--chunk 512] [--threads N] [--json]
//
// For each L: a fresh sequence, L prompt tokens prefilled in chunks of --chunk tokens (one forward per
// chunk, only the last asks for logits), timed; then -n single-token decode steps at depth L, timed.
// The peak resident memory of each L is measured on its own: the kernel's high-water mark (VmHWM) is
// reset before the L by writing "5" to /proc/self/clear_refs; where that is not possible the
// process-lifetime peak (getrusage ru_maxrss) is reported instead, and "rss_peak_source" says which.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <string>
#include <vector>

#include <malloc.h>
#include <sys/resource.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "minimax/kernels.h"
#include "minimax/model.h"
#include "tools/commands.h"

namespace mm::cli {

namespace {

using Clock = BenchClock;

// A "Vm...:   123 kB" line of /proc/self/status, in bytes; -1 when it cannot be read.
int64_t proc_status_bytes(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  const std::string k = std::string(key) + ":";
  while (std::getline(f, line))
    if (line.compare(0, k.size(), k) == 0) return std::stoll(line.substr(k.size())) * 1024;
  return -1;
}

// Resets the kernel's peak-RSS mark to the current RSS; false when /proc/self/clear_refs is not writable.
bool reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  if (!f) return false;
  f << "5";
  f.flush();
  return bool(f);
}

int64_t rusage_peak_bytes() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return int64_t(ru.ru_maxrss) * 1024;
}

struct SweepPoint {
  int64_t ctx = 0;
  double prefill_seconds = 0, prefill_cpu_util = 0;
  double decode_seconds = 0, decode_cpu_util = 0;
  int64_t rss_before = 0, peak_rss = 0;
  size_t kv_bytes = 0, state_bytes = 0;
};

// Each L + n + 1 (the sequence's length) within the model's max_position_embeddings.
void check_sweep(const std::vector<int64_t>& sweep, int64_t n_decode, int64_t max_pos) {
  for (int64_t l : sweep) {
    if (l + n_decode + 1 > max_pos)
      throw Error("--ctx-sweep: " + std::to_string(l) + " + " + std::to_string(n_decode) +
                  " decode tokens + 1 exceeds the model's max_position_embeddings (" + std::to_string(max_pos) +
                  "): use context lengths up to " + std::to_string(max_pos - n_decode - 1));
  }
}

SweepPoint run_point(ExecContext& ec, Model& model, KvType kv_type, int64_t ctx, int64_t n_decode, int64_t chunk,
                     bool vmhwm, std::vector<float>& logits) {
  SweepPoint p;
  p.ctx = ctx;
  p.rss_before = proc_status_bytes("VmRSS");
  const int n_threads = ec.n_threads();
  {
    auto seq = model.new_sequence(ctx + n_decode + 1, model.new_kv_pool(kv_type));
    const auto ids = bench_ids(ctx + n_decode, model.config().vocab_size);
    double c0 = process_cpu_seconds();
    auto t0 = Clock::now();
    for (int64_t pos = 0; pos < ctx; pos += chunk) {
      const int64_t n = std::min(chunk, ctx - pos);
      const bool last = pos + n == ctx;
      BatchItem it{seq.get(), ids.data() + pos, n, last ? logits.data() : nullptr, false};
      model.forward({&it, 1}, ec);
    }
    p.prefill_seconds = seconds_since(t0);
    p.prefill_cpu_util = (process_cpu_seconds() - c0) / (p.prefill_seconds * n_threads);
    c0 = process_cpu_seconds();
    t0 = Clock::now();
    for (int64_t i = 0; i < n_decode; ++i) {
      BatchItem it{seq.get(), ids.data() + ctx + i, 1, logits.data(), false};
      model.forward({&it, 1}, ec);
    }
    p.decode_seconds = seconds_since(t0);
    p.decode_cpu_util = (process_cpu_seconds() - c0) / (p.decode_seconds * n_threads);
    p.kv_bytes = seq->kv_bytes();
    p.state_bytes = seq->state_bytes();
    p.peak_rss = vmhwm ? proc_status_bytes("VmHWM") : rusage_peak_bytes();
  }
#if defined(__GLIBC__)
  malloc_trim(0);  // hand this L's freed sequence memory back, so the next L starts from the weights alone
#endif
  return p;
}

}  // namespace

int run_bench_ctx_sweep(int argc, char** argv) {
  Args args(argc, argv, {"json", "no-mmap", "exact"});
  args.check_known({"model", "ctx-sweep", "n", "chunk", "threads", "json", "no-mmap", "exact", "kv-type"});
  const KvType kv_type = kv_type_from(args);
  const std::vector<int64_t> sweep = args.i64_list("ctx-sweep");
  const int64_t n_decode = args.i64("n", 32), chunk = args.i64("chunk", 512);
  if (n_decode < 1) throw Error("-n (decode steps per context length) must be >= 1");
  if (chunk < 1) throw Error("--chunk (prefill tokens per forward) must be >= 1");
  for (int64_t l : sweep)
    if (l < 1) throw Error("--ctx-sweep: every context length must be >= 1 (got " + std::to_string(l) + ")");
  const std::string path = args.required("model");
  if (args.has("no-mmap")) set_load_mode(LoadMode::Load);
  ExecContext ec(threads_from(args), math_mode_from(args));
  auto model = load_model(path);
  const auto& cfg = model->config();
  check_sweep(sweep, n_decode, cfg.max_position_embeddings);
  std::vector<float> logits(size_t(cfg.vocab_size));

  // Warm-up: pages the weights in and lets the pool spin up.
  {
    auto seq = model->new_sequence(8);
    const auto ids = bench_ids(4, cfg.vocab_size);
    BatchItem it{seq.get(), ids.data(), 4, logits.data(), false};
    model->forward({&it, 1}, ec);
  }
  const bool vmhwm = reset_peak_rss() && proc_status_bytes("VmHWM") > 0;
  std::vector<SweepPoint> points;
  const bool json = args.has("json");
  if (!json)
    std::printf("%10s %12s %12s %14s %14s %14s %12s %12s\n", "ctx", "prefill s", "prefill t/s", "prefill s/tok",
                "decode t/s", "decode ms/tok", "peak RSS MiB", "KV MiB");
  for (int64_t l : sweep) {
    if (vmhwm) reset_peak_rss();
    SweepPoint p = run_point(ec, *model, kv_type, l, n_decode, chunk, vmhwm, logits);
    points.push_back(p);
    if (!json) {
      std::printf("%10lld %12.3f %12.1f %14.3e %14.2f %14.3f %12.1f %12.1f\n", (long long)l, p.prefill_seconds,
                  double(l) / p.prefill_seconds, p.prefill_seconds / double(l), double(n_decode) / p.decode_seconds,
                  1e3 * p.decode_seconds / double(n_decode), double(p.peak_rss) / 1048576.0,
                  double(p.kv_bytes) / 1048576.0);
      std::fflush(stdout);
    }
  }
  if (!json) {
    std::printf("threads %d, chunk %lld, %lld decode steps per length, peak RSS from %s\n", ec.n_threads(),
                (long long)chunk, (long long)n_decode, vmhwm ? "VmHWM (reset per length)" : "ru_maxrss (process peak)");
    return 0;
  }
  nlohmann::ordered_json j;
  j["model"] = path;
  j["architecture"] = cfg.arch_name();
  j["lightning_layers"] = cfg.n_lightning_layers();
  j["softmax_layers"] = cfg.n_softmax_layers();
  j["threads"] = ec.n_threads();
  j["chunk"] = chunk;
  j["kv_type"] = kv_type_name(kv_type);
  j["n"] = n_decode;
  j["isa"] = simd::target_name();
  j["quant_math"] = ec.math().exact() ? "exact" : "int8";
  j["active_weight_bytes"] = model->active_weight_bytes();
  j["total_weight_bytes"] = model->total_weight_bytes();
  j["rss_peak_source"] = vmhwm ? "vmhwm" : "ru_maxrss";
  nlohmann::ordered_json arr = nlohmann::ordered_json::array();
  for (const SweepPoint& p : points) {
    arr.push_back({{"ctx", p.ctx},
                   {"prefill_seconds", p.prefill_seconds},
                   {"prefill_tok_s", double(p.ctx) / p.prefill_seconds},
                   {"prefill_s_per_token", p.prefill_seconds / double(p.ctx)},
                   {"prefill_cpu_util", p.prefill_cpu_util},
                   {"decode_seconds", p.decode_seconds},
                   {"decode_tok_s", double(n_decode) / p.decode_seconds},
                   {"decode_ms_per_token", 1e3 * p.decode_seconds / double(n_decode)},
                   {"decode_cpu_util", p.decode_cpu_util},
                   {"rss_before_bytes", p.rss_before},
                   {"peak_rss_bytes", p.peak_rss},
                   {"kv_bytes", p.kv_bytes},
                   {"state_bytes", p.state_bytes}});
  }
  j["sweep"] = arr;
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

}  // namespace mm::cli
