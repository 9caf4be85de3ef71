// Added tokens of an HF tokenizer.json: matched in the raw text before the model runs (leftmost,
// longest), with the lstrip / rstrip / single_word rules of HF's AddedVocabulary.
#pragma once
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/text_range.h"

namespace mm::tok {

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false, lstrip = false, rstrip = false, normalized = false, single_word = false;
};

// A piece of input: either an added token (id >= 0) or text for the normalizer / model (id < 0).
struct Segment {
  std::string_view text;
  int32_t id;
};

// A byte trie over a set of added tokens.
class AddedTokenMatcher {
 public:
  // `patterns[i]` is what to match for tokens[i] (the content, normalized for normalized tokens).
  void build(const std::vector<const AddedToken*>& tokens, const std::vector<std::string>& patterns);
  bool empty() const { return tokens_.empty(); }

  // Splits `text` into segments, appending to `out`. With parse_special false, special tokens are
  // not recognised (HF's encode_special_tokens), non-special added tokens still are; with it true,
  // a special token that overlaps one of the `plain` ranges (sorted, disjoint) is not recognised either.
  void split(std::string_view text, bool parse_special, std::vector<Segment>& out,
             std::span<const TextRange> plain = {}) const;

 private:
  struct Node {
    int32_t token = -1;  // index into tokens_ of the token ending here
    std::vector<std::pair<unsigned char, int32_t>> next;
  };
  // Leftmost-longest match starting at or after `from`: returns false if none.
  bool find(std::string_view text, size_t from, size_t* begin, size_t* end, int32_t* token) const;

  std::vector<const AddedToken*> tokens_;
  std::vector<Node> nodes_;
  std::array<int32_t, 256> root_{};
};

}  // namespace mm::tok
