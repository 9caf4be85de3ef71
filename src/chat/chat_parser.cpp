// Incremental parser of MiniMax model output: reasoning (<think> ... </think>), content, and tool calls in
// the Text-01/M1 (<tool_calls> JSON lines) or M2 (<minimax:tool_call> XML) format.
//
// Design: every byte fed goes to `buf_`; process() consumes as much of it as can be decided and stops at
// anything that may still become a tag (a suffix of buf_ that is a proper prefix of a tag the current
// mode watches), at an incomplete UTF-8 sequence, or holds trailing newlines in `held_nl_` until the next
// non-newline byte decides whether they are text or formatting around a tag. All decisions depend only on
// the text, never on where it was split, so any split gives the same events (up to merging of deltas).
// A tool-call block is collected whole and parsed when its closing tag arrives.
#include <algorithm>
#include <cctype>
#include <map>
#include <random>
#include <utility>

#include "chat/chat.h"

namespace mm {

using ojson = nlohmann::ordered_json;

namespace {

constexpr std::string_view kThinkOpen = "<think>";
constexpr std::string_view kThinkClose = "</think>";

bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

// Length of the longest suffix of s that is a proper, non-empty prefix of tag.
size_t partial_suffix(std::string_view s, std::string_view tag) {
  for (size_t k = std::min(s.size(), tag.size() - 1); k > 0; --k)
    if (s.substr(s.size() - k) == tag.substr(0, k)) return k;
  return 0;
}

// Number of trailing bytes of s that form an incomplete UTF-8 sequence (0 if none).
size_t utf8_incomplete_tail(std::string_view s) {
  for (size_t back = 1; back <= 4 && back <= s.size(); ++back) {
    unsigned char c = static_cast<unsigned char>(s[s.size() - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead byte
    size_t need = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    return back < need ? back : 0;
  }
  return 0;  // only continuation bytes (invalid UTF-8): pass through
}

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// The JSON types a parameter schema allows ("type" as a string or a list, and the types in anyOf/oneOf).
void collect_types(const nlohmann::json& schema, std::vector<std::string>& types) {
  if (!schema.is_object()) return;
  if (schema.contains("type")) {
    const auto& t = schema["type"];
    if (t.is_string()) types.push_back(t.get<std::string>());
    if (t.is_array())
      for (const auto& x : t)
        if (x.is_string()) types.push_back(x.get<std::string>());
  }
  for (const char* key : {"anyOf", "oneOf"})
    if (schema.contains(key) && schema[key].is_array())
      for (const auto& s : schema[key]) collect_types(s, types);
}

}  // namespace

struct ChatOutputParser::Impl {
  enum class Mode { Content, Reasoning, ToolBlock };

  ChatFormat fmt;
  std::map<std::string, nlohmann::json> params;  // function name -> parameters.properties
  Mode mode;
  bool section_start;        // newlines at the start of this section are formatting
  std::string buf;           // undecided input
  std::string held_nl;       // trailing newlines of the current text section, not yet emitted
  std::string block;         // raw text of the open tool-call block (after the opening tag)
  std::string pre_block_nl;  // newlines dropped before the block (restored if the block is malformed)
  std::string_view tool_open, tool_close;
  uint64_t seed, n_calls = 0;
  std::vector<ChatEvent> out;

  void emit(ChatEvent::Kind kind, std::string_view text) {
    if (text.empty()) return;
    if (!out.empty() && out.back().kind == kind && kind != ChatEvent::ToolCall) {
      out.back().text += text;
    } else {
      ChatEvent ev{kind, std::string(text), {}};
      out.push_back(std::move(ev));
    }
  }
  // Emits text but holds its trailing newlines back.
  void emit_held(ChatEvent::Kind kind, std::string_view text) {
    size_t e = text.size();
    while (e > 0 && text[e - 1] == '\n') --e;
    if (e > 0) {
      emit(kind, held_nl);
      held_nl.clear();
      emit(kind, text.substr(0, e));
    }
    held_nl.append(text.substr(e));
  }
  // Emits the text before a tag at `p` in buf, dropping newlines right before the tag; returns them.
  std::string emit_before_tag(ChatEvent::Kind kind, size_t p) {
    size_t e = p;
    while (e > 0 && buf[e - 1] == '\n') --e;
    std::string dropped;
    if (e > 0) {
      emit(kind, held_nl);
      emit(kind, std::string_view(buf).substr(0, e));
    } else {
      dropped = held_nl;
    }
    held_nl.clear();
    dropped.append(buf, e, p - e);
    return dropped;
  }
  // How many leading bytes of buf can be emitted as text now (the rest may still become a tag).
  size_t decidable(bool final, std::initializer_list<std::string_view> tags) const {
    if (final) return buf.size();
    size_t keep = 0;
    for (auto t : tags) keep = std::max(keep, partial_suffix(buf, t));
    size_t n = buf.size() - keep;
    return n - utf8_incomplete_tail(std::string_view(buf).substr(0, n));
  }
  void skip_newlines() {
    size_t n = 0;
    while (n < buf.size() && buf[n] == '\n') ++n;
    buf.erase(0, n);
  }

  void process(bool final) {
    while (!buf.empty()) {
      if (mode == Mode::Reasoning) {
        if (section_start) {
          skip_newlines();
          if (buf.empty()) return;
          if (buf.starts_with(kThinkOpen)) {  // an explicit <think> right where reasoning starts
            buf.erase(0, kThinkOpen.size());
            continue;
          }
          if (!final && buf.size() < kThinkOpen.size() && kThinkOpen.starts_with(buf)) return;
          section_start = false;
        }
        size_t p = buf.find(kThinkClose);
        if (p != std::string::npos) {
          emit_before_tag(ChatEvent::Reasoning, p);
          buf.erase(0, p + kThinkClose.size());
          mode = Mode::Content;
          section_start = true;
          continue;
        }
        size_t n = decidable(final, {kThinkClose});
        emit_held(ChatEvent::Reasoning, std::string_view(buf).substr(0, n));
        buf.erase(0, n);
        return;
      }
      if (mode == Mode::Content) {
        if (section_start) {
          skip_newlines();
          if (buf.empty()) return;
          section_start = false;
        }
        size_t p_think = buf.find(kThinkOpen), p_tool = buf.find(tool_open);
        if (p_think != std::string::npos || p_tool != std::string::npos) {
          bool think = p_think < p_tool;
          size_t p = think ? p_think : p_tool;
          std::string dropped = emit_before_tag(ChatEvent::Content, p);
          buf.erase(0, p + (think ? kThinkOpen.size() : tool_open.size()));
          if (think) {
            mode = Mode::Reasoning;
            section_start = true;
          } else {
            mode = Mode::ToolBlock;
            pre_block_nl = std::move(dropped);
            block.clear();
          }
          continue;
        }
        size_t n = decidable(final, {kThinkOpen, tool_open});
        emit_held(ChatEvent::Content, std::string_view(buf).substr(0, n));
        buf.erase(0, n);
        return;
      }
      // Mode::ToolBlock
      size_t p = buf.find(tool_close);
      if (p != std::string::npos) {
        block.append(buf, 0, p);
        buf.erase(0, p + tool_close.size());
        close_block();
        continue;
      }
      size_t n = final ? buf.size() : buf.size() - partial_suffix(buf, tool_close);
      block.append(buf, 0, n);
      buf.erase(0, n);
      return;
    }
  }

  void close_block() {
    std::vector<mm::ToolCall> calls;
    bool ok = false;
    try {
      ok = fmt == ChatFormat::M2 ? parse_m2_block(block, calls) : parse_m1_block(block, calls);
    } catch (...) {
      ok = false;
    }
    mode = Mode::Content;
    if (ok) {
      for (auto& c : calls) {
        ChatEvent ev{ChatEvent::ToolCall, {}, std::move(c)};
        out.push_back(std::move(ev));
      }
      section_start = true;
    } else {
      emit(ChatEvent::Content, pre_block_nl + std::string(tool_open) + block + std::string(tool_close));
      section_start = false;
    }
    block.clear();
    pre_block_nl.clear();
  }

  std::string next_id() {
    static const char* hex = "0123456789abcdef";
    uint64_t v = splitmix64(seed + n_calls++);
    std::string id = "call_";
    for (int i = 15; i >= 0; --i) id += hex[(v >> (4 * i)) & 15];
    return id;
  }

  // Text-01 / M1: one {"name": ..., "arguments": {...}} object per line; as a fallback the whole block
  // as one JSON object or an array of them (for pretty-printed output).
  bool call_from_json(const ojson& j, std::vector<mm::ToolCall>& calls) {
    if (!j.is_object() || !j.contains("name") || !j["name"].is_string() || j["name"].get<std::string>().empty())
      return false;
    ojson args = ojson::object();
    if (j.contains("arguments") && !j["arguments"].is_null()) {
      args = j["arguments"];
      if (args.is_string()) args = mm::chat_json_parse(args.get<std::string>());
      if (!args.is_object()) return false;
    }
    calls.push_back({next_id(), j["name"].get<std::string>(), chat_json_dumps(args)});
    return true;
  }
  bool parse_m1_block(std::string_view text, std::vector<mm::ToolCall>& calls) {
    const uint64_t n0 = n_calls;
    bool ok = true;
    size_t pos = 0;
    while (ok && pos <= text.size()) {
      size_t nl = text.find('\n', pos);
      std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
      pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
      while (!line.empty() && is_ws(line.front())) line.remove_prefix(1);
      while (!line.empty() && is_ws(line.back())) line.remove_suffix(1);
      if (line.empty()) continue;
      ok = call_from_json(mm::chat_json_parse(line), calls);
    }
    if (ok && !calls.empty()) return true;
    calls.clear();
    n_calls = n0;
    ojson all = mm::chat_json_parse(text);
    if (all.is_object()) return call_from_json(all, calls);
    if (!all.is_array() || all.empty()) return false;
    for (const auto& j : all)
      if (!call_from_json(j, calls)) return false;
    return true;
  }

  // M2: <invoke name="f"><parameter name="k">value</parameter>...</invoke>... with whitespace between.
  static void skip_ws(std::string_view s, size_t& pos) {
    while (pos < s.size() && is_ws(s[pos])) ++pos;
  }
  static bool eat(std::string_view s, size_t& pos, std::string_view lit) {
    if (s.substr(pos).starts_with(lit)) {
      pos += lit.size();
      return true;
    }
    return false;
  }
  // Parses ` name="value">` (quotes optional) after an opening tag's name.
  static bool name_attr(std::string_view s, size_t& pos, std::string& value) {
    skip_ws(s, pos);
    if (!eat(s, pos, "name=")) return false;
    size_t end;
    if (pos < s.size() && (s[pos] == '"' || s[pos] == '\'')) {
      end = s.find(s[pos], pos + 1);
      if (end == std::string_view::npos) return false;
      value = std::string(s.substr(pos + 1, end - pos - 1));
      pos = end + 1;
    } else {
      end = s.find('>', pos);
      if (end == std::string_view::npos) return false;
      value = std::string(s.substr(pos, end - pos));
      while (!value.empty() && is_ws(value.back())) value.pop_back();
      pos = end;
    }
    skip_ws(s, pos);
    return eat(s, pos, ">") && !value.empty();
  }
  ojson convert_param(const std::string& fn, const std::string& key, const std::string& raw) const {
    std::vector<std::string> types;
    auto it = params.find(fn);
    if (it != params.end() && it->second.contains(key)) collect_types(it->second[key], types);
    bool typed = !types.empty();
    for (const auto& t : types) typed = typed && t != "string";
    if (!typed) return ojson(raw);
    std::string text = raw;
    for (const auto& t : types)
      if (t == "boolean" && (text == "True" || text == "False" || text == "TRUE" || text == "FALSE"))
        for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    ojson v = mm::chat_json_parse(text);
    return v.is_discarded() ? ojson(raw) : v;
  }
  bool parse_m2_block(std::string_view s, std::vector<mm::ToolCall>& calls) {
    size_t pos = 0;
    for (;;) {
      skip_ws(s, pos);
      if (pos == s.size()) break;
      std::string name;
      if (!eat(s, pos, "<invoke") || !name_attr(s, pos, name)) return false;
      ojson args = ojson::object();
      for (;;) {
        skip_ws(s, pos);
        if (eat(s, pos, "</invoke>")) break;
        std::string key;
        if (!eat(s, pos, "<parameter") || !name_attr(s, pos, key)) return false;
        size_t end = s.find("</parameter>", pos);
        if (end == std::string_view::npos) return false;
        std::string value(s.substr(pos, end - pos));
        pos = end + 12;
        if (!value.empty() && value.front() == '\n') value.erase(0, 1);
        if (!value.empty() && value.back() == '\n') value.pop_back();
        args[key] = convert_param(name, key, value);
      }
      calls.push_back({next_id(), name, chat_json_dumps(args)});
    }
    return !calls.empty();
  }
};

ChatOutputParser::ChatOutputParser(ChatFormat fmt, const nlohmann::json& tools, bool starts_in_reasoning,
                                   uint64_t id_seed)
    : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.fmt = fmt;
  s.mode = starts_in_reasoning ? Impl::Mode::Reasoning : Impl::Mode::Content;
  s.section_start = starts_in_reasoning;
  s.tool_open = fmt == ChatFormat::M2 ? "<minimax:tool_call>" : "<tool_calls>";
  s.tool_close = fmt == ChatFormat::M2 ? "</minimax:tool_call>" : "</tool_calls>";
  if (id_seed == 0) {
    std::random_device rd;
    id_seed = (uint64_t(rd()) << 32) ^ rd();
  }
  s.seed = id_seed;
  try {  // the schema only refines argument types; a bad tools list is ignored here
    for (const auto& fn : chat_tool_functions(ojson(tools))) {
      if (fn.contains("parameters") && fn["parameters"].is_object() && fn["parameters"].contains("properties") &&
          fn["parameters"]["properties"].is_object())
        s.params[fn["name"].get<std::string>()] = nlohmann::json(fn["parameters"]["properties"]);
    }
  } catch (...) {
    s.params.clear();
  }
}

ChatOutputParser::~ChatOutputParser() = default;
ChatOutputParser::ChatOutputParser(ChatOutputParser&&) noexcept = default;
ChatOutputParser& ChatOutputParser::operator=(ChatOutputParser&&) noexcept = default;

std::vector<ChatEvent> ChatOutputParser::feed(std::string_view delta) {
  impl_->buf.append(delta);
  impl_->process(false);
  return std::exchange(impl_->out, {});
}

std::vector<ChatEvent> ChatOutputParser::finish() {
  Impl& s = *impl_;
  s.process(true);
  if (s.mode == Impl::Mode::ToolBlock) {  // unclosed block: give it back as text
    s.emit(ChatEvent::Content, s.pre_block_nl + std::string(s.tool_open) + s.block);
    s.block.clear();
    s.pre_block_nl.clear();
    s.mode = Impl::Mode::Content;
  } else {
    s.emit(s.mode == Impl::Mode::Reasoning ? ChatEvent::Reasoning : ChatEvent::Content, s.held_nl);
  }
  s.held_nl.clear();
  return std::exchange(s.out, {});
}

std::vector<ChatEvent> ChatOutputParser::parse_all(std::string_view text) {
  std::vector<ChatEvent> evs = feed(text);
  for (auto& e : finish()) {
    if (!evs.empty() && evs.back().kind == e.kind && e.kind != ChatEvent::ToolCall)
      evs.back().text += e.text;
    else
      evs.push_back(std::move(e));
  }
  return evs;
}

}  // namespace mm
