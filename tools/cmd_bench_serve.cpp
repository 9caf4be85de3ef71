// `minimax bench-serve`: throughput of the serving engine (continuous batching) with 1, 4, 16, ...
// concurrent streams. Runs the Engine in-process (no HTTP), each stream with a fixed prompt and a fixed
// number of output tokens (end tokens ignored).
//
// Reported per concurrency level:
//   decode_tokens_per_second: tokens produced while every stream was decoding (after the last stream's
//                             first token, until the first stream ended), per second, all streams summed
//   tokens_per_second:        all output tokens / wall time (prefill included)
//   ttft_ms_mean:             mean time from submit to first token
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "minimax/engine.h"
#include "minimax/model.h"
#include "minimax/runtime.h"
#include "tools/commands.h"

namespace mm::cli {

namespace {

using clock_type = std::chrono::steady_clock;

struct StreamTimes {
  clock_type::time_point first, end;
  std::vector<clock_type::time_point> token_times;
};

nlohmann::json bench_level(Engine& eng, const std::vector<int32_t>& prompt, int n_streams, int64_t n_tokens) {
  std::vector<StreamTimes> times{size_t(n_streams)};
  std::vector<std::thread> readers;
  const auto t0 = clock_type::now();
  for (int i = 0; i < n_streams; ++i) {
    GenRequest r;
    r.prompt = prompt;
    r.prompt.back() = int32_t((r.prompt.back() + i) % eng.vocab_size());  // distinct prompts
    r.sampling.temperature = 0;
    r.max_tokens = n_tokens;
    auto h = eng.submit(std::move(r));
    StreamTimes& st = times[size_t(i)];
    readers.emplace_back([h, &st] {
      for (;;) {
        auto ev = h->next(std::chrono::milliseconds(60000));
        if (!ev) throw Error("bench-serve: a stream stalled");
        const auto now = clock_type::now();
        for (size_t k = 0; k < ev->tokens.size(); ++k) st.token_times.push_back(now);
        if (ev->done) {
          st.end = now;
          break;
        }
      }
      st.first = st.token_times.empty() ? st.end : st.token_times.front();
    });
  }
  for (auto& t : readers) t.join();
  const auto t_end = clock_type::now();
  clock_type::time_point all_started = t0, first_end = t_end;
  double ttft = 0;
  int64_t total = 0;
  for (const auto& st : times) {
    all_started = std::max(all_started, st.first);
    first_end = std::min(first_end, st.end);
    ttft += std::chrono::duration<double, std::milli>(st.first - t0).count();
    total += int64_t(st.token_times.size());
  }
  int64_t in_window = 0;
  for (const auto& st : times)
    for (auto tp : st.token_times) in_window += tp > all_started && tp <= first_end;
  const double window = std::chrono::duration<double>(first_end - all_started).count();
  const double wall = std::chrono::duration<double>(t_end - t0).count();
  return {{"streams", n_streams},
          {"tokens_per_stream", n_tokens},
          {"decode_tokens_per_second", window > 0 ? double(in_window) / window : 0.0},
          {"tokens_per_second", double(total) / wall},
          {"ttft_ms_mean", ttft / n_streams},
          {"wall_seconds", wall}};
}

int run_bench_serve(int argc, char** argv) {
  Args args(argc, argv, {"json", "exact"});
  args.check_known({"model", "concurrency", "tokens", "prompt-tokens", "threads", "ctx-size", "json", "exact"});
  std::vector<int64_t> levels = args.has("concurrency") ? args.i64_list("concurrency") : std::vector<int64_t>{1, 4, 16};
  const int64_t n_tokens = args.i64("tokens", 64);
  const int64_t n_prompt = args.i64("prompt-tokens", 32);
  if (n_tokens < 2 || n_prompt < 1) throw Error("--tokens must be >= 2 and --prompt-tokens >= 1");
  for (auto l : levels)
    if (l < 1 || l > 1024) throw Error("--concurrency levels must be in 1..1024");
  auto model = load_model(args.required("model"));
  const auto cfg = model->config();
  EngineConfig ec;
  ec.n_parallel = int(*std::max_element(levels.begin(), levels.end()));
  ec.n_ctx = args.i64("ctx-size", n_prompt + n_tokens + 1);
  ec.max_queue = 0;
  ec.n_threads = threads_from(args);
  ec.math = math_mode_from(args);
  std::vector<int32_t> prompt;
  for (int64_t i = 0; i < n_prompt; ++i) prompt.push_back(int32_t((i * 7919 + 11) % cfg.vocab_size));
  Engine eng(std::move(model), nullptr, ec);  // token ids only: no tokenizer needed
  bench_level(eng, prompt, 1, 4);  // warm up
  nlohmann::json out = {{"model", args.required("model")}, {"arch", cfg.arch_name()},
                        {"threads", eng.n_threads()}, {"results", nlohmann::json::array()}};
  for (auto l : levels) {
    auto r = bench_level(eng, prompt, int(l), n_tokens);
    out["results"].push_back(r);
    if (!args.has("json"))
      std::printf("streams %3lld  decode %9.1f tok/s  overall %9.1f tok/s  ttft %8.1f ms\n", (long long)l,
                  r["decode_tokens_per_second"].get<double>(), r["tokens_per_second"].get<double>(),
                  r["ttft_ms_mean"].get<double>());
  }
  if (args.has("json")) std::printf("%s\n", out.dump(2).c_str());
  return 0;
}

const Register reg{"bench-serve",
                   "serving throughput with 1/4/16 concurrent streams: --model PATH [--concurrency 1,4,16] [--tokens 64] "
                   "[--prompt-tokens 32] [--json] [--exact]",
                   run_bench_serve};

}  // namespace

}  // namespace mm::cli
