// Pipeline options that the golden tokenizers do not exercise, on small synthetic tokenizer.json
// files whose expected ids follow from HF's documented semantics.
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <utf8proc.h>

#include "core/error.h"
#include "tokenizer/regex.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace {

using nlohmann::json;

std::string byte_char(unsigned char b) {
  std::string s;
  mm::tok::append_utf8(s, mm::tok::byte_to_codepoint()[b]);
  return s;
}

// A byte-level BPE: ids 0..255 are the byte symbols (id == byte value), then one token per merge.
json make_tokenizer(const std::vector<std::pair<std::string, std::string>>& merges, json pre_tokenizer,
                    json added = json::array(), json normalizer = nullptr) {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_char(static_cast<unsigned char>(b))] = b;
  json merge_list = json::array();
  int next = 256;
  for (auto& [a, b] : merges) {
    std::string ma, mb;
    for (unsigned char c : a) ma += byte_char(c);
    for (unsigned char c : b) mb += byte_char(c);
    if (!vocab.contains(ma + mb)) vocab[ma + mb] = next++;
    merge_list.push_back(json::array({ma, mb}));
  }
  json seq = json::array({pre_tokenizer, {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}});
  return {{"normalizer", normalizer},
          {"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", seq}}},
          {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merge_list}}},
          {"decoder", {{"type", "ByteLevel"}}},
          {"added_tokens", added}};
}

std::vector<int32_t> encode_with(const json& j, const std::string& text) {
  return mm::Tokenizer::from_json_string(j.dump())->encode(text);
}

json split(const std::string& behavior, bool invert) {
  return {{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior}, {"invert", invert}};
}

TEST(TokenizerPipeline, SplitBehaviours) {
  // Merges "a-" (256) and "-b" (257): which one applies shows where the pieces were cut.
  std::vector<std::pair<std::string, std::string>> merges = {{"a", "-"}, {"-", "b"}, {"-", "-"}};
  const int a = 'a', b = 'b', d = '-', a_d = 256, d_b = 257, dd = 258;
  EXPECT_EQ(encode_with(make_tokenizer(merges, split("Isolated", false)), "a-b"), (std::vector<int32_t>{a, d, b}));
  EXPECT_EQ(encode_with(make_tokenizer(merges, split("Removed", false)), "a-b"), (std::vector<int32_t>{a, b}));
  EXPECT_EQ(encode_with(make_tokenizer(merges, split("MergedWithPrevious", false)), "a-b"),
            (std::vector<int32_t>{a_d, b}));
  EXPECT_EQ(encode_with(make_tokenizer(merges, split("MergedWithNext", false)), "a-b"), (std::vector<int32_t>{a, d_b}));
  // Contiguous keeps runs of matches together: "a", "--", "b".
  EXPECT_EQ(encode_with(make_tokenizer(merges, split("Contiguous", false)), "a--b"),
            (std::vector<int32_t>{a, dd, b}));
  EXPECT_EQ(encode_with(make_tokenizer(merges, split("Isolated", false)), "a--b"),
            (std::vector<int32_t>{a, d, d, b}));
  // Inverted Removed keeps only the matches.
  EXPECT_EQ(encode_with(make_tokenizer(merges, split("Removed", true)), "a-b-"), (std::vector<int32_t>{d, d}));
  // Without any split, merges run over the whole word: "a-" wins (lower rank) then "b".
  json none = {{"type", "Sequence"}, {"pretokenizers", json::array()}};
  EXPECT_EQ(encode_with(make_tokenizer(merges, none), "a-b"), (std::vector<int32_t>{a_d, b}));
}

TEST(TokenizerPipeline, DigitsAndByteLevelRegex) {
  std::vector<std::pair<std::string, std::string>> merges = {{"1", "2"}, {" ", "a"}};
  json digits = {{"type", "Digits"}, {"individual_digits", true}};
  EXPECT_EQ(encode_with(make_tokenizer(merges, digits), "12"), (std::vector<int32_t>{'1', '2'}));
  json grouped = {{"type", "Digits"}, {"individual_digits", false}};
  EXPECT_EQ(encode_with(make_tokenizer(merges, grouped), "12"), (std::vector<int32_t>{256}));
  // ByteLevel with its own GPT-2 regex and add_prefix_space: "a" becomes " a" -> merge 257.
  json j = make_tokenizer(merges, grouped);
  j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}};
  auto tok = mm::Tokenizer::from_json_string(j.dump());
  EXPECT_EQ(tok->encode("a"), (std::vector<int32_t>{257}));
  EXPECT_EQ(tok->encode("a a"), (std::vector<int32_t>{257, 257}));
  EXPECT_EQ(tok->decode(std::vector<int32_t>{257}), " a");
}

json added_token(int id, const std::string& content, bool special, bool lstrip, bool rstrip, bool single_word,
                 bool normalized) {
  return {{"id", id},         {"content", content},         {"special", special},
          {"lstrip", lstrip}, {"rstrip", rstrip},           {"single_word", single_word},
          {"normalized", normalized}};
}

TEST(TokenizerPipeline, AddedTokenRules) {
  json none = {{"type", "Sequence"}, {"pretokenizers", json::array()}};
  json added = json::array({added_token(300, "<x>", true, true, true, false, false),
                            added_token(301, "cat", false, false, false, true, false),
                            added_token(302, "<xy>", true, false, false, false, false)});
  auto tok = mm::Tokenizer::from_json_string(make_tokenizer({}, none, added).dump());
  // lstrip / rstrip swallow surrounding whitespace.
  EXPECT_EQ(tok->encode("a  <x>  b"), (std::vector<int32_t>{'a', 300, 'b'}));
  // Longest match wins among tokens starting at the same place.
  EXPECT_EQ(tok->encode("<xy>"), (std::vector<int32_t>{302}));
  // single_word: only matched when not inside a word.
  EXPECT_EQ(tok->encode("cat"), (std::vector<int32_t>{301}));
  EXPECT_EQ(tok->encode("a cat!"), (std::vector<int32_t>{'a', ' ', 301, '!'}));
  EXPECT_EQ(tok->encode("cats"), (std::vector<int32_t>{'c', 'a', 't', 's'}));
  // parse_special = false: special tokens are text, non-special ones are still found.
  EXPECT_EQ(tok->encode("<xy> cat", false), (std::vector<int32_t>{'<', 'x', 'y', '>', ' ', 301}));
  EXPECT_EQ(tok->vocab_size(), 303);
}

TEST(TokenizerPipeline, NormalizedAddedTokenMatchesAfterNfc) {
  json none = {{"type", "Sequence"}, {"pretokenizers", json::array()}};
  // "é" written decomposed in the text still matches the composed added token after NFC.
  json added = json::array({added_token(300, "\xC3\xA9", false, false, false, false, true)});
  auto tok = mm::Tokenizer::from_json_string(make_tokenizer({}, none, added, {{"type", "NFC"}}).dump());
  EXPECT_EQ(tok->encode("e\xCC\x81"), (std::vector<int32_t>{300}));
  EXPECT_EQ(tok->encode("\xC3\xA9"), (std::vector<int32_t>{300}));
}

TEST(TokenizerPipeline, UnsupportedPartsAreRejected) {
  json none = {{"type", "Sequence"}, {"pretokenizers", json::array()}};
  json j = make_tokenizer({}, none);
  j["normalizer"] = {{"type", "Lowercase"}};
  EXPECT_THROW(mm::Tokenizer::from_json_string(j.dump()), mm::Error);
  j = make_tokenizer({}, none);
  j["pre_tokenizer"] = {{"type", "Metaspace"}};
  EXPECT_THROW(mm::Tokenizer::from_json_string(j.dump()), mm::Error);
  j = make_tokenizer({}, {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}});
  EXPECT_THROW(mm::Tokenizer::from_json_string(j.dump()), mm::Error);
}

TEST(TokenizerPipeline, RegexWhitespaceIsUnicodeWhiteSpace) {
  // Oniguruma's \s (what HF uses) is the White_Space property; check the translated PCRE2 pattern
  // agrees for every code point of the BMP's first blocks, including U+0085.
  mm::tok::Regex ws("\\s"), not_ws("\\S"), cls("[^\\s\\p{L}]");
  std::vector<std::pair<size_t, size_t>> m;
  for (uint32_t cp = 1; cp < 0x3100; ++cp) {
    if (cp >= 0xD800 && cp < 0xE000) continue;
    std::string s;
    mm::tok::append_utf8(s, cp);
    m.clear();
    ws.find_all(s, m);
    ASSERT_EQ(!m.empty(), mm::tok::is_whitespace(cp)) << std::hex << cp;
    m.clear();
    not_ws.find_all(s, m);
    ASSERT_EQ(m.empty(), mm::tok::is_whitespace(cp)) << std::hex << cp;
  }
  m.clear();
  cls.find_all("\xC2\x85" "a-", m);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].first, 3u);
}

}  // namespace

namespace {

std::string utf8proc_whole(const std::string& s, mm::tok::NormForm form) {
  // Reference: utf8proc over the whole string at once.
  utf8proc_uint8_t* (*fn)(const utf8proc_uint8_t*) = nullptr;
  switch (form) {
    case mm::tok::NormForm::nfc: fn = utf8proc_NFC; break;
    case mm::tok::NormForm::nfd: fn = utf8proc_NFD; break;
    case mm::tok::NormForm::nfkc: fn = utf8proc_NFKC; break;
    case mm::tok::NormForm::nfkd: fn = utf8proc_NFKD; break;
  }
  utf8proc_uint8_t* r = fn(reinterpret_cast<const utf8proc_uint8_t*>(s.c_str()));
  std::string out(reinterpret_cast<char*>(r));
  std::free(r);
  return out;
}

TEST(TokenizerPipeline, ChunkedNormalizationEqualsWholeString) {
  // normalize() only hands the stretches around non-Latin characters to utf8proc; it must agree
  // with normalizing everything at once.
  const std::vector<uint32_t> pool = {'a', 'e', ' ', 'A', 0xA0, 0xE9, 0xC5, 0x212B, 0x2000, 0x300, 0x301, 0x327,
                                      0x1E0A, 0x323, 0x307, 0x1100, 0x1161, 0x11A8, 0xAC00, 0xF900, 0xFB01, 0x2460,
                                      0x0B47, 0x0B3E, 0x3099, 0x304B, 0xB2, 0x132};
  std::mt19937 rng(5);
  std::uniform_int_distribution<size_t> pick(0, pool.size() - 1), len(0, 12);
  for (int i = 0; i < 4000; ++i) {
    std::string s;
    size_t n = len(rng);
    for (size_t k = 0; k < n; ++k) mm::tok::append_utf8(s, pool[pick(rng)]);
    for (auto form : {mm::tok::NormForm::nfc, mm::tok::NormForm::nfd, mm::tok::NormForm::nfkc, mm::tok::NormForm::nfkd})
      ASSERT_EQ(mm::tok::normalize(s, form), utf8proc_whole(s, form)) << i << " form " << static_cast<int>(form);
  }
}

}  // namespace
