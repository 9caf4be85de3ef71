// The nesting depth of a JSON text, found without recursion, so that texts nested deeper than their
// users can walk (copies, dumps and comparisons of a parsed nlohmann::json recurse once per level: a
// 100k-level body overflows a thread's stack) are rejected before they are parsed.
#pragma once
#include <cstdint>
#include <string_view>

namespace mm {

// The deepest nesting of [ and { outside strings in `text` (0 for a scalar), counting no further than
// `stop_at` (the scan ends there). Malformed text is scanned the same way; the parser rejects it later.
int64_t json_nesting_depth(std::string_view text, int64_t stop_at);

// The depth the engine accepts in request bodies, tool arguments, tokenizer.json and config files:
// far beyond any real schema or tokenizer (OpenAI's structured outputs allow 10 levels), far below
// what a thread's stack holds.
constexpr int64_t kMaxJsonDepth = 128;

}  // namespace mm
