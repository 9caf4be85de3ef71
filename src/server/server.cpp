#include "server/server.h"

#include <algorithm>
#include <cstdio>

#include "server/routes.h"

namespace mm::server {

Server::Server(Engine& engine, ChatFormat format, std::vector<int32_t> eos_ids, ServerOptions opts)
    : ctx_(std::make_unique<ServerContext>(engine, format, std::move(opts))) {
  auto& ctx = *ctx_;
  const auto& ec = engine.config();
  HttpLimits& lim = ctx.opts.http;
  if (lim.max_connections <= 0) lim.max_connections = int(std::min<int64_t>(ec.n_parallel + ec.max_queue + 8, 256));
  svr_ = std::make_unique<HttpServer>(lim, ctx.phase);
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

  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, with which a second server binds the same port
  // and the kernel splits the connections between the two.
  svr_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const void*>(&yes), sizeof(yes));
  });
  // Before the body is read: a Content-Length over the limit is a 413 at once (not after reading, or
  // skipping, the body), and compressed bodies are refused (httplib would inflate them without a limit).
  svr_->set_pre_routing_handler([&ctx](const httplib::Request& req, httplib::Response& res) {
    const Api api = req.path.rfind("/v1/messages", 0) == 0 ? Api::Anthropic : Api::OpenAI;
    auto refuse = [&](int status, const char* type, const std::string& msg) {
      HttpServer::close_after_response();  // the body stays unread
      send_error(res, api, status, type, msg);
      return httplib::Server::HandlerResponse::Handled;
    };
    const std::string enc = req.get_header_value("Content-Encoding");
    if (!enc.empty() && enc != "identity")
      return refuse(415, "invalid_request_error", "Content-Encoding '" + enc + "' is not supported: send the body uncompressed");
    if (req.has_header("Content-Length")) {
      const std::string v = req.get_header_value("Content-Length");
      if (v.empty() || v.size() > 19 || v.find_first_not_of("0123456789") != std::string::npos)
        return refuse(400, "invalid_request_error", "malformed Content-Length");
      if (std::stoull(v) > ctx.opts.http.max_body_bytes)
        return refuse(413, "request_too_large",
                      "the request body is larger than " + std::to_string(ctx.opts.http.max_body_bytes) + " bytes");
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Responses httplib makes itself (404, 413 body too large, 400 unparsable request) get an API error body.
  svr_->set_error_handler([&ctx](const httplib::Request& req, httplib::Response& res) {
    if (HttpServer::body_over_limit()) res.status = 413;  // an unsized or chunked body, cut at the limit
    if (!res.body.empty()) return;
    const Api api = req.path.rfind("/v1/messages", 0) == 0 ? Api::Anthropic : Api::OpenAI;
    std::string msg = "HTTP " + std::to_string(res.status);
    const char* type = "invalid_request_error";
    if (res.status == 404) msg = "no route for " + req.method + " " + req.path, type = "not_found_error";
    if (res.status == 413)
      msg = req.get_header_value("Content-Type").find("x-www-form-urlencoded") != std::string::npos
                ? "form-encoded bodies are limited to 8 KiB: send 'Content-Type: application/json'"
                : "the request body is larger than " + std::to_string(ctx.opts.http.max_body_bytes) + " bytes",
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
  svr_->apply_backlog();
  return port;
}

void Server::listen() { svr_->listen_after_bind(); }
void Server::stop() { svr_->stop_now(); }
void Server::drain() { svr_->drain(); }

}  // namespace mm::server
