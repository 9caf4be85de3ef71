// OpenAI-compatible routes: POST /v1/chat/completions, POST /v1/completions (JSON and SSE streaming).
// Schemas follow the OpenAI API reference: usage, finish_reason, system_fingerprint, logprobs.
#include "server/routes.h"

namespace mm::server {

namespace {

const char* finish_name(const GenEvent& ev, bool tool_calls) {
  if (ev.finish == FinishReason::Length) return "length";
  return tool_calls ? "tool_calls" : "stop";
}

json usage_json(const GenEvent& ev) {
  return {{"prompt_tokens", ev.n_prompt},
          {"completion_tokens", ev.n_generated},
          {"total_tokens", ev.n_prompt + ev.n_generated},
          {"prompt_tokens_details", {{"cached_tokens", ev.n_cached}}}};
}

// A finished request that did not end normally: engine error or shutdown.
void throw_if_failed(const ServerContext& ctx, const GenEvent& ev) {
  if (ev.finish == FinishReason::Error) throw ApiError(500, "server_error", "generation failed: " + ev.error);
  if (ev.finish == FinishReason::Cancelled) throw ApiError(503, "server_busy", cancelled_message(ctx));
}

// The end of a stream that failed: an error object chunk, then [DONE].
std::string error_sse(const ServerContext& ctx, const GenEvent& ev) {
  const bool failed = ev.finish == FinishReason::Error;
  const std::string msg = failed ? "generation failed: " + ev.error : cancelled_message(ctx);
  return sse(json{{"error", {{"message", msg}, {"type", failed ? "server_error" : "server_busy"}, {"param", nullptr},
                             {"code", failed ? 500 : 503}}}}) +
         "data: [DONE]\n\n";
}

// Chat logprobs: [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}].
json chat_logprobs(const Tokenizer& tok, const std::vector<TokenLogprob>& lps) {
  json content = json::array();
  for (const auto& lp : lps) {
    const std::string b = token_bytes(tok, lp.id);
    json top = json::array();
    for (const auto& [id, l] : lp.top) {
      const std::string tb = token_bytes(tok, id);
      top.push_back({{"token", tb}, {"logprob", l}, {"bytes", bytes_json(tb)}});
    }
    content.push_back({{"token", b}, {"logprob", lp.logprob}, {"bytes", bytes_json(b)}, {"top_logprobs", top}});
  }
  return {{"content", content}};
}

// Legacy completions logprobs: {tokens, token_logprobs, top_logprobs: [{token: logprob}], text_offset}.
json completion_logprobs(const Tokenizer& tok, const std::vector<TokenLogprob>& lps, size_t& offset) {
  json tokens = json::array(), lp_arr = json::array(), tops = json::array(), offs = json::array();
  for (const auto& lp : lps) {
    const std::string b = token_bytes(tok, lp.id);
    tokens.push_back(b);
    lp_arr.push_back(lp.logprob);
    json top = json::object();  // keys: token texts (odd UTF-8 is replaced when written)
    for (const auto& [id, l] : lp.top) top[token_bytes(tok, id)] = l;
    tops.push_back(std::move(top));
    offs.push_back(offset);
    offset += b.size();
  }
  return {{"tokens", tokens}, {"token_logprobs", lp_arr}, {"top_logprobs", tops}, {"text_offset", offs}};
}

json tool_call_json(const ToolCall& c) {
  return {{"id", c.id}, {"type", "function"}, {"function", {{"name", c.name}, {"arguments", c.arguments}}}};
}

struct StreamOpts {
  bool stream = false, include_usage = false;
};

StreamOpts parse_stream(const json& body) {
  StreamOpts o;
  o.stream = get_bool(body, "stream").value_or(false);
  if (auto it = body.find("stream_options"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) bad_request("'stream_options' must be an object");
    o.include_usage = get_bool(*it, "include_usage").value_or(false);
  }
  return o;
}

void check_n(const json& body) {
  if (auto n = get_int(body, "n"); n && *n != 1) bad_request("only n = 1 is supported");
}

// The prompt of /v1/completions: a string, token ids, or an array with one of those.
std::vector<int32_t> completion_prompt(const RequestEnv& env, const json& body) {
  auto it = body.find("prompt");
  if (it == body.end() || it->is_null()) bad_request("'prompt' is required");
  const json& p = *it;
  auto ids_of = [&](const json& arr) {
    std::vector<int32_t> ids;
    for (const auto& x : arr) {
      if (!x.is_number_integer()) bad_request("'prompt' token arrays must hold integers");
      const int64_t v = x.get<int64_t>();
      if (v < 0 || v >= env.vocab_size) bad_request("prompt token id " + std::to_string(v) + " is out of range");
      ids.push_back(int32_t(v));
    }
    return ids;
  };
  if (p.is_string()) return env.tok.encode(p.get<std::string>(), true, size_t(env.n_ctx));
  if (!p.is_array()) bad_request("'prompt' must be a string, an array of token ids, or an array with one of those");
  if (p.empty()) bad_request("'prompt' must not be empty");
  if (p[0].is_number_integer()) return ids_of(p);
  if (p.size() > 1) bad_request("only one prompt per request is supported");
  if (p[0].is_string()) return env.tok.encode(p[0].get<std::string>(), true, size_t(env.n_ctx));
  if (p[0].is_array()) return ids_of(p[0]);
  bad_request("'prompt' must be a string, an array of token ids, or an array with one of those");
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// Request parsing (server/request_parse.h)

ChatCompletionRequest parse_chat_completion_request(const RequestEnv& env, const json& body) {
  check_n(body);
  auto mit = body.find("messages");
  if (mit == body.end() || !mit->is_array()) bad_request("'messages' must be an array of messages");
  if (mit->empty()) bad_request("'messages' must not be empty");
  auto msgs = chat_messages_from_json(*mit);

  json tools = body.contains("tools") ? body["tools"] : json(nullptr);
  bool none = false, required = false;
  std::string only;
  if (auto tc = body.find("tool_choice"); tc != body.end() && !tc->is_null()) {
    if (tc->is_string()) {
      const auto s = tc->get<std::string>();
      if (s != "none" && s != "auto" && s != "required") bad_request("'tool_choice' must be none, auto or required");
      none = s == "none";
      required = s == "required";
    } else if (tc->is_object() && tc->contains("function") && (*tc)["function"].is_object()) {
      only = get_string((*tc)["function"], "name").value_or("");
      if (only.empty()) bad_request("'tool_choice.function.name' is required");
    } else {
      bad_request("'tool_choice' must be a string or {\"type\": \"function\", \"function\": {\"name\": ...}}");
    }
  }
  tools = select_tools(tools, none, only);
  // "required" or a named function: the reply is made to start inside a call.
  const std::string forced = forced_tool_call(env.format, tools, required || !only.empty(), only);

  ChatCompletionRequest out;
  GenRequest& req = out.req;
  ChatPrompt prompt = chat_render_prompt(env.format, msgs, nlohmann::ordered_json(tools));
  prompt.add(forced);
  // Message text cannot write control tokens; tokenizing stops past the context size (parse_max_tokens refuses).
  req.prompt = env.tok.encode(prompt.text, prompt.plain, size_t(env.n_ctx));
  parse_sampling(body, req);
  req.stop = get_string_list(body, "stop");
  req.stop_ids = env.end_ids;
  parse_ignore_eos(body, req);
  parse_max_tokens(env.n_ctx, body, req, {"max_completion_tokens", "max_tokens"}, false);
  const bool logprobs = out.logprobs = get_bool(body, "logprobs").value_or(false);
  if (auto t = get_int(body, "top_logprobs")) {
    if (*t < 0 || *t > 20) bad_request("'top_logprobs' must be between 0 and 20");
    if (!logprobs) bad_request("'top_logprobs' requires 'logprobs': true");
    req.top_logprobs = int(*t);
  } else if (logprobs) {
    req.top_logprobs = 0;
  }
  const StreamOpts so = parse_stream(body);
  out.stream = so.stream;
  out.include_usage = so.include_usage;
  out.tools = std::move(tools);
  out.forced = forced;
  return out;
}

CompletionRequest parse_completion_request(const RequestEnv& env, const json& body) {
  check_n(body);
  if (auto b = get_int(body, "best_of"); b && *b != 1) bad_request("only best_of = 1 is supported");
  CompletionRequest out;
  GenRequest& req = out.req;
  req.prompt = completion_prompt(env, body);
  if (req.prompt.empty()) bad_request("the prompt is empty");
  parse_sampling(body, req);
  req.stop = get_string_list(body, "stop");
  req.stop_ids = env.eos_ids;
  parse_ignore_eos(body, req);
  parse_max_tokens(env.n_ctx, body, req, {"max_tokens"}, false);
  if (!body.contains("max_tokens") || body["max_tokens"].is_null())  // the API's documented default
    req.max_tokens = std::min<int64_t>(req.max_tokens, 16);
  std::optional<int64_t> n_lp = get_int(body, "logprobs");
  if (n_lp && (*n_lp < 0 || *n_lp > 20)) bad_request("'logprobs' must be between 0 and 20");
  if (n_lp) req.top_logprobs = int(*n_lp);
  out.n_logprobs = n_lp;
  out.echo = get_bool(body, "echo").value_or(false);
  const StreamOpts so = parse_stream(body);
  out.stream = so.stream;
  out.include_usage = so.include_usage;
  return out;
}

namespace {

// ---------------------------------------------------------------------------------------------------
// /v1/chat/completions

void chat_completions(ServerContext& ctx, const httplib::Request& http_req, const json& body, httplib::Response& res) {
  ChatCompletionRequest p = parse_chat_completion_request(ctx.request_env(), body);
  GenRequest& req = p.req;
  const json& tools = p.tools;
  const std::string& forced = p.forced;
  const bool logprobs = p.logprobs;
  const StreamOpts so{p.stream, p.include_usage};

  auto h = ctx.engine.submit(std::move(req));
  const std::string id = random_id("chatcmpl-");
  const int64_t created = unix_time();
  const bool reasoning_first = chat_starts_in_reasoning(ctx.format);

  if (!so.stream) {
    GenEvent ev = h->wait_all(client_gone_probe(ctx, http_req));
    throw_if_failed(ctx, ev);
    ChatOutputParser parser(ctx.format, tools, reasoning_first);
    ChatResult r;
    add_chat_events(r, parser.feed(forced + ev.text));
    add_chat_events(r, parser.finish());
    json msg = {{"role", "assistant"}, {"content", r.content.empty() && !r.calls.empty() ? json(nullptr) : json(r.content)}};
    if (!r.reasoning.empty()) msg["reasoning_content"] = r.reasoning;
    if (!r.calls.empty()) {
      msg["tool_calls"] = json::array();
      for (const auto& c : r.calls) msg["tool_calls"].push_back(tool_call_json(c));
    }
    json choice = {{"index", 0}, {"message", msg}, {"logprobs", nullptr}, {"finish_reason", finish_name(ev, !r.calls.empty())}};
    if (logprobs) choice["logprobs"] = chat_logprobs(ctx.tok, ev.logprobs);
    send_json(res, {{"id", id}, {"object", "chat.completion"}, {"created", created}, {"model", ctx.opts.model_name},
                    {"system_fingerprint", ctx.fingerprint}, {"choices", json::array({choice})}, {"usage", usage_json(ev)}});
    return;
  }

  struct State {
    explicit State(ChatOutputParser p) : parser(std::move(p)) {}
    ChatOutputParser parser;
    bool started = false;
    int n_calls = 0;
    std::string forced;  // fed to the parser ahead of the first output
  };
  auto st = std::make_shared<State>(ChatOutputParser(ctx.format, tools, reasoning_first));
  st->forced = forced;
  auto chunk = [&ctx, id, created](json delta, json finish, json lp) {
    json c = {{"index", 0}, {"delta", std::move(delta)}, {"logprobs", std::move(lp)}, {"finish_reason", std::move(finish)}};
    return sse({{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", ctx.opts.model_name},
                {"system_fingerprint", ctx.fingerprint}, {"choices", json::array({c})}});
  };
  stream_sse(ctx, res, h, client_gone_probe(ctx, http_req), [&ctx, st, chunk, so, logprobs, id, created](const GenEvent& ev) {
    std::string out;
    if (!st->started) {
      st->started = true;
      out += chunk({{"role", "assistant"}, {"content", ""}}, nullptr, nullptr);
    }
    if (ev.done && (ev.finish == FinishReason::Error || ev.finish == FinishReason::Cancelled)) return out + error_sse(ctx, ev);
    auto evs = st->parser.feed(std::exchange(st->forced, {}) + ev.text);
    if (ev.done)
      for (auto& e : st->parser.finish()) evs.push_back(std::move(e));
    json lp = logprobs && !ev.logprobs.empty() ? chat_logprobs(ctx.tok, ev.logprobs) : json(nullptr);
    for (const auto& e : evs) {
      json delta;
      if (e.kind == ChatEvent::Reasoning) delta = {{"reasoning_content", e.text}};
      else if (e.kind == ChatEvent::Content) delta = {{"content", e.text}};
      else {
        json tc = tool_call_json(e.call);
        tc["index"] = st->n_calls++;
        delta = {{"tool_calls", json::array({tc})}};
      }
      out += chunk(std::move(delta), nullptr, std::exchange(lp, nullptr));
    }
    if (!lp.is_null()) out += chunk(json::object(), nullptr, lp);
    if (ev.done) {
      out += chunk(json::object(), finish_name(ev, st->n_calls > 0), nullptr);
      if (so.include_usage)
        out += sse({{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", ctx.opts.model_name},
                    {"system_fingerprint", ctx.fingerprint}, {"choices", json::array()}, {"usage", usage_json(ev)}});
      out += "data: [DONE]\n\n";
    }
    return out;
  });
}

// ---------------------------------------------------------------------------------------------------
// /v1/completions

void completions(ServerContext& ctx, const httplib::Request& http_req, const json& body, httplib::Response& res) {
  CompletionRequest p = parse_completion_request(ctx.request_env(), body);
  GenRequest& req = p.req;
  const std::optional<int64_t> n_lp = p.n_logprobs;
  const StreamOpts so{p.stream, p.include_usage};
  const std::string prefix = p.echo ? ctx.tok.decode(req.prompt) : std::string();

  auto h = ctx.engine.submit(std::move(req));
  const std::string id = random_id("cmpl-");
  const int64_t created = unix_time();
  auto object = [&ctx, id, created](json choices) {
    return json{{"id", id}, {"object", "text_completion"}, {"created", created}, {"model", ctx.opts.model_name},
                {"system_fingerprint", ctx.fingerprint}, {"choices", std::move(choices)}};
  };
  if (!so.stream) {
    GenEvent ev = h->wait_all(client_gone_probe(ctx, http_req));
    throw_if_failed(ctx, ev);
    size_t off = prefix.size();
    json choice = {{"text", prefix + ev.text}, {"index", 0}, {"logprobs", nullptr}, {"finish_reason", finish_name(ev, false)}};
    if (n_lp) choice["logprobs"] = completion_logprobs(ctx.tok, ev.logprobs, off);
    json j = object(json::array({choice}));
    j["usage"] = usage_json(ev);
    send_json(res, j);
    return;
  }
  auto off = std::make_shared<size_t>(prefix.size());
  auto pending_prefix = std::make_shared<std::string>(prefix);
  stream_sse(ctx, res, h, client_gone_probe(ctx, http_req), [&ctx, object, so, n_lp, off, pending_prefix](const GenEvent& ev) {
    if (ev.done && (ev.finish == FinishReason::Error || ev.finish == FinishReason::Cancelled)) return error_sse(ctx, ev);
    std::string out;
    std::string text = std::exchange(*pending_prefix, std::string()) + ev.text;
    if (!text.empty() || (n_lp && !ev.logprobs.empty())) {
      json c = {{"text", text}, {"index", 0}, {"logprobs", nullptr}, {"finish_reason", nullptr}};
      if (n_lp) c["logprobs"] = completion_logprobs(ctx.tok, ev.logprobs, *off);
      out += sse(object(json::array({c})));
    }
    if (ev.done) {
      json c = {{"text", ""}, {"index", 0}, {"logprobs", nullptr}, {"finish_reason", finish_name(ev, false)}};
      out += sse(object(json::array({c})));
      if (so.include_usage) {
        json u = object(json::array());
        u["usage"] = usage_json(ev);
        out += sse(u);
      }
      out += "data: [DONE]\n\n";
    }
    return out;
  });
}

}  // namespace

void register_openai_routes(httplib::Server& svr, ServerContext& ctx) {
  svr.Post("/v1/chat/completions", [&ctx](const httplib::Request& req, httplib::Response& res) {
    handle(ctx, Api::OpenAI, req, res, [&](const json& body) { chat_completions(ctx, req, body, res); });
  });
  svr.Post("/v1/completions", [&ctx](const httplib::Request& req, httplib::Response& res) {
    handle(ctx, Api::OpenAI, req, res, [&](const json& body) { completions(ctx, req, body, res); });
  });
}

}  // namespace mm::server
