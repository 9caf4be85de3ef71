// Shared pieces of the HTTP routes: the server context, request-field readers that reject wrong types,
// error JSON in each API's shape, and the SSE pump between an engine request and an HTTP response.
// HTTP threads only submit() to the Engine and read the RequestHandle; they never touch model state.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "chat/chat.h"
#include "core/error.h"
#include "engine/engine.h"
#include "server/http_server.h"
#include "server/request_parse.h"
#include "tokenizer/tokenizer.h"

namespace mm::server {

using json = nlohmann::json;

enum class Api { OpenAI, Anthropic };

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (printed at startup)
  std::string api_key;  // empty: no authentication
  std::string model_name;
  HttpLimits http;  // connections, timeouts, body size (http_server.h); max_connections 0: from the engine
  std::string state_dir;  // where /v1/state/save and /restore keep files; empty: those endpoints are off
};

struct ServerContext {
  ServerContext(Engine& e, ChatFormat f, ServerOptions o) : engine(e), tok(e.tokenizer()), format(f), opts(std::move(o)) {}
  Engine& engine;
  const Tokenizer& tok;
  ChatFormat format;
  ServerOptions opts;
  std::vector<int32_t> eos_ids;  // end of text for raw completions (generation_config eos)
  std::vector<int32_t> end_ids;  // chat: eos + the chat format's end-of-message tokens
  std::string fingerprint;
  int64_t created = 0;
  std::atomic<uint64_t> http_requests{0}, http_errors{0};
  std::atomic<int> phase{int(ServePhase::Serving)};  // ServePhase: Aborting ends in-flight requests
  RequestEnv request_env() const {
    return {.format = format, .tok = tok, .n_ctx = engine.n_ctx(), .vocab_size = engine.vocab_size(),
            .eos_ids = eos_ids, .end_ids = end_ids};
  }
};

// Why a request ended Cancelled: the server shutting down, or the client gone.
std::string cancelled_message(const ServerContext& ctx);

// The JSON body of an HTTP request (parse_body_text).
json parse_body(const httplib::Request& req);

// ---- responses
void send_json(httplib::Response& res, const json& j, int status = 200);
void send_error(httplib::Response& res, Api api, int status, const std::string& type, const std::string& msg);
// Runs fn(body); exceptions become the API's error JSON (ApiError status; mm::Error 400; QueueFullError
// 503 + Retry-After; anything else 500). Checks the API key first.
void handle(ServerContext& ctx, Api api, const httplib::Request& req, httplib::Response& res,
            const std::function<void(const json& body)>& fn);
bool authorized(const ServerContext& ctx, const httplib::Request& req);

// Streams an engine request as server-sent events: on_event turns each engine event into SSE text
// (the last one, done = true, must write the closing events). A client that goes away cancels the
// request, which frees its slot at the next engine step.
// client_gone (client_gone_probe) is checked between events, so a client that leaves is noticed even
// before a write to its socket fails.
// Once the server aborts in-flight requests (shutdown past its drain timeout) the request is cancelled
// too, and on_event gets its Cancelled done event to write the stream's error event.
void stream_sse(ServerContext& ctx, httplib::Response& res, std::shared_ptr<RequestHandle> h,
                std::function<bool()> client_gone, std::function<std::string(const GenEvent& ev)> on_event);
// For a non-streaming reply: a function that says whether the client has closed the connection of
// `req` (always false when that cannot be told) or the server is aborting requests, to pass to
// RequestHandle::wait_all.
std::function<bool()> client_gone_probe(const ServerContext& ctx, const httplib::Request& req);
std::string sse(const json& data);                          // "data: {...}\n\n"
std::string sse(const std::string& event, const json& data);  // "event: E\ndata: {...}\n\n"

// ---- misc
std::string random_id(const std::string& prefix);
int64_t unix_time();
uint64_t random_seed();
// The raw bytes a token stands for (byte-level BPE undone) and its text as a string.
std::string token_bytes(const Tokenizer& tok, int32_t id);
// Bytes as a JSON array of numbers (OpenAI logprobs "bytes").
json bytes_json(const std::string& bytes);

// Chat output: the parser's events accumulated for a non-streaming reply.
struct ChatResult {
  std::string reasoning, content;
  std::vector<ToolCall> calls;
};
void add_chat_events(ChatResult& r, const std::vector<ChatEvent>& evs);


}  // namespace mm::server
