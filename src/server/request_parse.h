// Request bodies of the OpenAI and Anthropic routes turned into engine requests: pure functions of the
// body and the model's text side (chat format, tokenizer, context size), no HTTP and no engine, so they
// are tested and fuzzed on their own (fuzz/fuzz_server_requests.cpp). Every bad field raises ApiError
// 400 naming it.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "chat/chat.h"
#include "core/error.h"
#include "engine/request.h"
#include "tokenizer/tokenizer.h"

namespace mm::server {

using json = nlohmann::json;

// A request error with its HTTP status and the API's error type (e.g. invalid_request_error).
struct ApiError : Error {
  ApiError(int status, std::string type, const std::string& msg) : Error(msg), status(status), type(std::move(type)) {}
  int status;
  std::string type;
};

// What parsing a request needs to know of the model (ServerContext::request_env gives the server's).
struct RequestEnv {
  ChatFormat format = ChatFormat::Text01;
  const Tokenizer& tok;
  int64_t n_ctx = 0;
  int64_t vocab_size = 0;
  std::vector<int32_t> eos_ids;  // end of text for raw completions
  std::vector<int32_t> end_ids;  // chat: eos + the chat format's end-of-message tokens
};

// POST /v1/chat/completions
struct ChatCompletionRequest {
  GenRequest req;
  json tools;          // the tools the prompt shows, after tool_choice
  std::string forced;  // the reply's forced start (tool_choice required / a named function), "" if none
  bool logprobs = false;
  bool stream = false, include_usage = false;
};
ChatCompletionRequest parse_chat_completion_request(const RequestEnv& env, const json& body);

// POST /v1/completions
struct CompletionRequest {
  GenRequest req;
  std::optional<int64_t> n_logprobs;  // `logprobs`: how many alternatives, when given
  bool echo = false;
  bool stream = false, include_usage = false;
};
CompletionRequest parse_completion_request(const RequestEnv& env, const json& body);

// POST /v1/messages (Anthropic); for_generation = false parses only what the prompt needs
// (/v1/messages/count_tokens).
struct MessagesRequest {
  GenRequest req;
  json tools;          // in OpenAI form, after tool_choice
  std::string forced;  // the reply's forced start (tool_choice any / tool), fed to the output parser first
  bool stream = false;
};
MessagesRequest parse_messages_request(const RequestEnv& env, const json& body, bool for_generation = true);

// ---- the pieces (all throw ApiError 400 naming the field)
// A request body as JSON: nesting bounded (kMaxJsonDepth), valid JSON, an object.
json parse_body_text(std::string_view body);
std::optional<double> get_number(const json& j, const char* key);
std::optional<int64_t> get_int(const json& j, const char* key);
std::optional<bool> get_bool(const json& j, const char* key);
std::optional<std::string> get_string(const json& j, const char* key);
// A string or an array of strings (at most 16).
std::vector<std::string> get_string_list(const json& j, const char* key);
[[noreturn]] void bad_request(const std::string& msg);

// Sampling fields shared by the APIs: temperature, top_p, top_k, min_p, presence / frequency /
// repetition penalties, seed. Anthropic's API has no penalties but accepting them does no harm.
void parse_sampling(const json& body, GenRequest& req);
// max_tokens (or a given alias): checked >= 1; missing gives the rest of the context (n_ctx).
void parse_max_tokens(int64_t n_ctx, const json& body, GenRequest& req, std::initializer_list<const char*> keys,
                      bool required);
// ignore_eos (an extension, as in llama.cpp / vLLM): generate to max_tokens, not stopping at end tokens.
void parse_ignore_eos(const json& body, GenRequest& req);

// Tools (OpenAI form) given to the prompt after tool_choice: `none` drops them all, a non-empty
// `only` keeps just that function (ApiError when it is not among them).
json select_tools(const json& tools, bool none, const std::string& only);
// The reply's forced start when a call is required (tool_choice "required" / Anthropic "any") or a
// function is named: chat_forced_tool_call's text, "" when not forced. ApiError 400 when forcing
// without tools.
std::string forced_tool_call(ChatFormat fmt, const json& tools, bool forced, const std::string& name);

std::string dump(const json& j);  // never throws on odd UTF-8 (replaced)

}  // namespace mm::server
