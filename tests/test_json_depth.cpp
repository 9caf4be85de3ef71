// The JSON nesting-depth scan (core/json_depth.h) against hand-counted texts, and the tokenizer loader
// refusing a tokenizer.json nested past the limit (a pre_tokenizer Sequence 30,000 deep crashed it).
#include <gtest/gtest.h>

#include <string>

#include "core/error.h"
#include "core/json_depth.h"
#include "tokenizer/tokenizer.h"

namespace mm {
namespace {

TEST(JsonDepth, CountsBracketsOutsideStrings) {
  EXPECT_EQ(json_nesting_depth("1", 100), 0);
  EXPECT_EQ(json_nesting_depth("\"[[[\"", 100), 0);
  EXPECT_EQ(json_nesting_depth("[]", 100), 1);
  EXPECT_EQ(json_nesting_depth("{\"a\": [1, {\"b\": [[]]}], \"c\": {}}", 100), 5);  // { [ { [ [
  EXPECT_EQ(json_nesting_depth("[\"a\\\"[[[\", [\"\\\\\", [0]]]", 100), 3);  // escaped quote, escaped backslash
  EXPECT_EQ(json_nesting_depth("[[]][[[]]]", 100), 3);                       // depth, not total count
  EXPECT_EQ(json_nesting_depth("]]]][", 100), 1);                           // stray closers do not go negative
  EXPECT_EQ(json_nesting_depth(std::string(1000000, '['), 129), 129);       // stops at stop_at
}

TEST(JsonDepth, TokenizerJsonNestedTooDeepIsAnError) {
  std::string pre;
  for (int i = 0; i < 30000; ++i) pre += R"({"type":"Sequence","pretokenizers":[)";
  pre += R"({"type":"ByteLevel"})";
  for (int i = 0; i < 30000; ++i) pre += "]}";
  const std::string text = R"({"model":{"type":"BPE","vocab":{},"merges":[]},"pre_tokenizer":)" + pre + "}";
  try {
    Tokenizer::from_json_string(text);
    FAIL() << "loaded a 60,000-level tokenizer.json";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("deeper than 128 levels"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mm
