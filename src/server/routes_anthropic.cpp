// Anthropic Messages API: POST /v1/messages (JSON and SSE streaming), POST /v1/messages/count_tokens.
// Reasoning comes back as `thinking` blocks, tool calls as `tool_use` blocks; tool results are read from
// `tool_result` blocks of user turns. Schemas follow the Anthropic API reference.
#include <map>

#include "server/routes.h"
#include "server/signature.h"

namespace mm::server {

namespace {

std::string text_of_blocks(const json& content, const char* what) {
  if (content.is_string()) return content.get<std::string>();
  if (content.is_null()) return "";
  if (!content.is_array()) bad_request(std::string(what) + " must be a string or an array of content blocks");
  std::string out;
  for (const auto& b : content) {
    if (!b.is_object() || get_string(b, "type").value_or("") != "text")
      bad_request(std::string(what) + ": only text blocks are supported here");
    out += get_string(b, "text").value_or("");
  }
  return out;
}

// Anthropic request -> chat messages (+ tools in OpenAI form).
std::vector<ChatMessage> to_chat_messages(const json& body) {
  std::vector<ChatMessage> out;
  if (auto it = body.find("system"); it != body.end() && !it->is_null()) {
    std::string sys = text_of_blocks(*it, "'system'");
    if (!sys.empty()) out.push_back({.role = "system", .content = sys});
  }
  auto mit = body.find("messages");
  if (mit == body.end() || !mit->is_array()) bad_request("'messages' must be an array of messages");
  if (mit->empty()) bad_request("'messages' must not be empty");
  std::map<std::string, std::string> tool_names;  // tool_use id -> name
  for (const auto& m : *mit) {
    if (!m.is_object()) bad_request("each message must be an object");
    const std::string role = get_string(m, "role").value_or("");
    if (role != "user" && role != "assistant") bad_request("message 'role' must be 'user' or 'assistant'");
    auto cit = m.find("content");
    if (cit == m.end() || cit->is_null()) bad_request("message 'content' is required");
    const json& content = *cit;
    if (content.is_string()) {
      out.push_back({.role = role, .content = content.get<std::string>()});
      continue;
    }
    if (!content.is_array()) bad_request("message 'content' must be a string or an array of content blocks");
    ChatMessage msg{.role = role};
    for (const auto& b : content) {
      if (!b.is_object()) bad_request("content blocks must be objects");
      const std::string type = get_string(b, "type").value_or("");
      if (type == "text") {
        msg.content += get_string(b, "text").value_or("");
      } else if (type == "thinking" && role == "assistant") {
        msg.reasoning_content += get_string(b, "thinking").value_or("");
      } else if (type == "redacted_thinking" && role == "assistant") {
      } else if (type == "tool_use" && role == "assistant") {
        ToolCall c;
        c.id = get_string(b, "id").value_or("");
        c.name = get_string(b, "name").value_or("");
        if (c.name.empty()) bad_request("tool_use blocks need a 'name'");
        const json input = b.contains("input") && !b["input"].is_null() ? b["input"] : json::object();
        if (!input.is_object()) bad_request("tool_use 'input' must be an object");
        c.arguments = dump(input);
        tool_names[c.id] = c.name;
        msg.tool_calls.push_back(std::move(c));
      } else if (type == "tool_result" && role == "user") {
        ChatMessage t{.role = "tool"};
        t.tool_call_id = get_string(b, "tool_use_id").value_or("");
        t.name = tool_names.count(t.tool_call_id) ? tool_names[t.tool_call_id] : "";
        t.content = b.contains("content") ? text_of_blocks(b["content"], "tool_result 'content'") : "";
        out.push_back(std::move(t));
      } else {
        bad_request("content block type '" + type + "' is not supported in a " + role + " message");
      }
    }
    if (role == "assistant" || !msg.content.empty()) out.push_back(std::move(msg));
  }
  return out;
}

json to_openai_tools(const json& body, bool& none, bool& any, std::string& only) {
  auto it = body.find("tools");
  json tools = nullptr;
  if (it != body.end() && !it->is_null()) {
    if (!it->is_array()) bad_request("'tools' must be an array");
    tools = json::array();
    for (const auto& t : *it) {
      if (!t.is_object()) bad_request("each tool must be an object");
      auto name = get_string(t, "name");
      if (!name || name->empty()) bad_request("each tool needs a 'name'");
      json f = {{"name", *name}};
      if (auto d = get_string(t, "description")) f["description"] = *d;
      f["parameters"] = t.contains("input_schema") ? t["input_schema"] : json{{"type", "object"}};
      tools.push_back({{"type", "function"}, {"function", f}});
    }
  }
  if (auto tc = body.find("tool_choice"); tc != body.end() && !tc->is_null()) {
    if (!tc->is_object()) bad_request("'tool_choice' must be an object");
    const std::string type = get_string(*tc, "type").value_or("");
    if (type == "none") none = true;
    else if (type == "any") any = true;
    else if (type == "tool") only = get_string(*tc, "name").value_or("");
    else if (type != "auto" && type != "any") bad_request("'tool_choice.type' must be auto, any, tool or none");
    if (type == "tool" && only.empty()) bad_request("'tool_choice.name' is required for type 'tool'");
  }
  return tools;
}

// Anthropic's split of the prompt: input_tokens are those computed, cache_read_input_tokens those the
// prefix cache supplied (their sum is the prompt).
json usage_json(const GenEvent& ev) {
  return {{"input_tokens", ev.n_prompt - ev.n_cached},
          {"cache_creation_input_tokens", 0},
          {"cache_read_input_tokens", ev.n_cached},
          {"output_tokens", ev.n_generated}};
}

json tool_use_block(const ToolCall& c) {
  // The arguments were checked when the call was parsed or received (chat_json_parse).
  json input = json::parse(c.arguments, nullptr, false);
  if (input.is_discarded() || !input.is_object()) input = json::object();
  return {{"type", "tool_use"}, {"id", c.id}, {"name", c.name}, {"input", input}};
}

const char* stop_reason(const GenEvent& ev, bool tool_use) {
  if (tool_use) return "tool_use";
  if (ev.finish == FinishReason::Length) return "max_tokens";
  if (!ev.stop_string.empty()) return "stop_sequence";
  return "end_turn";
}

}  // namespace

MessagesRequest parse_messages_request(const RequestEnv& env, const json& body, bool for_generation) {
  auto msgs = to_chat_messages(body);
  bool none = false, any = false;
  std::string only;
  MessagesRequest p;
  json tools = to_openai_tools(body, none, any, only);  // sets none / any / only
  p.tools = select_tools(tools, none, only);
  p.forced = forced_tool_call(env.format, p.tools, any || !only.empty(), only);
  ChatPrompt prompt = chat_render_prompt(env.format, msgs, nlohmann::ordered_json(p.tools));
  prompt.add(p.forced);
  // Message text cannot write control tokens; a prompt that cannot fit the context is not tokenized whole
  // (count_tokens counts all).
  p.req.prompt = env.tok.encode(prompt.text, prompt.plain, for_generation ? size_t(env.n_ctx) : SIZE_MAX);
  if (!for_generation) return p;
  parse_sampling(body, p.req);
  p.req.stop = get_string_list(body, "stop_sequences");
  p.req.stop_ids = env.end_ids;
  parse_ignore_eos(body, p.req);
  parse_max_tokens(env.n_ctx, body, p.req, {"max_tokens"}, true);
  p.stream = get_bool(body, "stream").value_or(false);
  return p;
}

namespace {

void messages(ServerContext& ctx, const httplib::Request& http_req, const json& body, httplib::Response& res) {
  MessagesRequest p = parse_messages_request(ctx.request_env(), body);
  const bool stream = p.stream;
  const int64_t n_prompt = int64_t(p.req.prompt.size());
  auto h = ctx.engine.submit(std::move(p.req));
  const std::string id = random_id("msg_");
  const bool reasoning_first = chat_starts_in_reasoning(ctx.format);

  if (!stream) {
    GenEvent ev = h->wait_all(client_gone_probe(ctx, http_req));
    if (ev.finish == FinishReason::Error) throw ApiError(500, "api_error", "generation failed: " + ev.error);
    if (ev.finish == FinishReason::Cancelled) throw ApiError(503, "overloaded_error", cancelled_message(ctx));
    ChatOutputParser parser(ctx.format, p.tools, reasoning_first);
    ChatResult r;
    add_chat_events(r, parser.feed(p.forced + ev.text));
    add_chat_events(r, parser.finish());
    json content = json::array();
    if (!r.reasoning.empty()) content.push_back({{"type", "thinking"}, {"thinking", r.reasoning}, {"signature", thinking_signature(r.reasoning)}});
    if (!r.content.empty() || r.calls.empty()) content.push_back({{"type", "text"}, {"text", r.content}});
    for (const auto& c : r.calls) content.push_back(tool_use_block(c));
    send_json(res, {{"id", id},
                    {"type", "message"},
                    {"role", "assistant"},
                    {"model", ctx.opts.model_name},
                    {"content", content},
                    {"stop_reason", stop_reason(ev, !r.calls.empty())},
                    {"stop_sequence", ev.stop_string.empty() ? json(nullptr) : json(ev.stop_string)},
                    {"usage", usage_json(ev)}});
    return;
  }

  struct State {
    explicit State(ChatOutputParser p) : parser(std::move(p)) {}
    ChatOutputParser parser;
    bool started = false, any_tool = false;
    int index = -1;       // index of the open block
    std::string open;     // type of the open block ("" when none)
    std::string forced;   // fed to the parser ahead of the first output
    std::string thinking;  // the open thinking block's text, signed when it closes
  };
  auto st = std::make_shared<State>(ChatOutputParser(ctx.format, p.tools, reasoning_first));
  st->forced = p.forced;
  stream_sse(ctx, res, h, client_gone_probe(ctx, http_req), [&ctx, st, id, n_prompt](const GenEvent& ev) {
    std::string out;
    if (!st->started) {
      st->started = true;
      out += sse("message_start", {{"type", "message_start"},
                                   {"message",
                                    {{"id", id},
                                     {"type", "message"},
                                     {"role", "assistant"},
                                     {"model", ctx.opts.model_name},
                                     {"content", json::array()},
                                     {"stop_reason", nullptr},
                                     {"stop_sequence", nullptr},
                                     {"usage",
                                      {{"input_tokens", n_prompt - ev.n_cached},
                                       {"cache_creation_input_tokens", 0},
                                       {"cache_read_input_tokens", ev.n_cached},
                                       {"output_tokens", 0}}}}}});
    }
    if (ev.done && (ev.finish == FinishReason::Error || ev.finish == FinishReason::Cancelled)) {
      const bool failed = ev.finish == FinishReason::Error;
      return out + sse("error", {{"type", "error"},
                                 {"error", {{"type", failed ? "api_error" : "overloaded_error"},
                                            {"message", failed ? "generation failed: " + ev.error : cancelled_message(ctx)}}}});
    }
    auto close = [&] {
      if (st->open.empty()) return;
      if (st->open == "thinking")  // a thinking block ends with its signature
        out += sse("content_block_delta", {{"type", "content_block_delta"}, {"index", st->index},
                                           {"delta", {{"type", "signature_delta"},
                                                      {"signature", thinking_signature(std::exchange(st->thinking, {}))}}}});
      out += sse("content_block_stop", {{"type", "content_block_stop"}, {"index", st->index}});
      st->open.clear();
    };
    auto open = [&](const std::string& type, json block) {
      close();
      st->open = type;
      ++st->index;
      out += sse("content_block_start", {{"type", "content_block_start"}, {"index", st->index}, {"content_block", block}});
    };
    auto delta = [&](json d) {
      out += sse("content_block_delta", {{"type", "content_block_delta"}, {"index", st->index}, {"delta", d}});
    };
    auto evs = st->parser.feed(std::exchange(st->forced, {}) + ev.text);
    if (ev.done)
      for (auto& e : st->parser.finish()) evs.push_back(std::move(e));
    for (const auto& e : evs) {
      if (e.kind == ChatEvent::Reasoning) {
        if (st->open != "thinking") open("thinking", {{"type", "thinking"}, {"thinking", ""}});
        st->thinking += e.text;
        delta({{"type", "thinking_delta"}, {"thinking", e.text}});
      } else if (e.kind == ChatEvent::Content) {
        if (st->open != "text") open("text", {{"type", "text"}, {"text", ""}});
        delta({{"type", "text_delta"}, {"text", e.text}});
      } else {
        st->any_tool = true;
        open("tool_use", {{"type", "tool_use"}, {"id", e.call.id}, {"name", e.call.name}, {"input", json::object()}});
        delta({{"type", "input_json_delta"}, {"partial_json", dump(tool_use_block(e.call)["input"])}});
        close();
      }
    }
    if (ev.done) {
      if (st->index < 0) open("text", {{"type", "text"}, {"text", ""}});  // always at least one block
      close();
      out += sse("message_delta", {{"type", "message_delta"},
                                   {"delta", {{"stop_reason", stop_reason(ev, st->any_tool)},
                                              {"stop_sequence", ev.stop_string.empty() ? json(nullptr) : json(ev.stop_string)}}},
                                   {"usage", {{"output_tokens", ev.n_generated}}}});
      out += sse("message_stop", {{"type", "message_stop"}});
    }
    return out;
  });
}

}  // namespace

void register_anthropic_routes(httplib::Server& svr, ServerContext& ctx) {
  svr.Post("/v1/messages", [&ctx](const httplib::Request& req, httplib::Response& res) {
    handle(ctx, Api::Anthropic, req, res, [&](const json& body) { messages(ctx, req, body, res); });
  });
  svr.Post("/v1/messages/count_tokens", [&ctx](const httplib::Request& req, httplib::Response& res) {
    handle(ctx, Api::Anthropic, req, res, [&](const json& body) {
      MessagesRequest p = parse_messages_request(ctx.request_env(), body, false);
      send_json(res, {{"input_tokens", int64_t(p.req.prompt.size())}});
    });
  });
}

}  // namespace mm::server
