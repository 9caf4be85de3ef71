// `minimax serve`: the OpenAI / Anthropic compatible HTTP server.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <pthread.h>
#include <thread>

#include "core/error.h"
#include "minimax/engine.h"
#include "minimax/model.h"
#include "minimax/runtime.h"
#include "minimax/text.h"
#include "tools/commands.h"

namespace mm::cli {

namespace {

int run_serve(int argc, char** argv) {
  Args args(argc, argv, {"no-mmap", "exact"});
  args.check_known({"model", "host", "port", "parallel", "ctx-size", "api-key", "api-key-file", "threads", "tokenizer", "alias",
                                        "queue", "prefill-chunk", "no-mmap", "exact", "max-connections", "max-body", "header-timeout",
                    "body-timeout", "idle-timeout", "drain-timeout", "kv-type", "kv-ram", "cache-ram", "state-dir"});
  if (args.has("no-mmap")) set_load_mode(LoadMode::Load);
  const std::string model_path = args.required("model");
  server::ServerOptions opts;
  opts.host = args.str("host", "127.0.0.1");
  const int64_t port = args.i64("port", 8080);
  if (port < 0 || port > 65535) throw Error("--port must be in 0..65535 (0: any free port)");
  opts.port = int(port);
  // The key from --api-key, or (kept out of `ps`) from the environment or a file.
  opts.api_key = args.str("api-key", "");
  if (opts.api_key.empty())
    if (const char* k = std::getenv("MINIMAX_API_KEY")) opts.api_key = k;
  if (const std::string f = args.str("api-key-file", ""); !f.empty()) {
    std::ifstream in(f);
    if (!in) throw Error("--api-key-file: cannot read " + f);
    std::getline(in, opts.api_key);
    while (!opts.api_key.empty() && (opts.api_key.back() == '\r' || opts.api_key.back() == ' ')) opts.api_key.pop_back();
    if (opts.api_key.empty()) throw Error("--api-key-file: " + f + " holds no key on its first line");
  }
  // Connection limits (src/server/http_server.h; README "Limits and security model").
  auto& lim = opts.http;
  lim.max_connections = int(args.i64("max-connections", 0));  // 0: --parallel + --queue + 8 (at most 256)
  const int64_t max_body = args.i64("max-body", int64_t(lim.max_body_bytes >> 20));
  if (max_body < 1 || max_body > 1024) throw Error("--max-body (MiB) must be in 1..1024");
  lim.max_body_bytes = size_t(max_body) << 20;
  auto seconds = [&](const char* key, double def, double lo) {
    const double v = args.f64(key, def);
    if (!(v >= lo && v <= 86400)) throw Error(std::string("--") + key + " (seconds) must be in " + std::to_string(int(lo)) + "..86400");
    return v;
  };
  lim.header_timeout_s = seconds("header-timeout", lim.header_timeout_s, 1);
  lim.body_timeout_s = seconds("body-timeout", lim.body_timeout_s, 1);
  lim.idle_timeout_s = seconds("idle-timeout", lim.idle_timeout_s, 1);
  lim.drain_timeout_s = seconds("drain-timeout", lim.drain_timeout_s, 0);
  if (lim.max_connections < 0 || lim.max_connections > 4096) throw Error("--max-connections must be in 1..4096");
  std::string alias = args.str("alias", "");
  if (alias.empty()) alias = std::filesystem::path(model_path).filename().string();
  if (alias.empty()) alias = std::filesystem::path(model_path).parent_path().filename().string();
  opts.model_name = alias;
  EngineConfig ec;
  ec.n_parallel = int(args.i64("parallel", 4));
  ec.n_ctx = args.i64("ctx-size", 0);
  ec.max_queue = args.i64("queue", 64);
  ec.prefill_chunk = ec.prefill_budget = args.i64("prefill-chunk", 256);
  ec.n_threads = threads_from(args);
  ec.math = math_mode_from(args);
  ec.kv_type = kv_type_from(args);
  ec.kv_ram_mib = args.i64("kv-ram", 0);        // 0: --parallel full contexts
  ec.cache_ram_mib = args.i64("cache-ram", 1024);  // prefix cache; 0 turns it off
  opts.state_dir = args.str("state-dir", "");
  if (!opts.state_dir.empty() && !std::filesystem::is_directory(opts.state_dir))
    throw Error("--state-dir " + opts.state_dir + " is not a directory");

  // SIGINT / SIGTERM are taken by a waiting thread (blocked everywhere else), which drains the server:
  // no new connections, in-flight requests finish within --drain-timeout, the rest end with an error event.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  auto tok = load_tokenizer_for(model_path, args.str("tokenizer", ""));
  auto model = load_model(model_path);
  const ModelConfig cfg = model->config();
  const ChatFormat fmt = chat_format_of(cfg);
  std::vector<int32_t> eos;
  if (cfg.eos_token_id) eos.push_back(int32_t(*cfg.eos_token_id));
  Engine engine(std::move(model), tok.get(), ec);
  server::Server srv(engine, fmt, eos, opts);
  const int bound = srv.bind();
  std::printf("minimax serve: %s (%s, chat format %s), %d slots x %lld tokens, listening on http://%s:%d\n",
              alias.c_str(), cfg.arch_name(), chat_format_name(fmt), ec.n_parallel,
              (long long)engine.n_ctx(), opts.host.c_str(), bound);
  std::fflush(stdout);

  std::thread waiter([&] {
    int sig = 0;
    sigwait(&sigs, &sig);
    std::fprintf(stderr, "minimax serve: signal %d, draining (up to %g s)\n", sig, lim.drain_timeout_s);
    srv.drain();
  });
  srv.listen();
  // listen() returned: after a drain, or on its own, when the waiter still waits (wake it).
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  std::fprintf(stderr, "minimax serve: stopped\n");
  return 0;
}

const Register reg_serve{"serve",
                         "HTTP server (OpenAI + Anthropic APIs): --model PATH [--host 127.0.0.1] [--port 8080] "
                         "[--parallel N] [--ctx-size C] [--queue 64] [--api-key KEY | --api-key-file F | env MINIMAX_API_KEY] [--threads N] "
                         "[--exact] [--max-connections N (default parallel+queue+8; more get a 503)] [--max-body MiB (8)] "
                         "[--header-timeout S (10)] [--body-timeout S (60)] [--idle-timeout S (5)] "
                         "[--drain-timeout S (10; SIGTERM/SIGINT: in-flight requests finish, then end with an error event)]",
                         run_serve};

}  // namespace

}  // namespace mm::cli
