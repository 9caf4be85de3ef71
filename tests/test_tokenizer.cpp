// Tokenizer behaviour beyond the goldens: MiniMax special tokens, errors, random-byte robustness,
// round trips, streaming detokenization and the less common pipeline options.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace {

const std::string kShared = std::string(MM_SHARED_DIR) + "/testdata/";

const mm::Tokenizer& load(const std::string& name) {
  static std::map<std::string, std::unique_ptr<mm::Tokenizer>> cache;
  auto& t = cache[name];
  if (!t) {
    std::string path = name == "minimax" ? kShared + "minimax_text01_tiny/model_bf16/tokenizer.json"
                                         : kShared + "tokenizers/" + name + "/tokenizer.json";
    t = mm::Tokenizer::from_file(path);
  }
  return *t;
}

const std::vector<std::string> kAll = {"qwen3", "deepseek_v3", "llama3", "gpt4o", "minimax"};

TEST(Tokenizer, MiniMaxSpecialTokens) {
  const mm::Tokenizer& tok = load("minimax");
  EXPECT_EQ(tok.vocab_size(), 512);
  EXPECT_EQ(tok.token_to_id("]~b]"), 497);
  EXPECT_EQ(tok.token_to_id("[e~["), 498);
  EXPECT_EQ(tok.token_to_id("<think>"), 501);
  EXPECT_TRUE(tok.is_special(498));
  EXPECT_FALSE(tok.is_special(65));
  EXPECT_EQ(tok.id_to_token(501), "<think>");

  std::string text = "]~b]user\nhello<think>x</think>[e~[";
  auto ids = tok.encode(text);
  ASSERT_GE(ids.size(), 5u);
  EXPECT_EQ(ids.front(), 497);
  EXPECT_EQ(ids.back(), 498);
  EXPECT_NE(std::find(ids.begin(), ids.end(), 501), ids.end());
  EXPECT_NE(std::find(ids.begin(), ids.end(), 502), ids.end());
  EXPECT_EQ(tok.decode(ids), text);
  EXPECT_EQ(tok.decode(ids, /*skip_special=*/true), "user\nhellox");

  // As plain text, no special id appears and the text still round-trips.
  auto plain = tok.encode(text, /*parse_special=*/false);
  for (int32_t id : plain) EXPECT_FALSE(tok.is_special(id)) << id;
  EXPECT_EQ(tok.decode(plain), text);
}

TEST(Tokenizer, ParseSpecialFalseTreatsSpecialTokensAsText) {
  const mm::Tokenizer& tok = load("qwen3");
  std::string text = "a<|im_start|>b";
  auto with = tok.encode(text);
  ASSERT_EQ(with.size(), 3u);
  EXPECT_EQ(with[1], 151644);
  auto without = tok.encode(text, false);
  EXPECT_GT(without.size(), 3u);
  for (int32_t id : without) EXPECT_LT(id, 151643);
  EXPECT_EQ(tok.decode(without), text);
}

TEST(Tokenizer, Errors) {
  EXPECT_THROW(mm::Tokenizer::from_file("/nonexistent/tokenizer.json"), mm::Error);
  EXPECT_THROW(mm::Tokenizer::from_json_string("{not json"), mm::Error);
  EXPECT_THROW(mm::Tokenizer::from_json_string("[1,2]"), mm::Error);
  EXPECT_THROW(mm::Tokenizer::from_json_string(R"({"model": {"type": "Unigram", "vocab": []}})"), mm::Error);
  EXPECT_THROW(mm::Tokenizer::from_json_string(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}})"),
               mm::Error);
  const mm::Tokenizer& tok = load("minimax");
  std::vector<int32_t> bad = {1, 512};
  EXPECT_THROW(tok.decode(bad), mm::Error);
  std::vector<int32_t> neg = {-1};
  EXPECT_THROW(tok.decode(neg), mm::Error);
  EXPECT_THROW(tok.id_to_token(9999), mm::Error);
  mm::StreamDecoder sd(tok);
  EXPECT_THROW(sd.push(512), mm::Error);
}

std::string random_bytes(std::mt19937& rng) {
  std::uniform_int_distribution<int> len(0, 48), byte(0, 255), kind(0, 3);
  std::string s;
  int n = len(rng);
  for (int i = 0; i < n; ++i) {
    // Mix raw bytes with ASCII and a few UTF-8 lead/continuation bytes so that both valid and
    // broken multi-byte sequences occur often.
    switch (kind(rng)) {
      case 0: s.push_back(static_cast<char>(byte(rng))); break;
      case 1: s.push_back(static_cast<char>(" \n\tab'sZ09<|>"[byte(rng) % 13])); break;
      case 2: s.push_back(static_cast<char>(0x80 | (byte(rng) & 0x3F))); break;
      default: s.push_back(static_cast<char>(0xC2 + byte(rng) % 0x33)); break;
    }
  }
  return s;
}

// The text the tokenizer actually sees: invalid UTF-8 repaired, then the normalizer (qwen3: NFC).
std::string expected_round_trip(const std::string& name, const std::string& bytes) {
  std::string valid = mm::tok::to_valid_utf8(bytes);
  return name == "qwen3" ? mm::tok::normalize(valid, mm::tok::NormForm::nfc) : valid;
}

TEST(Tokenizer, RandomBytesNeverCrashAndRoundTrip) {
  for (const auto& name : kAll) {
    const mm::Tokenizer& tok = load(name);
    std::mt19937 rng(1234);
    for (int i = 0; i < 2000; ++i) {
      std::string s = random_bytes(rng);
      auto ids = tok.encode(s);
      for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < tok.vocab_size());
      std::string back = tok.decode(ids);
      ASSERT_TRUE(mm::tok::is_valid_utf8(back));
      ASSERT_EQ(back, expected_round_trip(name, s)) << name << " case " << i;
      ASSERT_EQ(tok.encode(s, false).empty(), s.empty());
    }
  }
}

void append_cp(std::string& s, uint32_t cp) { mm::tok::append_utf8(s, cp); }

std::string random_text(std::mt19937& rng) {
  // Code point pools: ASCII, whitespace (incl. Unicode spaces and NEL), Latin with combining
  // marks, CJK, Hangul, emoji, digits of other scripts.
  static const std::vector<std::pair<uint32_t, uint32_t>> ranges = {
      {0x20, 0x7E}, {0x20, 0x7E}, {0x20, 0x7E}, {0x09, 0x0D}, {0x2000, 0x200A}, {0x85, 0x85}, {0xA0, 0xFF},
      {0x300, 0x36F}, {0x4E00, 0x9FFF}, {0xAC00, 0xD7A3}, {0x1F300, 0x1F64F}, {0x660, 0x669}, {0x3040, 0x30FF}};
  std::uniform_int_distribution<size_t> pick(0, ranges.size() - 1);
  std::uniform_int_distribution<int> len(0, 40);
  std::string s;
  int n = len(rng);
  for (int i = 0; i < n; ++i) {
    auto [lo, hi] = ranges[pick(rng)];
    append_cp(s, std::uniform_int_distribution<uint32_t>(lo, hi)(rng));
  }
  return s;
}

TEST(Tokenizer, RandomTextRoundTrips) {
  for (const auto& name : kAll) {
    const mm::Tokenizer& tok = load(name);
    std::mt19937 rng(99);
    for (int i = 0; i < 1500; ++i) {
      std::string s = random_text(rng);
      ASSERT_EQ(tok.decode(tok.encode(s)), expected_round_trip(name, s)) << name << " case " << i;
    }
  }
}

void check_stream(const mm::Tokenizer& tok, const std::vector<int32_t>& ids, bool skip_special) {
  mm::StreamDecoder sd(tok, skip_special);
  std::string all;
  for (int32_t id : ids) {
    std::string d = sd.push(id);
    ASSERT_TRUE(mm::tok::is_valid_utf8(d));
    all += d;
  }
  std::string tail = sd.flush();
  ASSERT_TRUE(mm::tok::is_valid_utf8(tail));
  all += tail;
  ASSERT_EQ(all, tok.decode(ids, skip_special));
}

TEST(Tokenizer, StreamDecoderMatchesDecode) {
  for (const auto& name : kAll) {
    const mm::Tokenizer& tok = load(name);
    std::mt19937 rng(7);
    std::uniform_int_distribution<int32_t> any_id(0, tok.vocab_size() - 1), low_id(0, 300), len(0, 30);
    for (int i = 0; i < 1000; ++i) {
      // Random ids (low ids are mostly single bytes, so partial characters are common) ...
      std::vector<int32_t> ids;
      int n = len(rng);
      for (int k = 0; k < n; ++k) ids.push_back(k % 2 ? any_id(rng) : low_id(rng));
      check_stream(tok, ids, i % 2 == 0);
      // ... and ids of real text, where multi-byte characters span several tokens.
      check_stream(tok, tok.encode(random_text(rng)), false);
    }
  }
}

TEST(Tokenizer, StreamHoldsIncompleteCharacters) {
  const mm::Tokenizer& tok = load("llama3");
  // "€" is E2 82 AC; in a byte-level vocab each byte is a single-char token.
  auto byte_id = [&](unsigned char b) {
    std::string ch;
    mm::tok::append_utf8(ch, mm::tok::byte_to_codepoint()[b]);
    return *tok.token_to_id(ch);
  };
  mm::StreamDecoder sd(tok);
  EXPECT_EQ(sd.push(byte_id(0xE2)), "");
  EXPECT_EQ(sd.push(byte_id(0x82)), "");
  EXPECT_EQ(sd.push(byte_id(0xAC)), "\xE2\x82\xAC");
  EXPECT_EQ(sd.push(byte_id(0xF0)), "");
  EXPECT_EQ(sd.push(byte_id('a')), "\xEF\xBF\xBD" "a");  // broken sequence, then the next char
  EXPECT_EQ(sd.push(byte_id(0xE2)), "");
  EXPECT_EQ(sd.flush(), "\xEF\xBF\xBD");  // dangling incomplete sequence
  EXPECT_EQ(sd.flush(), "");
}

}  // namespace
