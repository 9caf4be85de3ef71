// Normalizer and pre-tokenizer stages of an HF tokenizer.json, limited to what byte-level BPE
// tokenizers use. Unsupported types are rejected at load time with mm::Error, never ignored.
#pragma once
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace mm::tok {

class Normalizer {
 public:
  // `j` is the "normalizer" value (may be null).
  static Normalizer from_json(const nlohmann::json& j);
  bool empty() const { return forms_.empty(); }
  std::string apply(std::string_view text) const;

 private:
  std::vector<NormForm> forms_;
};

enum class SplitBehavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

// Per-call working memory, reused across pieces to avoid allocations.
struct PreTokScratch {
  std::vector<std::string_view> pieces, next;
  std::vector<std::pair<size_t, size_t>> matches;
  std::vector<std::pair<std::pair<size_t, size_t>, bool>> spans;
  std::deque<std::string> owned;  // text created by add_prefix_space (deque: stable addresses)
};

class PreTokenizer {
 public:
  // `j` is the "pre_tokenizer" value (may be null).
  static PreTokenizer from_json(const nlohmann::json& j);

  // True when a ByteLevel pre-tokenizer maps bytes to the GPT-2 alphabet; the model then works on
  // raw bytes (the mapping is folded into its byte -> id table).
  bool byte_level() const { return byte_level_; }

  // Splits `text` into pre-tokens (views into `text` or into scratch.owned), replacing
  // scratch.pieces. Empty pieces are dropped, as in HF.
  void split(std::string_view text, PreTokScratch& scratch) const;

 private:
  struct Step {
    bool prefix_space = false;      // ByteLevel(add_prefix_space): prepend ' ' unless present
    std::shared_ptr<Regex> regex;   // otherwise: a Split step
    SplitBehavior behavior = SplitBehavior::isolated;
    bool invert = false;
  };
  void add_json(const nlohmann::json& j);
  void apply_split(const Step& step, std::string_view piece, PreTokScratch& s) const;

  std::vector<Step> steps_;
  bool byte_level_ = false;
};

}  // namespace mm::tok
