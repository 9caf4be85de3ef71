// Output parsers: reasoning / content / tool calls for both formats, complete and streamed at every split.
#include <gtest/gtest.h>

#include <ostream>
#include <random>

#include "chat/chat.h"

using mm::ChatEvent;
using mm::ChatFormat;
using nlohmann::json;

namespace {

// An event with deltas merged: kind R(easoning), C(ontent) or T(ool call) and its text or call.
struct Ev {
  char kind;
  std::string text;
  std::string name, args, id;
  bool operator==(const Ev&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Ev& e) {
  os << e.kind << "{" << json(e.text).dump();
  if (e.kind == 'T') os << " " << e.name << " " << e.args << " " << e.id;
  return os << "}";
}
Ev R(std::string t) { return {'R', std::move(t), "", "", ""}; }
Ev C(std::string t) { return {'C', std::move(t), "", "", ""}; }
Ev T(std::string name, std::string args) { return {'T', "", std::move(name), std::move(args), ""}; }

void append(std::vector<Ev>& out, const std::vector<ChatEvent>& evs) {
  for (const auto& e : evs) {
    char k = e.kind == ChatEvent::Reasoning ? 'R' : e.kind == ChatEvent::Content ? 'C' : 'T';
    if (k != 'T' && !out.empty() && out.back().kind == k) {
      out.back().text += e.text;
    } else {
      out.push_back(k == 'T' ? Ev{k, "", e.call.name, e.call.arguments, e.call.id} : Ev{k, e.text, "", "", ""});
    }
  }
}
std::vector<Ev> without_ids(std::vector<Ev> v) {
  for (auto& e : v) e.id.clear();
  return v;
}

const char* kTags[] = {"<think>",      "</think>", "<tool_calls>", "</tool_calls>", "<minimax:tool_call>",
                       "</minimax:tool_call>"};

// A text delta must never contain a tag or end in the beginning of one.
void check_delta(const std::string& d, const std::string& ctx) {
  for (std::string_view tag : kTags) {
    ASSERT_EQ(d.find(tag), std::string::npos) << ctx << " delta " << json(d).dump();
    for (size_t k = 1; k < tag.size() && k <= d.size(); ++k)
      ASSERT_NE(d.substr(d.size() - k), tag.substr(0, k)) << ctx << " delta " << json(d).dump();
  }
}

struct Sample {
  ChatFormat fmt;
  bool reasoning_first;
  std::string text;
  std::vector<Ev> expected;
  bool well_formed = true;  // tags never reach text deltas
};

json weather_tools() {
  return json::parse(R"([
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {
      "city": {"type": "string"}, "days": {"type": "integer"}, "zip": {"type": "string"},
      "metric": {"type": "boolean"}, "opts": {"type": "object"}, "hours": {"type": ["array", "null"]},
      "scale": {"type": "number"}}}}},
    {"name": "get_time", "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}}
  ])");
}

std::vector<Sample> samples() {
  std::vector<Sample> s;
  // M2: reasoning (prompt opened <think>), content, two invokes; string value wrapped in newlines.
  s.push_back({ChatFormat::M2, true,
               "The user wants weather.\nI will call the tool.\n</think>\n\nLet me check.\n<minimax:tool_call>\n"
               "<invoke name=\"get_weather\">\n<parameter name=\"city\">Paris</parameter>\n"
               "<parameter name=\"days\">3</parameter>\n</invoke>\n<invoke name=\"get_time\">\n"
               "<parameter name=\"tz\">\nEurope/Paris\n</parameter>\n</invoke>\n</minimax:tool_call>",
               {R("The user wants weather.\nI will call the tool."), C("Let me check."),
                T("get_weather", "{\"city\": \"Paris\", \"days\": 3}"), T("get_time", "{\"tz\": \"Europe/Paris\"}")}});
  // M2.5 style: both think tags; content with '<' and '>' that are not tags, and UTF-8.
  s.push_back({ChatFormat::M2, true, "<think>\nshort\n</think>\n\nHello 世界, a<b and c>d, <thinking> x.\n",
               {R("short"), C("Hello 世界, a<b and c>d, <thinking> x.\n")}});
  // M2: typed parameters from the schema; fallbacks to string.
  s.push_back({ChatFormat::M2, true,
               "ok</think><minimax:tool_call><invoke name=\"get_weather\"><parameter name=\"zip\">01234</parameter>"
               "<parameter name=\"days\">soon</parameter><parameter name=\"metric\">True</parameter>"
               "<parameter name=\"opts\">{\"k\": [1, 2]}</parameter><parameter name=\"hours\">null</parameter>"
               "<parameter name=\"scale\">1.5</parameter><parameter name=\"extra\">7</parameter></invoke>"
               "</minimax:tool_call>\n\nDone.",
               {R("ok"),
                T("get_weather",
                  "{\"zip\": \"01234\", \"days\": \"soon\", \"metric\": true, \"opts\": {\"k\": [1, 2]}, \"hours\": null, "
                  "\"scale\": 1.5, \"extra\": \"7\"}"),
                C("Done.")}});
  // M2: only reasoning, never closed.
  s.push_back({ChatFormat::M2, true, "still thinking\n\n", {R("still thinking\n\n")}});
  // M2 without thinking (content mode), newlines inside content kept.
  s.push_back({ChatFormat::M2, false, "Line 1\n\nLine 2\n", {C("Line 1\n\nLine 2\n")}});
  // M2: an unclosed tool-call block comes back as content.
  s.push_back({ChatFormat::M2, true,
               "r</think>ans\n<minimax:tool_call>\n<invoke name=\"f\">\n<parameter name=\"a\">1</parameter>\n",
               {R("r"), C("ans\n<minimax:tool_call>\n<invoke name=\"f\">\n<parameter name=\"a\">1</parameter>\n")},
               false});
  // M2: a closed but malformed block comes back as content, verbatim.
  s.push_back({ChatFormat::M2, true, "x</think><minimax:tool_call>garbage</minimax:tool_call> tail",
               {R("x"), C("<minimax:tool_call>garbage</minimax:tool_call> tail")}, false});
  // Text-01/M1: think block then tool calls (the M1 guide's example output).
  s.push_back({ChatFormat::Text01, false,
               "<think>\nOkay, I will search for the OpenAI and Gemini latest release.\n</think>\n<tool_calls>\n"
               "{\"name\": \"search_web\", \"arguments\": {\"query_tag\": [\"technology\", \"events\"], "
               "\"query_list\": [\"\\\"OpenAI\\\" \\\"latest\\\" \\\"release\\\"\"]}}\n"
               "{\"name\": \"get_time\", \"arguments\": \"{\\\"tz\\\":\\\"UTC\\\"}\"}\n</tool_calls>",
               {R("Okay, I will search for the OpenAI and Gemini latest release."),
                T("search_web",
                  "{\"query_tag\": [\"technology\", \"events\"], \"query_list\": [\"\\\"OpenAI\\\" \\\"latest\\\" "
                  "\\\"release\\\"\"]}"),
                T("get_time", "{\"tz\": \"UTC\"}")}});
  // Text-01: plain answer, then content around a call.
  s.push_back({ChatFormat::Text01, false, "Answer without thinking: 2 < 3.", {C("Answer without thinking: 2 < 3.")}});
  s.push_back({ChatFormat::Text01, false,
               "<think>a\nb</think>\n\nCalling.\n<tool_calls>\n{\"name\": \"f\"}\n</tool_calls>\nAfter.",
               {R("a\nb"), C("Calling."), T("f", "{}"), C("After.")}});
  // Text-01: bad JSON line -> the block is content; unclosed think is reasoning.
  s.push_back({ChatFormat::Text01, false, "<think>r</think>text <tool_calls>\n{bad json}\n</tool_calls> after",
               {R("r"), C("text <tool_calls>\n{bad json}\n</tool_calls> after")}, false});
  s.push_back({ChatFormat::Text01, false, "<think>abc", {R("abc")}});
  s.push_back({ChatFormat::Text01, false, "x<tool_calls>\n{\"name\":", {C("x<tool_calls>\n{\"name\":")}, false});
  // Text-01 told to start in reasoning (prompt ended in <think>): split at </think> without an opening tag.
  s.push_back({ChatFormat::Text01, true, "\nreason\n</think>\nanswer", {R("reason"), C("answer")}});
  // M2: an invoke without a name is malformed.
  s.push_back({ChatFormat::M2, false, "a\n\n<minimax:tool_call><invoke></invoke></minimax:tool_call>",
               {C("a\n\n<minimax:tool_call><invoke></invoke></minimax:tool_call>")}, false});
  return s;
}

std::vector<Ev> run_whole(const Sample& s) {
  mm::ChatOutputParser p(s.fmt, weather_tools(), s.reasoning_first, 42);
  std::vector<Ev> out;
  append(out, p.parse_all(s.text));
  return out;
}

// Feeds the chunks, checks every text delta, returns the merged events.
std::vector<Ev> run_chunks(const Sample& s, const std::vector<std::string_view>& chunks, const std::string& ctx) {
  mm::ChatOutputParser p(s.fmt, weather_tools(), s.reasoning_first, 42);
  std::vector<Ev> out;
  auto take = [&](const std::vector<ChatEvent>& evs) {
    for (const auto& e : evs)
      if (e.kind != ChatEvent::ToolCall) {
        EXPECT_FALSE(e.text.empty()) << ctx;
        if (s.well_formed) check_delta(e.text, ctx);
      }
    append(out, evs);
  };
  for (auto c : chunks) take(p.feed(c));
  take(p.finish());
  return out;
}

}  // namespace

TEST(ChatParser, CompleteOutputs) {
  for (const auto& s : samples()) {
    std::vector<Ev> got = run_whole(s);
    EXPECT_EQ(without_ids(got), s.expected) << json(s.text).dump();
    for (const auto& e : got)
      if (e.kind == 'T') {
        EXPECT_EQ(e.id.rfind("call_", 0), 0u);
        EXPECT_EQ(e.id.size(), 21u);
        EXPECT_TRUE(json::parse(e.args).is_object());
      }
  }
}

TEST(ChatParser, StreamingEverySplitEqualsWhole) {
  for (const auto& s : samples()) {
    const std::vector<Ev> whole = run_whole(s);
    std::string_view t = s.text;
    for (size_t i = 0; i <= t.size(); ++i) {
      std::string ctx = json(s.text).dump() + " split at " + std::to_string(i);
      EXPECT_EQ(run_chunks(s, {t.substr(0, i), t.substr(i)}, ctx), whole) << ctx;
      if (testing::Test::HasFailure()) return;
    }
    std::vector<std::string_view> bytes;
    for (size_t i = 0; i < t.size(); ++i) bytes.push_back(t.substr(i, 1));
    EXPECT_EQ(run_chunks(s, bytes, "byte by byte " + json(s.text).dump()), whole);
  }
}

TEST(ChatParser, StreamingRandomChunksEqualsWhole) {
  std::mt19937 rng(7);
  for (const auto& s : samples()) {
    const std::vector<Ev> whole = run_whole(s);
    std::string_view t = s.text;
    for (int trial = 0; trial < 50; ++trial) {
      std::vector<std::string_view> chunks;
      for (size_t i = 0; i < t.size();) {
        size_t n = std::min<size_t>(t.size() - i, 1 + rng() % 9);
        chunks.push_back(t.substr(i, n));
        i += n;
      }
      EXPECT_EQ(run_chunks(s, chunks, "random chunks"), whole) << json(s.text).dump();
    }
  }
}

TEST(ChatParser, Utf8NeverSplitInsideACharacter) {
  const std::string text = "思考</think>答案：你好";
  mm::ChatOutputParser p(ChatFormat::M2, nullptr, true, 1);
  for (size_t i = 0; i < text.size(); ++i)
    for (const auto& e : p.feed(std::string_view(text).substr(i, 1)))
      EXPECT_NO_THROW((void)json(e.text).dump()) << "delta with a broken UTF-8 sequence";
}

TEST(ChatParser, ToolCallIdsAreSeededAndDistinct) {
  const std::string out = "</think><minimax:tool_call><invoke name=\"a\"></invoke><invoke name=\"b\"></invoke>"
                          "</minimax:tool_call>";
  auto ids = [&](uint64_t seed) {
    mm::ChatOutputParser p(ChatFormat::M2, nullptr, true, seed);
    std::vector<std::string> v;
    for (const auto& e : p.parse_all(out))
      if (e.kind == ChatEvent::ToolCall) v.push_back(e.call.id);
    return v;
  };
  auto a = ids(5), b = ids(5), c = ids(6);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a, b);
  EXPECT_NE(a[0], a[1]);
  EXPECT_NE(a, c);
  EXPECT_NE(ids(0), ids(0));  // random seed
}

TEST(ChatParser, M2WithoutToolsKeepsStrings) {
  mm::ChatOutputParser p(ChatFormat::M2, nullptr, false, 3);
  std::vector<Ev> got;
  append(got, p.parse_all("<minimax:tool_call>\n<invoke name=\"f\">\n<parameter name=\"n\">42</parameter>\n"
                          "<parameter name='q'>\nmulti\nline\n\n</parameter>\n</invoke>\n</minimax:tool_call>"));
  EXPECT_EQ(without_ids(got), (std::vector<Ev>{T("f", "{\"n\": \"42\", \"q\": \"multi\\nline\\n\"}")}));
}

// What the parser returns, rendered back as the last assistant turn, gives the prompt plus the output.
TEST(ChatParser, M2RoundTripThroughRenderer) {
  std::vector<mm::ChatMessage> msgs = {{.role = "user", .content = "Weather?"}};
  const std::string prompt = mm::chat_render(ChatFormat::M2, msgs, weather_tools(), true);
  const std::string output =
      "Need the weather.\n</think>\n\nChecking now.\n<minimax:tool_call>\n<invoke name=\"get_weather\">\n"
      "<parameter name=\"city\">Paris</parameter>\n<parameter name=\"days\">2</parameter>\n"
      "<parameter name=\"opts\">{\"unit\": \"C\"}</parameter>\n</invoke>\n</minimax:tool_call>";
  mm::ChatOutputParser p(ChatFormat::M2, weather_tools(), true, 9);
  mm::ChatMessage turn{.role = "assistant"};
  for (const auto& e : p.parse_all(output)) {
    if (e.kind == ChatEvent::Reasoning) turn.reasoning_content += e.text;
    if (e.kind == ChatEvent::Content) turn.content += e.text;
    if (e.kind == ChatEvent::ToolCall) turn.tool_calls.push_back(e.call);
  }
  msgs.push_back(turn);
  EXPECT_EQ(mm::chat_render(ChatFormat::M2, msgs, weather_tools(), false), prompt + output + "[e~[\n");
}

TEST(ChatParser, RandomGarbageNeverThrows) {
  const std::vector<std::string> pieces = {
      "<think>", "</think>", "<tool_calls>", "</tool_calls>", "<minimax:tool_call>", "</minimax:tool_call>",
      "<invoke name=\"f\">", "<invoke name=", "<parameter name=\"a\">", "</parameter>", "</invoke>", "{", "}",
      "\"name\"", "\"arguments\"", ":", ",", "\n", "x", "<", ">", "/", "\"", "é", "\xff", "\xe4\xb8", "1", "[", "]",
      "{\"name\": \"f\", \"arguments\": {}}", "{\"name\": 5}", "null"};
  std::mt19937 rng(123);
  for (int iter = 0; iter < 1500; ++iter) {
    std::string text;
    int n = rng() % 40;
    for (int i = 0; i < n; ++i) {
      if (rng() % 5 == 0)
        text += static_cast<char>(rng() % 256);
      else
        text += pieces[rng() % pieces.size()];
    }
    for (ChatFormat fmt : {ChatFormat::Text01, ChatFormat::M2})
      for (bool r : {false, true}) {
        Sample s{fmt, r, text, {}, false};
        std::vector<Ev> whole;
        ASSERT_NO_THROW(whole = run_whole(s)) << json(text).dump(-1, ' ', false, json::error_handler_t::replace);
        std::vector<std::string_view> chunks;
        for (size_t i = 0; i < text.size();) {
          size_t k = std::min<size_t>(text.size() - i, 1 + rng() % 6);
          chunks.push_back(std::string_view(text).substr(i, k));
          i += k;
        }
        std::vector<Ev> streamed;
        ASSERT_NO_THROW(streamed = run_chunks(s, chunks, "garbage"));
        ASSERT_EQ(streamed, whole) << json(text).dump(-1, ' ', false, json::error_handler_t::replace);
      }
  }
}

TEST(ChatParser, BadToolsListIsIgnored) {
  mm::ChatOutputParser p(ChatFormat::M2, json::parse(R"({"not": "a list"})"), true, 1);
  std::vector<Ev> got;
  append(got, p.parse_all("a</think>b"));
  EXPECT_EQ(got, (std::vector<Ev>{R("a"), C("b")}));
}
