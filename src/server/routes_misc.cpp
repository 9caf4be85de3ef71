// Service routes: GET /health, GET /metrics (Prometheus text), GET /v1/models, POST /tokenize,
// POST /detokenize, and the chat page at GET /.
#include <cstdio>

#include "server/routes.h"

namespace mm::server {

namespace {

std::string metrics_text(const ServerContext& ctx) {
  const EngineMetrics m = ctx.engine.metrics();
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " + buf + "\n";
  };
  metric("minimax_requests_total", "counter", "Generation requests accepted.", double(m.requests_total));
  metric("minimax_requests_ok_total", "counter", "Generation requests finished normally.", double(m.requests_ok));
  metric("minimax_requests_cancelled_total", "counter", "Generation requests cancelled (client gone).",
         double(m.requests_cancelled));
  metric("minimax_requests_failed_total", "counter", "Generation requests that failed in the engine.",
         double(m.requests_failed));
  metric("minimax_requests_rejected_total", "counter", "Generation requests refused because the queue was full (503).",
         double(m.requests_rejected));
  metric("minimax_http_requests_total", "counter", "API HTTP requests handled.", double(ctx.http_requests.load()));
  metric("minimax_http_errors_total", "counter", "API HTTP requests answered with an error.", double(ctx.http_errors.load()));
  metric("minimax_prompt_tokens_total", "counter", "Prompt tokens processed (prefill).", double(m.prompt_tokens_total));
  metric("minimax_generated_tokens_total", "counter", "Tokens generated.", double(m.generated_tokens_total));
  metric("minimax_engine_steps_total", "counter", "Batched forward steps run.", double(m.steps_total));
  metric("minimax_queue_depth", "gauge", "Requests waiting for a slot.", double(m.queue_depth));
  metric("minimax_slots_busy", "gauge", "Slots generating now.", double(m.slots_busy));
  metric("minimax_slots_total", "gauge", "Slots (--parallel).", double(m.slots_total));
  metric("minimax_prefix_cache_hits_total", "counter", "Requests that resumed from a cached prefix.", double(m.cache_hits));
  metric("minimax_prefix_cache_misses_total", "counter", "Requests that found no cached prefix.", double(m.cache_misses));
  metric("minimax_prefix_cache_tokens_total", "counter", "Prompt tokens taken from the prefix cache.",
         double(m.cached_tokens_total));
  metric("minimax_prefix_cache_entries", "gauge", "Snapshots in the prefix cache.", double(m.cache_entries));
  metric("minimax_prefix_cache_bytes", "gauge", "Bytes of the prefix cache's snapshots (--cache-ram).", double(m.cache_bytes));
  metric("minimax_kv_pages_used", "gauge", "KV pages in use (slots and cache).", double(m.kv_pages_used));
  metric("minimax_kv_pages_total", "gauge", "KV page budget (--kv-ram).", double(m.kv_pages_total));
  metric("minimax_kv_page_bytes", "gauge", "Bytes of one KV page.", double(m.kv_page_bytes));
  metric("minimax_prefill_tokens_per_second", "gauge",
         "Prompt tokens per second of the steps that ran prefill (since start).",
         m.prefill_seconds > 0 ? double(m.prompt_tokens_total) / m.prefill_seconds : 0.0);
  metric("minimax_decode_tokens_per_second", "gauge", "Generated tokens per second of the steps that decoded (since start).",
         m.decode_seconds > 0 ? double(m.generated_tokens_total) / m.decode_seconds : 0.0);
  return out;
}

std::vector<int32_t> token_list(const ServerContext& ctx, const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || !it->is_array()) bad_request(std::string("'") + key + "' must be an array of token ids");
  std::vector<int32_t> ids;
  for (const auto& x : *it) {
    if (!x.is_number_integer()) bad_request(std::string("'") + key + "' must hold integers");
    const int64_t v = x.get<int64_t>();
    if (v < 0 || v >= ctx.tok.vocab_size()) bad_request("token id " + std::to_string(v) + " is out of range");
    ids.push_back(int32_t(v));
  }
  return ids;
}

}  // namespace

void register_misc_routes(httplib::Server& svr, ServerContext& ctx) {
  svr.Get("/health", [&ctx](const httplib::Request&, httplib::Response& res) {
    const EngineMetrics m = ctx.engine.metrics();
    send_json(res, {{"status", "ok"}, {"slots_idle", m.slots_total - m.slots_busy}, {"slots_busy", m.slots_busy},
                    {"queue_depth", m.queue_depth}});
  });
  svr.Get("/metrics", [&ctx](const httplib::Request& req, httplib::Response& res) {
    if (!authorized(ctx, req)) return send_error(res, Api::OpenAI, 401, "authentication_error", "invalid or missing API key");
    res.set_content(metrics_text(ctx), "text/plain; version=0.0.4");
  });
  svr.Get("/v1/models", [&ctx](const httplib::Request& req, httplib::Response& res) {
    handle(ctx, Api::OpenAI, req, res, [&](const json&) {
      send_json(res, {{"object", "list"},
                      {"data", json::array({{{"id", ctx.opts.model_name},
                                             {"object", "model"},
                                             {"created", ctx.created},
                                             {"owned_by", "minimax.cpp"},
                                             {"meta", {{"n_ctx", ctx.engine.n_ctx()},
                                                       {"n_vocab", ctx.engine.vocab_size()},
                                                       {"chat_format", chat_format_name(ctx.format)}}}}})}});
    });
  });
  svr.Post("/tokenize", [&ctx](const httplib::Request& req, httplib::Response& res) {
    handle(ctx, Api::OpenAI, req, res, [&](const json& body) {
      auto text = get_string(body, "content");
      if (!text) bad_request("'content' (a string) is required");
      const bool parse_special = get_bool(body, "parse_special").value_or(true);
      const bool with_pieces = get_bool(body, "with_pieces").value_or(false);
      auto ids = ctx.tok.encode(*text, parse_special);
      json tokens = json::array();
      for (int32_t id : ids) {
        if (with_pieces) tokens.push_back({{"id", id}, {"piece", token_bytes(ctx.tok, id)}});
        else tokens.push_back(id);
      }
      send_json(res, {{"tokens", tokens}});
    });
  });
  svr.Post("/detokenize", [&ctx](const httplib::Request& req, httplib::Response& res) {
    handle(ctx, Api::OpenAI, req, res, [&](const json& body) {
      auto ids = token_list(ctx, body, "tokens");
      send_json(res, {{"content", ctx.tok.decode(ids)}});
    });
  });
  // Sequence state files in --state-dir through the prefix cache: save the cached state of a token
  // prefix ("prefill once"), restore one into the cache ("ask many times").
  auto state_path = [&ctx](const json& body) {
    if (ctx.opts.state_dir.empty()) throw ApiError(404, "not_found_error", "state files are off: start the server with --state-dir DIR");
    const auto name = get_string(body, "filename");
    if (!name || name->empty() || name->size() > 128 || (*name)[0] == '.' ||
        name->find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != std::string::npos)
      bad_request("'filename' must be 1-128 characters of A-Z a-z 0-9 . _ - (not starting with '.')");
    return ctx.opts.state_dir + "/" + *name;
  };
  svr.Post("/v1/state/save", [&ctx, state_path](const httplib::Request& req, httplib::Response& res) {
    handle(ctx, Api::OpenAI, req, res, [&](const json& body) {
      const std::string path = state_path(body);
      const auto ids = token_list(ctx, body, "tokens");
      const int64_t n = ctx.engine.save_prefix(ids, path);
      if (n == 0) throw ApiError(404, "not_found_error", "no cached state begins these tokens (send a request with them first)");
      send_json(res, {{"filename", body["filename"]}, {"n_tokens", n}});
    });
  });
  svr.Post("/v1/state/restore", [&ctx, state_path](const httplib::Request& req, httplib::Response& res) {
    handle(ctx, Api::OpenAI, req, res, [&](const json& body) {
      const std::string path = state_path(body);
      send_json(res, {{"filename", body["filename"]}, {"n_tokens", ctx.engine.restore_prefix(path)}});
    });
  });
  svr.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(kChatPageHtml, "text/html; charset=utf-8");
  });
}

}  // namespace mm::server
