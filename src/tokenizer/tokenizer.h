// Hugging Face tokenizer.json byte-level BPE: exact encode / decode as the `tokenizers` library
// computes them (encode with add_special_tokens=False; nothing is ever prepended or appended).
//
// Pipeline of encode(): added tokens are split off first (leftmost, longest match; special ones only
// when parse_special), the text between them is normalized, pre-tokenized and run through BPE.
//
// Invalid UTF-8 policy: HF's Rust API only accepts valid UTF-8 strings. encode() accepts any bytes
// and first replaces each maximal invalid subsequence with U+FFFD (as String::from_utf8_lossy
// does), then proceeds as for valid text. decode() likewise returns valid UTF-8, replacing byte
// sequences that do not form characters with U+FFFD.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/text_range.h"

namespace mm {

class ThreadPool;

class Tokenizer {
 public:
  static std::unique_ptr<Tokenizer> from_file(const std::string& path);  // throws mm::Error
  static std::unique_ptr<Tokenizer> from_json_string(const std::string& json);
  ~Tokenizer();

  // parse_special: recognise special added tokens written in the text (HF default); false treats
  // them as plain text (non-special added tokens are still recognised, as in HF). Thread-safe.
  // max_tokens: stop once more than that many tokens are out (the result then has max_tokens + 1 tokens, a
  // prefix of the full encoding's, up to the last word): a prompt that cannot fit is not tokenized whole.
  std::vector<int32_t> encode(std::string_view text, bool parse_special = true, size_t max_tokens = SIZE_MAX) const;
  // As encode(text, true), except that special tokens are not recognised where they overlap a `plain`
  // range (byte ranges of text, sorted and disjoint): a chat prompt whose message contents are plain,
  // so that a client cannot write the template's control tokens. Same tokens as encode() otherwise.
  std::vector<int32_t> encode(std::string_view text, std::span<const TextRange> plain, size_t max_tokens = SIZE_MAX) const;
  // encode() of each text, spread over `pool`.
  std::vector<std::vector<int32_t>> encode_batch(const std::vector<std::string>& texts, ThreadPool& pool) const;
  // Throws mm::Error on an id outside [0, vocab_size()). Ids inside the range that name no token
  // (holes in the id space) decode to nothing, as in HF.
  std::string decode(std::span<const int32_t> ids, bool skip_special = false) const;

  int32_t vocab_size() const;  // max id + 1 over vocab and added tokens
  std::optional<int32_t> token_to_id(std::string_view token) const;  // vocab or added token
  std::string id_to_token(int32_t id) const;  // raw token string ("" for a hole); throws if out of range
  bool is_special(int32_t id) const;

  struct Impl;

 private:
  std::vector<int32_t> encode_impl(std::string_view text, bool parse_special, std::span<const TextRange> plain,
                                   size_t max_tokens) const;
  friend class StreamDecoder;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Incremental detokenizer: push ids one at a time and get back only whole characters. Bytes of an
// incomplete UTF-8 character are held until completed; flush() emits U+FFFD for a dangling one.
// Concatenating every push() and the final flush() gives exactly decode(all ids).
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok, bool skip_special = false);
  std::string push(int32_t id);  // the newly completed text (valid UTF-8, possibly empty)
  std::string flush();

 private:
  const Tokenizer& tok_;
  bool skip_special_;
  bool first_ = true;
  std::string pending_;
};

}  // namespace mm
