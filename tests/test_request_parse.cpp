// The request parsers of the HTTP APIs (server/request_parse.h) on their own: no server, no engine.
#include <gtest/gtest.h>

#include "convert/random_tokenizer.h"
#include "server/request_parse.h"

using namespace mm;
using namespace mm::server;

namespace {

const Tokenizer& tok() {
  static const auto t = Tokenizer::from_json_string(make_random_model_tokenizer(512).dump());
  return *t;
}

RequestEnv env(ChatFormat fmt = ChatFormat::Text01) {
  return {.format = fmt, .tok = tok(), .n_ctx = 4096, .vocab_size = tok().vocab_size(), .eos_ids = {7}, .end_ids = {7, 8}};
}

int status_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ApiError& e) {
    return e.status;
  }
  return 200;
}

}  // namespace

TEST(RequestParse, BodyMustBeAJsonObject) {
  EXPECT_EQ(parse_body_text(R"({"a": 1})")["a"], 1);
  EXPECT_EQ(status_of([] { parse_body_text("[1]"); }), 400);
  EXPECT_EQ(status_of([] { parse_body_text("{"); }), 400);
  EXPECT_EQ(status_of([] { parse_body_text(std::string(200, '[') + std::string(200, ']')); }), 400);
}

// fuzz_server_requests finding: a number too large for a double makes json::parse throw out_of_range, not
// parse_error; it escaped parse_body's catch and the server answered 500 instead of 400.
TEST(RequestParse, NumberTooLargeIsABadRequest) {
  EXPECT_EQ(status_of([] { parse_body_text(R"({"messages": [{"role": 1e3087777, "content": "x"}]})"); }), 400);
  EXPECT_EQ(status_of([] { parse_body_text(R"({"max_tokens": -1e400})"); }), 400);
}

TEST(RequestParse, ChatCompletion) {
  const json body = parse_body_text(R"({"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 5,
      "temperature": 0.5, "stop": "x", "stream": true, "stream_options": {"include_usage": true},
      "logprobs": true, "top_logprobs": 3})");
  for (ChatFormat fmt : {ChatFormat::Text01, ChatFormat::M2}) {
    const ChatCompletionRequest r = parse_chat_completion_request(env(fmt), body);
    EXPECT_FALSE(r.req.prompt.empty());
    EXPECT_EQ(r.req.max_tokens, 5);
    EXPECT_FLOAT_EQ(r.req.sampling.temperature, 0.5f);
    EXPECT_EQ(r.req.stop, std::vector<std::string>{"x"});
    EXPECT_EQ(r.req.stop_ids, (std::vector<int32_t>{7, 8}));
    EXPECT_EQ(r.req.top_logprobs, 3);
    EXPECT_TRUE(r.logprobs && r.stream && r.include_usage);
    EXPECT_TRUE(r.forced.empty());
  }
  EXPECT_EQ(status_of([] { parse_chat_completion_request(env(), parse_body_text(R"({"messages": []})")); }), 400);
  EXPECT_EQ(status_of([] {
              parse_chat_completion_request(env(), parse_body_text(R"({"messages": [{"role": "user", "content": "x"}],
                                                                      "max_tokens": 5000})"));
            }),
            400);  // more than the context
}

TEST(RequestParse, CompletionPromptIdsAndDefaults) {
  const CompletionRequest r =
      parse_completion_request(env(), parse_body_text(R"({"prompt": [1, 2, 3], "logprobs": 2, "echo": true})"));
  EXPECT_EQ(r.req.prompt, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(r.req.max_tokens, 16);  // the API's default
  EXPECT_EQ(r.req.stop_ids, std::vector<int32_t>{7});
  EXPECT_EQ(r.n_logprobs, 2);
  EXPECT_TRUE(r.echo);
  EXPECT_EQ(status_of([] { parse_completion_request(env(), parse_body_text(R"({"prompt": [512]})")); }), 400);
  EXPECT_EQ(status_of([] { parse_completion_request(env(), parse_body_text(R"({"prompt": ""})")); }), 400);
}

TEST(RequestParse, Messages) {
  const json body = parse_body_text(R"({"max_tokens": 4, "system": "Be brief.", "stream": true,
      "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
      "tools": [{"name": "f", "input_schema": {"type": "object"}}], "tool_choice": {"type": "any"}})");
  for (ChatFormat fmt : {ChatFormat::Text01, ChatFormat::M2}) {
    const MessagesRequest r = parse_messages_request(env(fmt), body);
    EXPECT_EQ(r.req.max_tokens, 4);
    EXPECT_TRUE(r.stream);
    EXPECT_FALSE(r.forced.empty());  // "any": the reply starts inside a call
    EXPECT_EQ(r.tools.size(), 1u);
    EXPECT_EQ(parse_messages_request(env(fmt), body, false).req.prompt, r.req.prompt);
  }
  EXPECT_EQ(status_of([] {
              parse_messages_request(env(), parse_body_text(R"({"messages": [{"role": "user", "content": "x"}]})"));
            }),
            400);  // max_tokens is required
}
