// The HTTP routes over a scripted model whose output is fixed text (reasoning, answer, a tool call,
// multi-byte UTF-8), served in-process and called over HTTP: structured tool_calls / tool_use blocks,
// reasoning split from content, streaming deltas that never split UTF-8.
#include <gtest/gtest.h>

#include "server_test_util.h"

using namespace mm;
using json = nlohmann::json;

using namespace mm_test;

TEST_F(ServerFixture, OpenAIChatToolCall) {
  auto r = post("/v1/chat/completions", {{"messages", user_msgs()}, {"tools", kTools}, {"max_tokens", 200}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  const json& m = j["choices"][0]["message"];
  EXPECT_EQ(j["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_EQ(m["reasoning_content"], "Let me think: café 日本.");
  EXPECT_EQ(m["content"], "Sure, checking é🙂.");
  ASSERT_EQ(m["tool_calls"].size(), 1u);
  EXPECT_EQ(m["tool_calls"][0]["type"], "function");
  EXPECT_EQ(m["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(json::parse(m["tool_calls"][0]["function"]["arguments"].get<std::string>()), json({{"city", "Paris"}}));
  EXPECT_FALSE(m["tool_calls"][0]["id"].get<std::string>().empty());
  EXPECT_EQ(j["usage"]["completion_tokens"].get<int64_t>(), int64_t(tok_->encode(kOutput).size()) + 1);
}

TEST_F(ServerFixture, OpenAIChatToolCallStreaming) {
  auto r = post("/v1/chat/completions", {{"messages", user_msgs()}, {"tools", kTools}, {"max_tokens", 200}, {"stream", true},
                                         {"stream_options", {{"include_usage", true}}}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  bool done = false;
  auto evs = sse_events(r->body, &done);
  EXPECT_TRUE(done);
  std::string reasoning, content, finish;
  json calls = json::array();
  int n_reasoning_chunks = 0;
  for (const auto& e : evs) {
    if (e.contains("usage")) {
      EXPECT_TRUE(e["choices"].empty());
      continue;
    }
    const json& c = e["choices"][0];
    const json& d = c["delta"];
    if (d.contains("reasoning_content")) {
      reasoning += d["reasoning_content"].get<std::string>(), ++n_reasoning_chunks;
      EXPECT_TRUE(valid_utf8(d["reasoning_content"].get<std::string>()));
    }
    if (d.contains("content")) content += d["content"].get<std::string>();
    if (d.contains("tool_calls")) calls.push_back(d["tool_calls"][0]);
    if (!c["finish_reason"].is_null()) finish = c["finish_reason"];
  }
  EXPECT_GT(n_reasoning_chunks, 1);  // really streamed
  EXPECT_EQ(reasoning, "Let me think: café 日本.");
  EXPECT_EQ(content, "Sure, checking é🙂.");
  EXPECT_EQ(finish, "tool_calls");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0]["index"], 0);
  EXPECT_EQ(calls[0]["function"]["name"], "get_weather");
  EXPECT_TRUE(evs.back().contains("usage"));
}

TEST_F(ServerFixture, AnthropicToolUse) {
  auto r = post("/v1/messages", {{"model", "x"}, {"max_tokens", 200}, {"messages", user_msgs()},
                                 {"tools", json::array({{{"name", "get_weather"}, {"input_schema", {{"type", "object"}}}}})}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["stop_reason"], "tool_use");
  ASSERT_EQ(j["content"].size(), 3u) << j.dump();
  EXPECT_EQ(j["content"][0]["type"], "thinking");
  EXPECT_EQ(j["content"][0]["thinking"], "Let me think: café 日本.");
  // Signed (a keyed hash under this process's key, base64 of 32 bytes), the same for the same thinking.
  const std::string sig = j["content"][0]["signature"];
  EXPECT_EQ(sig.size(), 44u) << sig;
  EXPECT_EQ(sig.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="), std::string::npos);
  auto again = post("/v1/messages", {{"model", "x"}, {"max_tokens", 200}, {"messages", user_msgs()}});
  ASSERT_TRUE(again);
  EXPECT_EQ(json::parse(again->body)["content"][0]["signature"], sig);
  EXPECT_EQ(j["content"][1]["type"], "text");
  EXPECT_EQ(j["content"][1]["text"], "Sure, checking é🙂.");
  EXPECT_EQ(j["content"][2]["type"], "tool_use");
  EXPECT_EQ(j["content"][2]["name"], "get_weather");
  EXPECT_EQ(j["content"][2]["input"], json({{"city", "Paris"}}));
}

TEST_F(ServerFixture, AnthropicToolUseStreaming) {
  auto r = post("/v1/messages", {{"model", "x"}, {"max_tokens", 200}, {"messages", user_msgs()}, {"stream", true},
                                 {"tools", json::array({{{"name", "get_weather"}, {"input_schema", {{"type", "object"}}}}})}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  auto evs = sse_events(r->body);
  ASSERT_GE(evs.size(), 6u);
  EXPECT_EQ(evs.front()["type"], "message_start");
  EXPECT_EQ(evs.back()["type"], "message_stop");
  std::map<int, std::string> block_type, block_text;
  std::string stop_reason, signature;
  for (size_t i = 0; i < evs.size(); ++i) {
    const json& e = evs[i];
    // A thinking block ends with a signature_delta, right before its content_block_stop.
    if (e["type"] == "content_block_delta" && e["delta"]["type"] == "signature_delta") {
      EXPECT_EQ(e["index"], 0);
      signature = e["delta"]["signature"];
      ASSERT_LT(i + 1, evs.size());
      EXPECT_EQ(evs[i + 1]["type"], "content_block_stop");
      EXPECT_EQ(evs[i + 1]["index"], 0);
      continue;
    }
    if (e["type"] == "content_block_start") block_type[e["index"]] = e["content_block"]["type"];
    if (e["type"] == "content_block_delta") {
      const json& d = e["delta"];
      const std::string piece = d.contains("thinking") ? d["thinking"] : d.contains("text") ? d["text"] : d["partial_json"];
      EXPECT_TRUE(valid_utf8(piece));
      block_text[e["index"]] += piece;
    }
    if (e["type"] == "message_delta") stop_reason = e["delta"]["stop_reason"];
  }
  ASSERT_EQ(block_type.size(), 3u);
  EXPECT_EQ(block_type[0], "thinking");
  EXPECT_EQ(block_text[0], "Let me think: café 日本.");
  EXPECT_EQ(block_type[1], "text");
  EXPECT_EQ(block_text[1], "Sure, checking é🙂.");
  EXPECT_EQ(block_type[2], "tool_use");
  EXPECT_EQ(json::parse(block_text[2]), json({{"city", "Paris"}}));
  EXPECT_EQ(stop_reason, "tool_use");
  // The same signature as the non-streaming reply's for the same thinking.
  auto plain = post("/v1/messages", {{"model", "x"}, {"max_tokens", 200}, {"messages", user_msgs()}});
  ASSERT_TRUE(plain);
  EXPECT_EQ(signature.size(), 44u);
  EXPECT_EQ(json::parse(plain->body)["content"][0]["signature"], signature);
}

TEST_F(ServerFixture, CompletionsStreamNeverSplitsUtf8) {
  auto r = post("/v1/completions", {{"prompt", "x"}, {"max_tokens", 200}, {"stream", true}});
  ASSERT_TRUE(r);
  std::string all;
  for (const auto& e : sse_events(r->body)) {
    if (e["choices"].empty()) continue;
    const std::string t = e["choices"][0]["text"];
    EXPECT_TRUE(valid_utf8(t));
    all += t;
  }
  // Text-01 completions stop at eos only, so the chat end token shows (as its text) and the script repeats it.
  EXPECT_EQ(all.substr(0, kOutput.size()), kOutput);
}

// tool_choice "required" / a named function (Anthropic "any" / "tool"): the server starts the reply
// inside a call (Text01: `<tool_calls>\n{"name": "` ...), so a model that only continues it still
// yields a structured call. This scripted model says the rest of a call after any prompt.
class ForcedToolFixture : public ServerFixture {
 protected:
  std::string output() const override { return "get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_calls>"; }
};

TEST_F(ForcedToolFixture, OpenAIRequiredStartsTheReplyWithACall) {
  auto call = [&](const json& choice, bool stream) {
    json body = {{"messages", user_msgs()}, {"tools", kTools}, {"max_tokens", 200}, {"stream", stream}};
    if (!choice.is_null()) body["tool_choice"] = choice;
    auto r = post("/v1/chat/completions", body);
    EXPECT_TRUE(r && r->status == 200) << (r ? r->body : "no response");
    return r ? r->body : std::string();
  };
  json req = json::parse(call("required", false));
  const json& m = req["choices"][0]["message"];
  EXPECT_EQ(req["choices"][0]["finish_reason"], "tool_calls") << req.dump();
  ASSERT_EQ(m["tool_calls"].size(), 1u) << req.dump();
  EXPECT_EQ(m["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(json::parse(m["tool_calls"][0]["function"]["arguments"].get<std::string>()), json({{"city", "Paris"}}));
  EXPECT_TRUE(m["content"].is_null());
  // The forced start is part of the prompt.
  json plain = json::parse(call(nullptr, false));
  EXPECT_GT(req["usage"]["prompt_tokens"].get<int64_t>(), plain["usage"]["prompt_tokens"].get<int64_t>());
  EXPECT_FALSE(plain["choices"][0]["message"].contains("tool_calls"));  // "auto": the same output is just text

  // Streaming gives the same call.
  json calls = json::array();
  for (const auto& e : sse_events(call("required", true)))
    if (!e["choices"].empty() && e["choices"][0]["delta"].contains("tool_calls")) calls.push_back(e["choices"][0]["delta"]["tool_calls"][0]);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0]["function"]["name"], "get_weather");
}

TEST_F(ForcedToolFixture, AnthropicAnyStartsTheReplyWithACall) {
  auto r = post("/v1/messages", {{"model", "x"}, {"max_tokens", 200}, {"messages", user_msgs()},
                                 {"tool_choice", {{"type", "any"}}},
                                 {"tools", json::array({{{"name", "get_weather"}, {"input_schema", {{"type", "object"}}}}})}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["stop_reason"], "tool_use");
  ASSERT_EQ(j["content"].size(), 1u) << j.dump();
  EXPECT_EQ(j["content"][0]["type"], "tool_use");
  EXPECT_EQ(j["content"][0]["name"], "get_weather");
  EXPECT_EQ(j["content"][0]["input"], json({{"city", "Paris"}}));
  // Forcing a call without tools is a request error.
  auto bad = post("/v1/chat/completions", {{"messages", user_msgs()}, {"tool_choice", "required"}});
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400) << bad->body;
}

TEST(ChatForcedToolCall, NamedPrefixesParseIntoCalls) {
  // A named function's forced start + the model's arguments parse into one call in both formats.
  for (ChatFormat fmt : {ChatFormat::Text01, ChatFormat::M2}) {
    const std::string named = chat_forced_tool_call(fmt, "get_weather");
    const std::string rest = fmt == ChatFormat::M2
                                 ? "<parameter name=\"city\">Paris</parameter>\n</invoke>\n</minimax:tool_call>"
                                 : "{\"city\": \"Paris\"}}\n</tool_calls>";
    ChatOutputParser p(fmt, kTools, fmt == ChatFormat::M2);
    auto evs = p.parse_all(named + rest);
    std::vector<ToolCall> calls;
    for (auto& e : evs)
      if (e.kind == ChatEvent::ToolCall) calls.push_back(e.call);
    ASSERT_EQ(calls.size(), 1u) << int(fmt);
    EXPECT_EQ(calls[0].name, "get_weather");
    EXPECT_EQ(json::parse(calls[0].arguments), json({{"city", "Paris"}}));
  }
}

// ---- hostile requests (issue #15): each must get a 4xx and leave the server serving --------------

namespace {
std::string nested(const std::string& open, const std::string& close, int depth, const std::string& core) {
  std::string s;
  s.reserve(size_t(depth) * (open.size() + close.size()) + core.size());
  for (int i = 0; i < depth; ++i) s += open;
  s += core;
  for (int i = 0; i < depth; ++i) s += close;
  return s;
}
}  // namespace

TEST_F(ServerFixture, DeeplyNestedJsonIsRejectedNotACrash) {
  httplib::Client c("127.0.0.1", port_);
  c.set_read_timeout(20, 0);
  const std::string deep = nested("[", "]", 200000, "1");
  const std::vector<std::pair<std::string, std::string>> bodies = {
      {"/v1/chat/completions", R"({"messages":[{"role":"user","content":)" + deep + "}]}"},
      {"/v1/chat/completions", R"({"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function",)"
                               R"("function":{"name":"f","parameters":)" + nested("{\"a\":", "}", 100000, "1") + "}}]}"},
      {"/v1/messages", R"({"max_tokens":5,"messages":[{"role":"user","content":)" + deep + "}]}"},
      {"/v1/messages/count_tokens", R"({"messages":[{"role":"user","content":)" + deep + "}]}"},
  };
  for (const auto& [path, body] : bodies) {
    auto r = c.Post(path.c_str(), body, "application/json");
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 400) << path << ": " << r->body.substr(0, 200);
    EXPECT_NE(r->body.find("deeper than"), std::string::npos) << r->body.substr(0, 200);
  }
  // Arguments given as a string holding deep JSON (parsed a second time by the chat renderer).
  json msgs = json::array({{{"role", "user"}, {"content", "hi"}},
                           {{"role", "assistant"},
                            {"content", ""},
                            {"tool_calls", json::array({{{"id", "c1"},
                                                          {"type", "function"},
                                                          {"function", {{"name", "f"}, {"arguments", nested("[", "]", 100000, "")}}}}})}},
                           {{"role", "tool"}, {"tool_call_id", "c1"}, {"content", "ok"}}});
  auto r = post("/v1/chat/completions", {{"messages", msgs}, {"max_tokens", 5}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body.substr(0, 300);
  // Still serving; nesting within the limit is fine.
  auto ok = post("/v1/chat/completions",
                 {{"messages", user_msgs()}, {"max_tokens", 5}, {"metadata", json::parse(nested("[", "]", 100, "1"))}});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body.substr(0, 300);
}

TEST_F(ServerFixture, HugeMaxTokensIsA400NotAnOverflow) {
  for (const char* path : {"/v1/chat/completions", "/v1/messages"}) {
    auto r = post(path, {{"messages", user_msgs()}, {"max_tokens", INT64_MAX}});
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 400) << path << ": " << r->body;
    EXPECT_NE(r->body.find("exceeds the context size"), std::string::npos) << r->body;
  }
}

TEST_F(ServerFixture, SecondServerOnTheSamePortFailsToBind) {
  server::ServerOptions o;
  o.port = port_;
  o.model_name = "second";
  server::Server second(*engine_, ChatFormat::Text01, std::vector<int32_t>{}, o);
  EXPECT_THROW(second.bind(), Error);
}

// The API key: the Bearer scheme is case-insensitive (RFC 9110), x-api-key works too, anything else is 401.
TEST_F(ServerFixture, ApiKeySchemeIsCaseInsensitive) {
  server::ServerOptions o;
  o.port = 0;
  o.model_name = "keyed";
  o.api_key = "sekret-123";
  server::Server keyed(*engine_, ChatFormat::Text01, std::vector<int32_t>{}, o);
  const int port = keyed.bind();
  std::thread t([&] { keyed.listen(); });
  {
    httplib::Client c("127.0.0.1", port);
    for (int i = 0; i < 500 && !c.Get("/health"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto get = [&](const std::string& header, const std::string& value) {
    httplib::Client c("127.0.0.1", port);
    httplib::Headers h;
    if (!header.empty()) h.emplace(header, value);
    auto r = c.Get("/v1/models", h);
    return r ? r->status : -1;
  };
  EXPECT_EQ(get("", ""), 401);
  EXPECT_EQ(get("Authorization", "Bearer sekret-123"), 200);
  EXPECT_EQ(get("Authorization", "bearer sekret-123"), 200);
  EXPECT_EQ(get("Authorization", "BEARER  sekret-123"), 200);
  EXPECT_EQ(get("Authorization", "Bearer sekret-12"), 401);
  EXPECT_EQ(get("Authorization", "Bearer sekret-1234"), 401);
  EXPECT_EQ(get("Authorization", "Basic sekret-123"), 401);
  EXPECT_EQ(get("x-api-key", "sekret-123"), 200);
  EXPECT_EQ(get("x-api-key", "sekret-124"), 401);
  keyed.stop();
  t.join();
}

// /v1/state/save and /restore: off (404) without --state-dir; with it, file names are checked (no path
// can leave the folder) and engine errors come back as 400s with their message.
TEST_F(ServerFixture, StateEndpointsAreOffWithoutStateDir) {
  auto r = post("/v1/state/save", {{"filename", "a"}, {"tokens", {1, 2}}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404) << r->body;
  EXPECT_NE(r->body.find("--state-dir"), std::string::npos) << r->body;
}

class StateDirServer : public ServerFixture {
  void configure(server::ServerOptions& o) override { o.state_dir = ::testing::TempDir(); }
};

TEST_F(StateDirServer, FileNamesAreCheckedAndEngineErrorsAre400) {
  for (const char* bad : {"../x", "", ".hidden", "a/b", "a b"}) {
    auto r = post("/v1/state/restore", {{"filename", bad}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << bad << ": " << r->body;
    EXPECT_NE(r->body.find("'filename'"), std::string::npos) << r->body;
  }
  auto r = post("/v1/state/save", {{"filename", "ok.state"}, {"tokens", {1, 2, 3}}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;  // this engine runs without a prefix cache
  EXPECT_NE(r->body.find("--cache-ram"), std::string::npos) << r->body;
  r = post("/v1/state/save", {{"filename", "ok.state"}, {"tokens", "nope"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
}
