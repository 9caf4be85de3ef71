// Exactness against Hugging Face `tokenizers`: every line of the shared golden files gives the ids
// of encode(text, add_special_tokens=False) and decode(ids, skip_special_tokens=False).
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/thread_pool.h"
#include "tokenizer/tokenizer.h"

namespace {

const std::string kDir = std::string(MM_SHARED_DIR) + "/testdata/tokenizers/";

const mm::Tokenizer& load(const std::string& name) {
  static std::map<std::string, std::unique_ptr<mm::Tokenizer>> cache;
  auto& t = cache[name];
  if (!t) t = mm::Tokenizer::from_file(kDir + name + "/tokenizer.json");
  return *t;
}

struct Golden {
  std::string text, decoded;
  std::vector<int32_t> ids;
};

std::vector<Golden> read_goldens(const std::string& name) {
  std::ifstream f(kDir + name + "/golden.jsonl");
  EXPECT_TRUE(f.good()) << name;
  std::vector<Golden> out;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line);
    out.push_back({j["text"].get<std::string>(), j["decoded"].get<std::string>(), j["ids"].get<std::vector<int32_t>>()});
  }
  return out;
}

std::string show(const std::vector<int32_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size() && i < 40; ++i) s += std::to_string(v[i]) + ",";
  return s;
}

class Golden_ : public ::testing::TestWithParam<std::string> {};

TEST_P(Golden_, EncodeAndDecodeMatchHuggingFace) {
  const mm::Tokenizer& tok = load(GetParam());
  auto goldens = read_goldens(GetParam());
  ASSERT_GT(goldens.size(), 200u);
  int n_bad_encode = 0, n_bad_decode = 0;
  for (const auto& g : goldens) {
    auto ids = tok.encode(g.text);
    if (ids != g.ids && ++n_bad_encode <= 5) {
      ADD_FAILURE() << GetParam() << " encode mismatch for text '" << g.text.substr(0, 200) << "'\n got  " << show(ids)
                    << "\n want " << show(g.ids);
    }
    std::string decoded = tok.decode(g.ids);
    if (decoded != g.decoded && ++n_bad_decode <= 5)
      ADD_FAILURE() << GetParam() << " decode mismatch for text '" << g.text.substr(0, 200) << "'";
  }
  EXPECT_EQ(n_bad_encode, 0);
  EXPECT_EQ(n_bad_decode, 0);
}

TEST_P(Golden_, BatchEncodeEqualsSingleEncode) {
  const mm::Tokenizer& tok = load(GetParam());
  auto goldens = read_goldens(GetParam());
  std::vector<std::string> texts;
  for (const auto& g : goldens) texts.push_back(g.text);
  mm::ThreadPool pool(mm::default_thread_count());
  auto batch = tok.encode_batch(texts, pool);
  ASSERT_EQ(batch.size(), goldens.size());
  for (size_t i = 0; i < goldens.size(); ++i) EXPECT_EQ(batch[i], goldens[i].ids) << i;
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, Golden_, ::testing::Values("qwen3", "deepseek_v3", "llama3", "gpt4o"));

}  // namespace
