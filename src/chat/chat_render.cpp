// Prompt rendering for the MiniMax chat formats, written from the released Jinja templates.
//
// Text01 / M1 (MiniMax-AI/MiniMax-M1 tokenizer_config.json, architecture.md §7.2):
//   <begin_of_document>
//   [<beginning_of_sentence>system ai_setting=assistant\n{all system texts concatenated}<end_of_sentence>\n]
//   [<beginning_of_sentence>system tool_setting=tools\nYou are provided with these tools:\n<tools>\n
//    {tojson(tool)}\n ... </tools>\n\nIf you need ... format below:\n<tool_calls>\n{"name": <tool-name-1>,
//    "arguments": <args-json-object-1>}\n...\n</tool_calls><end_of_sentence>\n]
//   user:      <beginning_of_sentence>user name=user\n{text}<end_of_sentence>\n
//   assistant: <beginning_of_sentence>ai name=assistant\n{text}<end_of_sentence>\n
//   tool:      <beginning_of_sentence>tool name=tools\n{"tool name: N\ntool result: R\n\n" per result}<end_of_sentence>\n
//   prompt:    <beginning_of_sentence>ai name=assistant\n
// Where the released template is silent or needs the M1 guide's message shapes, we choose:
//  * tools: the function object is printed (an OpenAI {"type":"function","function":{..}} wrapper is
//    unwrapped), as in the guide's "Internal Model Processing Format" example;
//  * assistant tool calls (the template drops them) are printed in the model's output format after the
//    content: [content + "\n" unless it ends in a newline]<tool_calls>\n{"name": "f", "arguments": {...}}\n
//    ...</tool_calls> (same layout as vLLM's tool_chat_template_minimax_m1.jinja);
//  * reasoning_content of past turns is not printed (the template prints only text parts);
//  * consecutive tool messages form one tool turn (the template's list of results in one message);
//    "tool name: " comes from the message's name, else from the id of the matching earlier tool call; with
//    neither, only "tool result: ..." is printed (the template would fail on a missing name);
//  * the template uses only content[0] of user/system messages; we use all text parts concatenated.
//
// M2 (chat_template.jinja of MiniMax-M2, architecture.md §7.3):
//   ]~!b[]~b]system\n{first message if system, else the default identity}[tools section][e~[\n
//   user:      ]~b]user\n{text}[e~[\n
//   assistant: ]~b]ai\n[<think>\n{reasoning}\n</think>\n\n only after the last user turn]{content}
//              [\n<minimax:tool_call>\n<invoke name="f">\n<parameter name="k">v</parameter>\n...</invoke>\n
//              ...</minimax:tool_call>][e~[\n
//   tool:      ]~b]tool + "\n<response>{text}</response>" per consecutive tool message + [e~[\n
//   prompt:    ]~b]ai\n<think>\n
// Notes: system messages after the first message are not printed (as in the template); tools are printed
// as <tool>{tojson(function)}</tool>\n; parameter values that are strings are printed raw, others as
// tojson; with no reasoning_content, reasoning is split out of content at </think> like the template does;
// a tool message with no earlier tool call is rendered (the template raises an exception).
#include <map>

#include "chat/chat.h"
#include "core/json_depth.h"
#include "core/error.h"

namespace mm {

using ojson = nlohmann::ordered_json;

// ---------------------------------------------------------------------------------------------------
// JSON helpers

static void dumps_into(const ojson& v, std::string& out) {
  switch (v.type()) {
    case ojson::value_t::object: {
      out += '{';
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out += ", ";
        first = false;
        out += ojson(it.key()).dump(-1, ' ', false, ojson::error_handler_t::replace);
        out += ": ";
        dumps_into(it.value(), out);
      }
      out += '}';
      break;
    }
    case ojson::value_t::array: {
      out += '[';
      for (size_t i = 0; i < v.size(); ++i) {
        if (i) out += ", ";
        dumps_into(v[i], out);
      }
      out += ']';
      break;
    }
    default:
      // Scalars: nlohmann writes strings with the same escapes as json.dumps(ensure_ascii=False) and
      // floats in the shortest round-trip form with Python's exponent thresholds.
      out += v.dump(-1, ' ', false, ojson::error_handler_t::replace);
  }
}

nlohmann::ordered_json chat_json_parse(std::string_view text) {
  if (json_nesting_depth(text, kMaxJsonDepth + 1) > kMaxJsonDepth) return nlohmann::ordered_json::value_t::discarded;
  return nlohmann::ordered_json::parse(text, nullptr, false);
}

std::string chat_json_dumps(const ojson& value) {
  std::string out;
  dumps_into(value, out);
  return out;
}

std::vector<ojson> chat_tool_functions(const ojson& tools) {
  std::vector<ojson> fns;
  if (tools.is_null()) return fns;
  if (!tools.is_array()) throw Error("chat: 'tools' must be a JSON array of tool definitions");
  for (size_t i = 0; i < tools.size(); ++i) {
    const ojson& t = tools[i];
    if (t.is_object() && t.contains("function") && t["function"].is_object()) {
      fns.push_back(t["function"]);
    } else if (t.is_object() && t.contains("name") && t["name"].is_string()) {
      fns.push_back(t);
    } else {
      throw Error("chat: tools[" + std::to_string(i) +
                  "] must be {\"type\":\"function\",\"function\":{\"name\":...}} or a function object with a name");
    }
  }
  return fns;
}

// ---------------------------------------------------------------------------------------------------
// messages from OpenAI-style JSON

namespace {

std::string where(size_t i) { return "chat: messages[" + std::to_string(i) + "]"; }

std::string part_text(const nlohmann::json& part, const std::string& ctx) {
  if (part.is_string()) return part.get<std::string>();
  if (!part.is_object()) throw Error(ctx + " must be a string or a {\"type\":\"text\",\"text\":...} object");
  std::string type = part.contains("type") && part["type"].is_string() ? part["type"].get<std::string>() : "text";
  if (type != "text")
    throw Error(ctx + " has type '" + type + "'; only text content parts are supported");
  if (!part.contains("text") || !part["text"].is_string()) throw Error(ctx + " is a text part without a string 'text'");
  return part["text"].get<std::string>();
}

std::string content_text(const nlohmann::json& c, const std::string& ctx) {
  if (c.is_null()) return {};
  if (c.is_string()) return c.get<std::string>();
  if (!c.is_array()) throw Error(ctx + ".content must be a string, null or an array of text parts");
  std::string s;
  for (size_t j = 0; j < c.size(); ++j) s += part_text(c[j], ctx + ".content[" + std::to_string(j) + "]");
  return s;
}

std::string opt_string(const nlohmann::json& m, const char* key, const std::string& ctx) {
  if (!m.contains(key) || m[key].is_null()) return {};
  if (!m[key].is_string()) throw Error(ctx + "." + key + " must be a string");
  return m[key].get<std::string>();
}

ToolCall tool_call_from_json(const nlohmann::json& tc, const std::string& ctx) {
  if (!tc.is_object()) throw Error(ctx + " must be an object");
  const nlohmann::json& fn = tc.contains("function") ? tc["function"] : tc;
  if (!fn.is_object()) throw Error(ctx + ".function must be an object");
  ToolCall call;
  call.id = opt_string(tc, "id", ctx);
  if (!fn.contains("name") || !fn["name"].is_string() || fn["name"].get<std::string>().empty())
    throw Error(ctx + ".function.name must be a non-empty string");
  call.name = fn["name"].get<std::string>();
  if (!fn.contains("arguments") || fn["arguments"].is_null()) {
    call.arguments = "{}";
  } else if (fn["arguments"].is_string()) {
    call.arguments = fn["arguments"].get<std::string>();
    ojson parsed = chat_json_parse(call.arguments);
    if (parsed.is_discarded() || !parsed.is_object())
      throw Error(ctx + ".function.arguments must be a JSON object (given as a string: '" + call.arguments + "')");
  } else if (fn["arguments"].is_object()) {
    call.arguments = chat_json_dumps(ojson(fn["arguments"]));
  } else {
    throw Error(ctx + ".function.arguments must be a JSON object or a string holding one");
  }
  return call;
}

}  // namespace

std::vector<ChatMessage> chat_messages_from_json(const nlohmann::json& messages) {
  if (!messages.is_array()) throw Error("chat: 'messages' must be a JSON array");
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < messages.size(); ++i) {
    const nlohmann::json& m = messages[i];
    const std::string ctx = where(i);
    if (!m.is_object()) throw Error(ctx + " must be an object");
    if (!m.contains("role") || !m["role"].is_string()) throw Error(ctx + " has no string 'role'");
    ChatMessage msg;
    msg.role = m["role"].get<std::string>();
    if (msg.role == "developer") msg.role = "system";
    if (msg.role != "system" && msg.role != "user" && msg.role != "assistant" && msg.role != "tool")
      throw Error(ctx + ".role '" + msg.role + "' is not one of system, user, assistant, tool");
    const nlohmann::json content = m.contains("content") ? m["content"] : nlohmann::json();
    msg.name = opt_string(m, "name", ctx);
    msg.tool_call_id = opt_string(m, "tool_call_id", ctx);

    // M1 guide form: one tool message holding several named results.
    if (msg.role == "tool" && content.is_array() && !content.empty()) {
      bool named = true;
      for (const auto& p : content) named = named && p.is_object() && p.contains("name") && p["name"].is_string();
      if (named) {
        for (size_t j = 0; j < content.size(); ++j) {
          ChatMessage r = msg;
          r.name = content[j]["name"].get<std::string>();
          r.content = part_text(content[j], ctx + ".content[" + std::to_string(j) + "]");
          out.push_back(std::move(r));
        }
        continue;
      }
    }
    msg.content = content_text(content, ctx);
    if (msg.role == "assistant") {
      msg.reasoning_content = opt_string(m, "reasoning_content", ctx);
      if (msg.reasoning_content.empty()) msg.reasoning_content = opt_string(m, "reasoning", ctx);
      if (m.contains("tool_calls") && !m["tool_calls"].is_null()) {
        if (!m["tool_calls"].is_array()) throw Error(ctx + ".tool_calls must be an array");
        for (size_t j = 0; j < m["tool_calls"].size(); ++j)
          msg.tool_calls.push_back(
              tool_call_from_json(m["tool_calls"][j], ctx + ".tool_calls[" + std::to_string(j) + "]"));
      }
    }
    out.push_back(std::move(msg));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// rendering

namespace {

ojson parse_arguments(const ToolCall& call) {
  ojson args = call.arguments.empty() ? ojson::object() : chat_json_parse(call.arguments);
  if (args.is_discarded() || !args.is_object())
    throw Error("chat: arguments of tool call '" + call.name + "' are not a JSON object: " + call.arguments);
  return args;
}

std::string strip_newlines(std::string_view s) {  // Python str.strip('\n')
  size_t b = 0, e = s.size();
  while (b < e && s[b] == '\n') ++b;
  while (e > b && s[e - 1] == '\n') --e;
  return std::string(s.substr(b, e - b));
}

const char* kM1ToolsHead =
    "<beginning_of_sentence>system tool_setting=tools\nYou are provided with these tools:\n<tools>\n";
const char* kM1ToolsTail =
    "</tools>\n\nIf you need to call tools, please respond with <tool_calls></tool_calls> XML tags, and provide "
    "tool-name and json-object of arguments, following the format below:\n<tool_calls>\n{\"name\": <tool-name-1>, "
    "\"arguments\": <args-json-object-1>}\n...\n</tool_calls><end_of_sentence>\n";

ChatPrompt render_text01(const std::vector<ChatMessage>& msgs, const std::vector<ojson>& fns, bool gen) {
  ChatPrompt out;
  out.add("<begin_of_document>");
  std::string system;
  for (const auto& m : msgs)
    if (m.role == "system") system += m.content;
  if (!system.empty()) {
    out.add("<beginning_of_sentence>system ai_setting=assistant\n");
    out.add_plain(system);
    out.add("<end_of_sentence>\n");
  }
  if (!fns.empty()) {
    out.add(kM1ToolsHead);
    for (const auto& fn : fns) {
      out.add_plain(chat_json_dumps(fn));
      out.add("\n");
    }
    out.add(kM1ToolsTail);
  }
  std::map<std::string, std::string> call_names;  // tool-call id -> function name
  for (size_t i = 0; i < msgs.size(); ++i) {
    const ChatMessage& m = msgs[i];
    if (m.role == "user") {
      out.add("<beginning_of_sentence>user name=user\n");
      out.add_plain(m.content);
      out.add("<end_of_sentence>\n");
    } else if (m.role == "assistant") {
      out.add("<beginning_of_sentence>ai name=assistant\n");
      out.add_plain(m.content);
      if (!m.tool_calls.empty()) {
        if (!m.content.empty() && m.content.back() != '\n') out.add("\n");
        out.add("<tool_calls>\n");
        for (const auto& c : m.tool_calls) {
          out.add("{\"name\": ");
          out.add_plain(chat_json_dumps(ojson(c.name)));
          out.add(", \"arguments\": ");
          out.add_plain(chat_json_dumps(parse_arguments(c)));
          out.add("}\n");
          if (!c.id.empty()) call_names[c.id] = c.name;
        }
        out.add("</tool_calls>");
      }
      out.add("<end_of_sentence>\n");
    } else if (m.role == "tool") {
      if (i == 0 || msgs[i - 1].role != "tool") out.add("<beginning_of_sentence>tool name=tools\n");
      std::string name = m.name;
      if (name.empty()) {
        auto it = call_names.find(m.tool_call_id);
        if (it != call_names.end()) name = it->second;
      }
      if (!name.empty()) {
        out.add("tool name: ");
        out.add_plain(name);
        out.add("\n");
      }
      out.add("tool result: ");
      out.add_plain(m.content);
      out.add("\n\n");
      if (i + 1 == msgs.size() || msgs[i + 1].role != "tool") out.add("<end_of_sentence>\n");
    }
  }
  if (gen) out.add("<beginning_of_sentence>ai name=assistant\n");
  return out;
}

const char* kM2DefaultSystem = "You are a helpful assistant. Your name is MiniMax-M2 and is built by MiniMax.";
const char* kM2ToolsHead =
    "\n\n# Tools\nYou may call one or more tools to assist with the user query.\n"
    "Here are the tools available in JSONSchema format:\n\n<tools>\n";
const char* kM2ToolsTail =
    "</tools>\n\nWhen making tool calls, use XML format to invoke tools and pass parameters:\n\n"
    "<minimax:tool_call>\n<invoke name=\"tool-name-1\">\n<parameter name=\"param-key-1\">param-value-1</parameter>\n"
    "<parameter name=\"param-key-2\">param-value-2</parameter>\n...\n</invoke>\n</minimax:tool_call>";

ChatPrompt render_m2(const std::vector<ChatMessage>& all, const std::vector<ojson>& fns, bool gen) {
  ChatPrompt out;
  out.add("]~!b[]~b]system\n");
  size_t start = 0;
  if (!all.empty() && all[0].role == "system") {
    start = 1;
    if (all[0].content.empty()) out.add(kM2DefaultSystem);
    else out.add_plain(all[0].content);
  } else {
    out.add(kM2DefaultSystem);
  }
  if (!fns.empty()) {
    out.add(kM2ToolsHead);
    for (const auto& fn : fns) {
      out.add("<tool>");
      out.add_plain(chat_json_dumps(fn));
      out.add("</tool>\n");
    }
    out.add(kM2ToolsTail);
  }
  out.add("[e~[\n");
  const std::vector<ChatMessage> msgs(all.begin() + static_cast<std::ptrdiff_t>(start), all.end());
  long last_user = -1;
  for (size_t i = 0; i < msgs.size(); ++i)
    if (msgs[i].role == "user") last_user = static_cast<long>(i);

  for (size_t i = 0; i < msgs.size(); ++i) {
    const ChatMessage& m = msgs[i];
    if (m.role == "assistant") {
      out.add("]~b]ai\n");
      std::string reasoning = m.reasoning_content, content = m.content;
      if (reasoning.empty()) {
        size_t close = content.find("</think>");
        if (close != std::string::npos) {
          std::string head = strip_newlines(std::string_view(content).substr(0, close));
          size_t open = head.rfind("<think>");
          reasoning = strip_newlines(open == std::string::npos ? head : head.substr(open + 7));
          content = strip_newlines(std::string_view(content).substr(content.rfind("</think>") + 8));
        }
      }
      if (!reasoning.empty() && static_cast<long>(i) > last_user) {
        out.add("<think>\n");
        out.add_plain(reasoning);
        out.add("\n</think>\n\n");
      }
      out.add_plain(content);
      if (!m.tool_calls.empty()) {
        out.add("\n<minimax:tool_call>\n");
        for (const auto& c : m.tool_calls) {
          out.add("<invoke name=\"");
          out.add_plain(c.name);
          out.add("\">\n");
          ojson args = parse_arguments(c);
          for (auto it = args.begin(); it != args.end(); ++it) {
            out.add("<parameter name=\"");
            out.add_plain(it.key());
            out.add("\">");
            out.add_plain(it.value().is_string() ? it.value().get<std::string>() : chat_json_dumps(it.value()));
            out.add("</parameter>\n");
          }
          out.add("</invoke>\n");
        }
        out.add("</minimax:tool_call>");
      }
      out.add("[e~[\n");
    } else if (m.role == "tool") {
      if (i == 0 || msgs[i - 1].role != "tool") out.add("]~b]tool");
      out.add("\n<response>");
      out.add_plain(m.content);
      out.add("</response>");
      if (i + 1 == msgs.size() || msgs[i + 1].role != "tool") out.add("[e~[\n");
    } else if (m.role == "user") {
      out.add("]~b]user\n");
      out.add_plain(m.content);
      out.add("[e~[\n");
    }
  }
  if (gen) out.add("]~b]ai\n<think>\n");
  return out;
}

}  // namespace

void ChatPrompt::add(std::string_view t) { text += t; }

void ChatPrompt::add_plain(std::string_view t) {
  if (t.empty()) return;
  if (!plain.empty() && plain.back().end == text.size()) plain.back().end += t.size();  // adjacent: one range
  else plain.push_back({text.size(), text.size() + t.size()});
  text += t;
}

ChatPrompt chat_render_prompt(ChatFormat fmt, const std::vector<ChatMessage>& msgs, const ojson& tools,
                              bool add_generation_prompt) {
  const std::vector<ojson> fns = chat_tool_functions(tools);
  return fmt == ChatFormat::M2 ? render_m2(msgs, fns, add_generation_prompt)
                               : render_text01(msgs, fns, add_generation_prompt);
}

std::string chat_render_ordered(ChatFormat fmt, const std::vector<ChatMessage>& msgs, const ojson& tools,
                                bool add_generation_prompt) {
  return chat_render_prompt(fmt, msgs, tools, add_generation_prompt).text;
}

std::string chat_render(ChatFormat fmt, const std::vector<ChatMessage>& msgs, const nlohmann::json& tools,
                        bool add_generation_prompt) {
  return chat_render_ordered(fmt, msgs, ojson(tools), add_generation_prompt);
}

std::string chat_forced_tool_call(ChatFormat fmt, const std::string& name) {
  if (fmt == ChatFormat::M2)
    return "</think>\n\n<minimax:tool_call>\n<invoke name=\"" + (name.empty() ? "" : name + "\">\n");
  return "<tool_calls>\n{\"name\": " + (name.empty() ? "\"" : chat_json_dumps(ojson(name)) + ", \"arguments\": ");
}

const char* chat_format_name(ChatFormat fmt) { return fmt == ChatFormat::M2 ? "m2" : "text01"; }

ChatFormat chat_format_from_name(const std::string& name) {
  for (ChatFormat f : {ChatFormat::Text01, ChatFormat::M2})
    if (name == chat_format_name(f)) return f;
  MM_CHECK(false, "unknown chat format '" + name + "'");
  return ChatFormat::Text01;  // not reached
}

std::vector<std::string> chat_end_tokens(ChatFormat fmt) {
  if (fmt == ChatFormat::M2) return {"[e~["};
  return {"[e~[", "<end_of_sentence>"};
}

bool chat_starts_in_reasoning(ChatFormat fmt) { return fmt == ChatFormat::M2; }

}  // namespace mm
