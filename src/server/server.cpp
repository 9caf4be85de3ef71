#include "server/server.h"

#include <algorithm>
#include <cstdio>

#include "server/routes.h"

namespace mm::server {

Server::Server(Engine& engine, ChatFormat format, std::vector<int32_t> eos_ids, ServerOptions opts)
    : svr_(std::make_unique<httplib::Server>()),
      ctx_(std::make_unique<ServerContext>(engine, format, std::move(opts))) {
  auto& ctx = *ctx_;
  ctx.created = unix_time();
  ctx.eos_ids = eos_ids;
  ctx.end_ids = eos_ids;
  for (const std::string& t : chat_end_tokens(format)) {
    if (auto id = ctx.tok.token_to_id(t); id && std::find(ctx.end_ids.begin(), ctx.end_ids.end(), *id) == ctx.end_ids.end())
      ctx.end_ids.push_back(*id);
  }
  char fp[32];
  uint64_t h = 1469598103934665603ull;
  for (char c : ctx.opts.model_name + "/" + std::to_string(engine.vocab_size()) + "/" + std::to_string(engine.n_ctx()))
    h = (h ^ uint8_t(c)) * 1099511628211ull;
  std::snprintf(fp, sizeof fp, "fp_mm%012llx", (unsigned long long)(h & 0xffffffffffffull));
  ctx.fingerprint = fp;

  const auto& ec = engine.config();
  int n_threads = ctx.opts.n_http_threads;
  if (n_threads <= 0) n_threads = int(std::min<int64_t>(ec.n_parallel + ec.max_queue + 8, 512));
  svr_->new_task_queue = [n_threads] { return new httplib::ThreadPool(size_t(n_threads)); };
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, with which a second server binds the same port
  // and the kernel splits the connections between the two.
  svr_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const void*>(&yes), sizeof(yes));
  });
  svr_->set_payload_max_length(ctx.opts.max_body_bytes);
  svr_->set_read_timeout(30, 0);
  svr_->set_write_timeout(30, 0);
  // Responses httplib makes itself (404, 413 body too large, 400 unparsable request) get an API error body.
  svr_->set_error_handler([&ctx](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    const Api api = req.path.rfind("/v1/messages", 0) == 0 ? Api::Anthropic : Api::OpenAI;
    std::string msg = "HTTP " + std::to_string(res.status);
    const char* type = "invalid_request_error";
    if (res.status == 404) msg = "no route for " + req.method + " " + req.path, type = "not_found_error";
    if (res.status == 413)
      msg = req.get_header_value("Content-Type").find("x-www-form-urlencoded") != std::string::npos
                ? "form-encoded bodies are limited to 8 KiB: send 'Content-Type: application/json'"
                : "the request body is larger than " + std::to_string(ctx.opts.max_body_bytes) + " bytes",
      type = "request_too_large";
    send_error(res, api, res.status, type, msg);
  });
  svr_->set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr) {
    const Api api = req.path.rfind("/v1/messages", 0) == 0 ? Api::Anthropic : Api::OpenAI;
    send_error(res, api, 500, api == Api::Anthropic ? "api_error" : "server_error", "internal error");
  });
  register_openai_routes(*svr_, ctx);
  register_anthropic_routes(*svr_, ctx);
  register_misc_routes(*svr_, ctx);
}

Server::~Server() = default;

int Server::bind() {
  const auto& o = ctx_->opts;
  int port = o.port;
  if (port == 0) {
    port = svr_->bind_to_any_port(o.host);
    if (port < 0) throw Error("cannot bind " + o.host + " (any port)");
  } else if (!svr_->bind_to_port(o.host, port)) {
    throw Error("cannot bind " + o.host + ":" + std::to_string(port) + " (in use? try --port)");
  }
  return port;
}

void Server::listen() { svr_->listen_after_bind(); }
void Server::stop() { svr_->stop(); }

}  // namespace mm::server
