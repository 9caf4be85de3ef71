// MiniMax chat formats without a Jinja engine: prompt rendering for MiniMax-Text-01 / M1 and MiniMax-M2
// (docs: architecture.md §7.2, §7.3) and incremental parsers for the model's output (reasoning, content,
// tool calls).
//
// Rendering follows the released chat templates character for character where they define the output
// (M1: tokenizer_config.json of MiniMax-AI/MiniMax-M1; M2: chat_template.jinja of MiniMax-M2). Choices
// made where the templates are silent or cannot take OpenAI-style input are documented in chat_render.cpp.
//
// JSON inside prompts (tool definitions, tool-call arguments) is written the way the templates' `tojson`
// filter writes it, i.e. Python json.dumps(ensure_ascii=False): ", " and ": " separators, UTF-8 kept.
// nlohmann::json stores object keys sorted; pass tools as nlohmann::ordered_json to chat_render_ordered
// to keep the caller's key order (what the reference templates print).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/text_range.h"

namespace mm {

enum class ChatFormat { Text01, M2 };  // Text01 covers MiniMax-Text-01 and MiniMax-M1

// "text01" | "m2" (the serve banner, /props).
const char* chat_format_name(ChatFormat fmt);
// The format named `name` (as chat_format_name gives it); an unknown name is an engine bug (MM_CHECK).
ChatFormat chat_format_from_name(const std::string& name);
// The special tokens that end an assistant reply in this format, to be looked up in the tokenizer (the
// caller adds the model's eos). Both: [e~[ (the end-of-message token); Text01/M1 also <end_of_sentence>,
// which its templates name and which is the same id in the real tokenizers but may be separate in others.
std::vector<std::string> chat_end_tokens(ChatFormat fmt);
// Whether the generation prompt leaves the reply inside a reasoning section (M2 opens <think>): what an
// output parser of the reply starts in (ChatOutputParser's starts_in_reasoning).
bool chat_starts_in_reasoning(ChatFormat fmt);

struct ToolCall {
  std::string id{};
  std::string name{};
  std::string arguments{};  // JSON object text
};

struct ChatMessage {
  std::string role{};               // system | user | assistant | tool
  std::string content{};
  std::string reasoning_content{};  // assistant only
  std::vector<ToolCall> tool_calls{};
  std::string tool_call_id{}, name{};  // tool results
};

// Parses an OpenAI-style messages array (content string, null or a list of text parts; tool_calls with
// function.arguments as a JSON string or object; "developer" is taken as "system"). A tool message whose
// content parts carry a "name" each (the M1 function-call guide's form) becomes one tool message per part.
// Throws mm::Error (src/core/error.h) with a clear message on bad input.
std::vector<ChatMessage> chat_messages_from_json(const nlohmann::json& messages);

// Renders the prompt text. tools: null, or an array of {"type":"function","function":{...}} or of bare
// function objects {name, description, parameters}. Throws mm::Error on malformed tools or tool-call
// arguments that are not a JSON object.
std::string chat_render(ChatFormat fmt, const std::vector<ChatMessage>& msgs, const nlohmann::json& tools,
                        bool add_generation_prompt = true);
// Same, keeping the key order of the tool definitions as given.
std::string chat_render_ordered(ChatFormat fmt, const std::vector<ChatMessage>& msgs,
                                const nlohmann::ordered_json& tools, bool add_generation_prompt = true);

// A rendered prompt and the byte ranges of it that are message text (contents, reasoning, tool
// definitions, names and arguments: what a client or an earlier reply wrote), for
// Tokenizer::encode(text, plain): control tokens are recognised only in the template's own text, so a
// client cannot forge a turn by writing `]~b]system` or `<minimax:tool_call>`.
struct ChatPrompt {
  std::string text;
  std::vector<TextRange> plain;  // sorted, disjoint
  void add(std::string_view template_text);
  void add_plain(std::string_view message_text);
};
ChatPrompt chat_render_prompt(ChatFormat fmt, const std::vector<ChatMessage>& msgs,
                              const nlohmann::ordered_json& tools, bool add_generation_prompt = true);

// Text that starts the assistant's reply with a tool call, for tool_choice "required" (name empty) or a
// named function: appended to the generation prompt so the model continues inside the call, and fed to
// the output parser ahead of the model's text. Text01/M1: `<tool_calls>\n{"name": "` [+ `NAME", "arguments": `];
// M2: `</think>\n\n<minimax:tool_call>\n<invoke name="` [+ `NAME">\n`] (the reply's reasoning is skipped:
// a forced call starts the answer).
std::string chat_forced_tool_call(ChatFormat fmt, const std::string& name);

struct ChatEvent {
  enum Kind { Reasoning, Content, ToolCall } kind;
  std::string text;  // Reasoning / Content delta
  mm::ToolCall call; // ToolCall: complete call
};

// Incremental parser of generated text. Feed arbitrary text deltas (any byte split, even inside a UTF-8
// sequence or a tag); a partial tag is held back until it is decided, so it never leaks into a delta.
//  * Reasoning ends at </think>. starts_in_reasoning = true for M2 (the prompt opened <think>); a leading
//    <think> in that mode is swallowed (M2.5 emits both tags). In content mode <think> enters reasoning.
//  * Tool calls: Text01 <tool_calls>...</tool_calls> (one JSON object per line), M2 <minimax:tool_call>
//    blocks. A block is emitted when it closes; a malformed or unclosed block comes back as content.
//  * Newlines that only format the output around tags are dropped: newlines at the start of a reasoning
//    section, at the end of reasoning before </think>, at the start of content after </think> or after a
//    tool-call block, and at the end of content before <think> or a tool-call block. So rendering a parsed
//    M2 turn again gives back the model's text.
// Never throws on any input. Tool-call ids are "call_" + 16 hex digits, a deterministic function of
// id_seed and the call index; id_seed 0 picks a random seed.
class ChatOutputParser {
 public:
  ChatOutputParser(ChatFormat fmt, const nlohmann::json& tools, bool starts_in_reasoning, uint64_t id_seed = 0);
  ~ChatOutputParser();
  ChatOutputParser(ChatOutputParser&&) noexcept;
  ChatOutputParser& operator=(ChatOutputParser&&) noexcept;

  std::vector<ChatEvent> feed(std::string_view delta);
  std::vector<ChatEvent> finish();
  // feed(text) + finish() in one call, events of the same kind merged.
  std::vector<ChatEvent> parse_all(std::string_view text);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Helpers shared by the chat sources and useful to callers.
// Python json.dumps(x, ensure_ascii=False) text of a JSON value (invalid UTF-8 replaced by U+FFFD).
std::string chat_json_dumps(const nlohmann::ordered_json& value);
// Parses JSON text (tool-call arguments from a client or from the model) without throwing: a discarded
// value for invalid text and for text nested deeper than kMaxJsonDepth (core/json_depth.h).
nlohmann::ordered_json chat_json_parse(std::string_view text);
// The function objects of a tools list (unwraps {"type":"function","function":{...}}); throws mm::Error.
std::vector<nlohmann::ordered_json> chat_tool_functions(const nlohmann::ordered_json& tools);

}  // namespace mm
