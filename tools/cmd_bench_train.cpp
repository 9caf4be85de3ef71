// `minimax bench-train`: training throughput (tokens/s) and model FLOPs utilisation against the
// machine's measured f32 FMA peak (all threads of the run running the FMA probe), on random tokens.
// Model FLOPs per token = 3 x the forward's (the backward costs about twice the forward), counted
// from the shapes (TrainModel::forward_flops_per_token), not from the kernels' actual work.
#include <cstdio>
#include <random>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "minimax/kernels.h"
#include "minimax/model.h"
#include "minimax/runtime.h"
#include "minimax/train.h"
#include "tools/commands.h"

namespace mm::cli {
namespace {

// GFLOP/s of the FMA probe on every thread of ctx at once.
double measure_peak_gflops(ExecContext& ctx) {
  const int n = ctx.n_threads();
  std::vector<double> flops(static_cast<size_t>(n));
  std::vector<float> sink(static_cast<size_t>(n));
  const int64_t iters = 20'000'000;
  for (int rep = 0; rep < 2; ++rep) {  // the first round warms the clocks up
    const auto t0 = BenchClock::now();
    ctx.parallel_for(n, [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i) sink[size_t(i)] = simd::fma_peak_probe(iters, float(i), &flops[size_t(i)]);
    });
    const double dt = seconds_since(t0);
    if (rep == 1) {
      double total = 0;
      for (double f : flops) total += f;
      return total / dt / 1e9 + 0.0 * double(sink[0]);
    }
  }
  return 0;
}

int run_bench_train(int argc, char** argv) {
  Args args(argc, argv, {"json", "tie-embeddings"});
  std::vector<std::string> known = {"threads", "json", "batch", "seq-len", "steps", "config"};
  for (const auto& f : kShapeFlags) known.push_back(f);
  args.check_known(known);
  nlohmann::json model_json;
  if (args.has("config")) {
    model_json = nlohmann::json::parse(read_text_file(args.str("config")));
    if (model_json.contains("model")) model_json = model_json["model"];
  } else {
    model_json = nlohmann::json::parse(init_config_from(args, arch_from_like(args), false).dump());
  }
  const ModelConfig cfg = parse_model_config(model_json);
  const int64_t B = args.i64("batch", 8), T = args.i64("seq-len", 256), steps = args.i64("steps", 5);
  if (B < 1 || T < 2 || steps < 1) throw Error("--batch >= 1, --seq-len >= 2 and --steps >= 1");
  ExecContext ctx(threads_from(args));
  ParamSet ps(cfg);
  init_params(ps, cfg, 0.02, 1);
  TrainModel model(cfg, ps, 0.001f);
  std::mt19937_64 rng(1);
  std::vector<int32_t> tok(static_cast<size_t>(B * T)), tgt(tok.size());
  for (auto& t : tok) t = int32_t(rng() % uint64_t(cfg.vocab_size));
  for (size_t i = 0; i < tok.size(); ++i) tgt[i] = tok[(i + 1) % tok.size()];
  const AdamW opt;
  auto step = [&](int64_t t) {
    ps.zero_grad();
    model.forward_backward(ctx, {B, T, tok.data(), tgt.data()});
    clip_grad_norm(ps.all(), 1.0);
    adamw_step(ctx, ps.all(), opt, 1e-4, t);
  };
  step(1);  // warm-up: first-touch of every buffer
  const auto t0 = BenchClock::now();
  const double cpu0 = process_cpu_seconds();
  for (int64_t s = 0; s < steps; ++s) step(s + 2);
  const double dt = seconds_since(t0), cpu = process_cpu_seconds() - cpu0;
  const double tps = double(B * T * steps) / dt;
  const double flops_tok = 3.0 * model.forward_flops_per_token(T);
  const double peak = measure_peak_gflops(ctx);
  const double achieved = tps * flops_tok / 1e9;
  nlohmann::ordered_json j{{"arch", cfg.arch_name()},
                           {"params", ps.numel()},
                           {"threads", ctx.n_threads()},
                           {"batch", B},
                           {"seq_len", T},
                           {"steps", steps},
                           {"step_s", dt / double(steps)},
                           {"tokens_per_s", tps},
                           {"model_flops_per_token", flops_tok},
                           {"achieved_gflops", achieved},
                           {"peak_fma_gflops", peak},
                           {"mfu", achieved / peak},
                           {"cpu_utilisation", cpu / (dt * double(ctx.n_threads()))},
                           {"simd_target", simd::target_name()}};
  if (args.has("json")) std::printf("%s\n", j.dump().c_str());
  else
    std::printf("%s, %.2fM params: %.0f tokens/s (%.3f s/step), %.1f GFLOP/s of %.1f peak: MFU %.1f%%\n", cfg.arch_name(),
                double(ps.numel()) / 1e6, tps, dt / double(steps), achieved, peak, 100.0 * achieved / peak);
  return 0;
}

const Register reg{"bench-train",
                   "training throughput and MFU: [--like text-01|m2 + shape flags | --config train.json] [--batch 8] "
                   "[--seq-len 256] [--steps 5] [--threads N] [--json]",
                   run_bench_train};

}  // namespace
}  // namespace mm::cli
