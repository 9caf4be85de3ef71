// `minimax bench`: prefill / decode throughput against the machine's memory-bandwidth roofline.
//
//   minimax bench --membw [--threads N]            measured streaming-read bandwidth only
//   minimax bench --model PATH [-p 512] [-n 128] [--depth D] [--threads N] [--reps R] [--json] [--exact]
//   minimax bench --model PATH --ctx-sweep L1,L2,... [-n 32] [--chunk 512]   (tools/cmd_bench_ctx.cpp)
//
// Decode is memory-bandwidth bound: every token reads the active weights once plus the sequence
// memory (lightning states, KV rows). achieved GB/s = those bytes / seconds per token, and the ratio
// to the measured read bandwidth says how close decode is to the roofline.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <span>

#include <sys/mman.h>
#include <string>
#include <string_view>
#include <vector>

#include "minimax/runtime.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "minimax/kernels.h"
#include "minimax/model.h"
#include "tools/commands.h"

namespace mm::cli {

namespace {

using Clock = BenchClock;

struct Stats {
  double median = 0, min = 0, max = 0, stddev = 0;
};

Stats stats_of(std::vector<double> v) {
  Stats s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  s.median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  s.min = v.front();
  s.max = v.back();
  double mean = 0;
  for (double x : v) mean += x;
  mean /= double(n);
  for (double x : v) s.stddev += (x - mean) * (x - mean);
  s.stddev = std::sqrt(s.stddev / double(n));
  return s;
}

nlohmann::ordered_json stats_json(const Stats& s) {
  return {{"median", s.median}, {"min", s.min}, {"max", s.max}, {"stddev", s.stddev}};
}

// Streaming read of a buffer far larger than the last-level cache, split across the pool's threads;
// the best of a few passes (the first pass also faults the pages in, so it is excluded).
// huge_pages=false asks for 4 KiB pages (madvise NOHUGEPAGE), the page size of mmap'ed checkpoint
// files in the page cache, which costs streaming reads some bandwidth in TLB walks.
double measure_membw_gbps(ThreadPool& pool, bool huge_pages = true) {
  const size_t n = size_t(1) << 27;  // 128 Mi floats = 512 MiB, >> any LLC
  void* mem = mmap(nullptr, n * sizeof(float), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) throw Error("bench: cannot allocate the bandwidth probe buffer");
  madvise(mem, n * sizeof(float), huge_pages ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  std::span<float> buf(static_cast<float*>(mem), n);
  pool.parallel_for(int64_t(n), [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) buf[size_t(i)] = float(i & 7);
  });
  std::vector<double> sink(size_t(pool.n_threads()) * 8);
  double best = 0;
  for (int pass = 0; pass < 6; ++pass) {
    auto t0 = Clock::now();
    pool.parallel_for(pool.n_threads(), [&](int64_t b, int64_t e, int) {
      for (int64_t c = b; c < e; ++c) {
        const size_t lo = n * size_t(c) / size_t(pool.n_threads()), hi = n * size_t(c + 1) / size_t(pool.n_threads());
        const float s = simd::sum(buf.data() + lo, int64_t(hi - lo));
        sink[size_t(c) * 8] += s;
      }
    });
    const double dt = seconds_since(t0);
    if (pass > 0) best = std::max(best, double(n * sizeof(float)) / dt / 1e9);
  }
  volatile double keep = sink[0];
  (void)keep;
  munmap(mem, n * sizeof(float));
  return best;
}

// FNV-1a over the logits rounded to 1e-3, so the hash survives harmless last-bit differences but
// flags real numerical changes between builds.
uint64_t logits_hash(const std::vector<float>& v) {
  uint64_t h = 1469598103934665603ull;
  for (float x : v) {
    const int64_t r = int64_t(std::llround(double(x) * 1000.0));
    for (int b = 0; b < 8; ++b) h = (h ^ uint64_t((r >> (8 * b)) & 0xff)) * 1099511628211ull;
  }
  return h;
}

struct DecodeResult {
  double tok_s = 0, gbps = 0, cpu_util = 0;
};

// Decodes n tokens one at a time after `ctx` prompt tokens (prompt not timed).
DecodeResult run_decode(ExecContext& ec, Model& model, KvType kv, int64_t ctx, int64_t n, std::vector<float>& logits) {
  const auto& cfg = model.config();
  auto seq = model.new_sequence(ctx + n + 1, model.new_kv_pool(kv));
  auto ids = bench_ids(ctx + n + 1, cfg.vocab_size);
  if (ctx > 0) prefill(ec, model, *seq, {ids.data(), size_t(ctx)}, kDefaultPrefillChunk, logits.data());
  double bytes = 0;
  const double c0 = process_cpu_seconds();
  auto t0 = Clock::now();
  for (int64_t i = 0; i < n; ++i) {
    bytes += model.active_weight_bytes() + seq->bytes_per_token();
    BatchItem it{seq.get(), ids.data() + ctx + i, 1, logits.data(), false};
    model.forward({&it, 1}, ec);
  }
  const double dt = seconds_since(t0);
  const double util = (process_cpu_seconds() - c0) / (dt * ec.n_threads());
  return {double(n) / dt, bytes / dt / 1e9, util};
}

int run_bench(int argc, char** argv) {
  for (int i = 0; i < argc; ++i)
    if (std::string_view(argv[i]).substr(0, 11) == "--ctx-sweep") return run_bench_ctx_sweep(argc, argv);
  Args args(argc, argv, {"json", "membw", "no-mmap", "exact"});
  args.check_known({"model", "p", "n", "depth", "threads", "reps", "json", "membw", "no-mmap", "exact", "kv-type", "chunk"});
  const KvType kv = kv_type_from(args);
  const int64_t chunk = args.i64("chunk", kDefaultPrefillChunk);
  if (chunk < 1) throw Error("--chunk (prefill tokens per forward) must be >= 1");
  if (args.has("no-mmap")) set_load_mode(LoadMode::Load);
  ExecContext ec(threads_from(args), math_mode_from(args));
  const int n_threads = ec.n_threads();
  const bool json = args.has("json");
  if (args.has("membw") && !args.has("model")) {
    const double bw = measure_membw_gbps(ec.pool()), bw4k = measure_membw_gbps(ec.pool(), false);
    if (json)
      std::printf("%s\n", nlohmann::ordered_json{{"threads", n_threads}, {"membw_gbps", bw}, {"membw_4k_gbps", bw4k}}.dump().c_str());
    else std::printf("threads %d  read bandwidth %.2f GB/s (4 KiB pages: %.2f GB/s)\n", n_threads, bw, bw4k);
    return 0;
  }
  const int64_t n_prefill = args.i64("p", 512), n_decode = args.i64("n", 128), depth = args.i64("depth", 0);
  const int64_t reps = args.i64("reps", 3);
  if (n_prefill < 1 || n_decode < 1 || depth < 0 || reps < 1) throw Error("-p and -n must be >= 1, --depth >= 0, --reps >= 1");
  const std::string path = args.required("model");
  auto model = load_model(path);
  const auto& cfg = model->config();
  std::vector<float> logits(size_t(cfg.vocab_size));

  // Warm-up: pages the weights in and lets the pool spin up.
  run_decode(ec, *model, kv, 0, 2, logits);

  std::vector<double> pp, tg, tg_gbps, tgd, tgd_gbps, pp_util, tg_util;
  uint64_t hash = 0;
  for (int64_t r = 0; r < reps; ++r) {
    auto seq = model->new_sequence(n_prefill + 1, model->new_kv_pool(kv));
    auto ids = bench_ids(n_prefill, cfg.vocab_size);
    const double c0 = process_cpu_seconds();
    auto t0 = Clock::now();
    prefill(ec, *model, *seq, ids, chunk, logits.data());  // chunks of --chunk tokens (bounded memory)
    const double dt = seconds_since(t0);
    pp.push_back(double(n_prefill) / dt);
    pp_util.push_back((process_cpu_seconds() - c0) / (dt * n_threads));
    hash = logits_hash(logits);
    DecodeResult d = run_decode(ec, *model, kv, 0, n_decode, logits);
    tg.push_back(d.tok_s);
    tg_gbps.push_back(d.gbps);
    tg_util.push_back(d.cpu_util);
    if (depth > 0) {
      DecodeResult dd = run_decode(ec, *model, kv, depth, n_decode, logits);
      tgd.push_back(dd.tok_s);
      tgd_gbps.push_back(dd.gbps);
    }
  }
  const double bw = measure_membw_gbps(ec.pool()), bw4k = measure_membw_gbps(ec.pool(), false);
  const Stats spp = stats_of(pp), stg = stats_of(tg), sgb = stats_of(tg_gbps);
  nlohmann::ordered_json j;
  j["model"] = path;
  j["threads"] = n_threads;
  j["isa"] = simd::target_name();
  j["quant_math"] = ec.math().exact() ? "exact" : "int8";
  j["kv_type"] = kv_type_name(kv);
  j["chunk"] = chunk;
  j["p"] = n_prefill;
  j["n"] = n_decode;
  j["reps"] = reps;
  j["active_weight_bytes"] = model->active_weight_bytes();
  j["total_weight_bytes"] = model->total_weight_bytes();
  j["prefill_tok_s"] = spp.median;
  j["decode_tok_s"] = stg.median;
  j["achieved_gbps"] = sgb.median;
  j["membw_gbps"] = bw;
  j["bw_ratio"] = sgb.median / bw;
  j["membw_4k_gbps"] = bw4k;
  j["bw_ratio_4k"] = sgb.median / bw4k;
  j["prefill_cpu_util"] = stats_of(pp_util).median;
  j["decode_cpu_util"] = stats_of(tg_util).median;
  j["prefill"] = stats_json(spp);
  j["decode"] = stats_json(stg);
  j["decode_gbps"] = stats_json(sgb);
  if (depth > 0) {
    j["depth"] = depth;
    j["decode_depth_tok_s"] = stats_of(tgd).median;
    j["decode_depth_gbps"] = stats_of(tgd_gbps).median;
    j["decode_depth"] = stats_json(stats_of(tgd));
  }
  char hb[32];
  std::snprintf(hb, sizeof hb, "%016llx", (unsigned long long)hash);
  j["logits_hash"] = hb;
  if (json) {
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("model %s  threads %d  reps %lld  isa %s  block-format math %s\n", path.c_str(), n_threads,
              (long long)reps, simd::target_name(), ec.math().exact() ? "exact" : "int8");
  std::printf("active weights %.1f MB/token, total %.1f MB\n", model->active_weight_bytes() / 1e6,
              model->total_weight_bytes() / 1e6);
  std::printf("%-22s %12s %12s %12s\n", "test", "median", "min", "max");
  std::printf("%-22s %12.2f %12.2f %12.2f  tok/s\n", ("prefill p" + std::to_string(n_prefill)).c_str(), spp.median,
              spp.min, spp.max);
  std::printf("%-22s %12.2f %12.2f %12.2f  tok/s\n", ("decode n" + std::to_string(n_decode)).c_str(), stg.median,
              stg.min, stg.max);
  std::printf("%-22s %12.2f %12.2f %12.2f  GB/s\n", "decode bandwidth", sgb.median, sgb.min, sgb.max);
  if (depth > 0) {
    const Stats s = stats_of(tgd), g = stats_of(tgd_gbps);
    std::printf("%-22s %12.2f %12.2f %12.2f  tok/s\n", ("decode @" + std::to_string(depth)).c_str(), s.median, s.min, s.max);
    std::printf("%-22s %12.2f %12.2f %12.2f  GB/s\n", "decode @depth bw", g.median, g.min, g.max);
  }
  std::printf("measured read bandwidth %.2f GB/s (4 KiB pages %.2f); decode reaches %.1f%% (%.1f%%)\n", bw, bw4k,
              100.0 * sgb.median / bw, 100.0 * sgb.median / bw4k);
  std::printf("cpu utilisation (cpu time / wall / threads): prefill %.0f%%, decode %.0f%%\n",
              100 * stats_of(pp_util).median, 100 * stats_of(tg_util).median);
  std::printf("logits hash %s\n", hb);
  return 0;
}

}  // namespace

std::vector<int32_t> bench_ids(int64_t n, int64_t vocab) {
  std::vector<int32_t> ids(size_t(std::max<int64_t>(n, 1)));
  uint64_t z = 12345;
  for (auto& id : ids) {
    z = z * 6364136223846793005ull + 1442695040888963407ull;
    id = int32_t((z >> 33) % uint64_t(vocab));
  }
  return ids;
}

namespace {

const Register reg_bench{"bench",
                         "throughput vs roofline: --model PATH [-p 512] [-n 128] [--depth D] [--threads N] [--kv-type T] [--chunk C] "
                         "[--reps R] [--json] [--exact] | --membw | --model PATH --ctx-sweep L1,L2,... [-n 32] "
                         "[--chunk 512] [--threads N] [--json]",
                         run_bench};

}  // namespace

double seconds_since(BenchClock::time_point t0) {
  return std::chrono::duration<double>(BenchClock::now() - t0).count();
}

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

}  // namespace mm::cli
