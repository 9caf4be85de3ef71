// tokenizer.json -> tokenizer.ggml.* metadata (written into a GGUF and read back), and the tokenizer
// that `minimax init` puts beside random-weight models.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "convert/gguf_tokenizer_kvs.h"
#include "convert/gguf_write.h"
#include "convert/random_tokenizer.h"
#include "core/error.h"
#include "io/gguf.h"
#include "io/gguf_tokenizer.h"
#include "io/safetensors.h"
#include "model/gguf_arch.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "test_util.h"

using namespace mm;
using namespace mm::test;
namespace fs = std::filesystem;

namespace {

const GgufKv* find(const std::vector<GgufKv>& kvs, const std::string& key) {
  for (const auto& kv : kvs)
    if (kv.key == key) return &kv;
  return nullptr;
}

}  // namespace

// The tiny M2 model's tokenizer written into a real GGUF (F32 weights) and read back with gguf_tokenizer():
// every token, type and merge must survive, and the tokens must be the ones mm::Tokenizer sees.
TEST(GgufTokenizer, RoundTripThroughGgufFile) {
  const std::string dir = testdata("minimax_m2_tiny/model_bf16");
  HfCheckpoint ck = load_checkpoint(dir);
  auto kvs = gguf_tokenizer_kvs_from_dir(dir, ck.config);
  ASSERT_FALSE(kvs.empty());
  TempDir tmp;
  const std::string path = tmp.str() + "/tok.gguf";
  GgufWriteOptions o;
  o.policy = GgufPolicy::F32;
  o.extra_kvs = kvs;
  gguf_write(path, ck.config, ck.tensors, o);

  GgufFile f(path);
  GgufTokenizer t = gguf_tokenizer(f);
  const auto tok = Tokenizer::from_file(dir + "/tokenizer.json");
  const nlohmann::json tj = read_json(dir + "/tokenizer.json");
  ASSERT_EQ(int64_t(t.tokens.size()), ck.config["vocab_size"].get<int64_t>());
  ASSERT_EQ(int32_t(t.tokens.size()), tok->vocab_size());
  EXPECT_EQ(t.model, "gpt2");
  EXPECT_EQ(t.pre, "llama-bpe");  // this tokenizer splits with Llama 3's regex
  EXPECT_EQ(t.eos_id, 498);       // generation_config.json: [e~[
  EXPECT_EQ(t.tokens[498], "[e~[");
  EXPECT_EQ(t.bos_id, -1);
  int n_control = 0;
  for (int32_t id = 0; id < int32_t(t.tokens.size()); ++id) {
    EXPECT_EQ(t.tokens[size_t(id)], tok->id_to_token(id)) << id;
    const int32_t want = tok->is_special(id) ? int32_t(GgufTokenType::CONTROL) : int32_t(GgufTokenType::NORMAL);
    EXPECT_EQ(t.token_types[size_t(id)], want) << id;
    n_control += t.token_types[size_t(id)] == int32_t(GgufTokenType::CONTROL);
  }
  EXPECT_EQ(n_control, 16);
  const auto& merges = tj["model"]["merges"];
  ASSERT_EQ(t.merges.size(), merges.size());
  for (size_t i = 0; i < merges.size(); ++i) EXPECT_EQ(t.merges[i], merges[i].get<std::string>()) << i;
  const GgufKv* add_bos = f.find_kv("tokenizer.ggml.add_bos_token");
  ASSERT_NE(add_bos, nullptr);
  EXPECT_EQ(add_bos->type, GgufType::BOOL);
  EXPECT_EQ(add_bos->value, false);
  // The model itself still reads back from the same file.
  EXPECT_EQ(gguf_hf_config(f)["vocab_size"], ck.config["vocab_size"]);
}

// Holes in the id space become "[PAD{id}]" (unused); non-special added tokens are user-defined; merges
// in the newer ["a", "b"] form are joined with a space; ids beyond vocab_size are refused.
TEST(GgufTokenizer, PaddingTypesAndMergeForms) {
  const std::string js = R"({
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "c": 4}, "merges": [["a", "b"]]},
    "added_tokens": [{"id": 5, "content": "<tool>", "special": false}, {"id": 6, "content": "<eos>", "special": true}],
    "pre_tokenizer": {"type": "ByteLevel", "use_regex": true}})";
  GgufTokenizerOptions o;
  o.vocab_size = 9;
  o.eos_id = 6;
  auto kvs = gguf_tokenizer_kvs(js, o);
  const GgufKv* tokens = find(kvs, "tokenizer.ggml.tokens");
  const GgufKv* types = find(kvs, "tokenizer.ggml.token_type");
  const GgufKv* merges = find(kvs, "tokenizer.ggml.merges");
  ASSERT_TRUE(tokens && types && merges);
  EXPECT_EQ(tokens->elem_type, GgufType::STRING);
  EXPECT_EQ(types->elem_type, GgufType::INT32);
  EXPECT_EQ(tokens->value, nlohmann::json({"a", "b", "ab", "[PAD3]", "c", "<tool>", "<eos>", "[PAD7]", "[PAD8]"}));
  EXPECT_EQ(types->value, nlohmann::json({1, 1, 1, 5, 1, 4, 3, 5, 5}));
  EXPECT_EQ(merges->value, nlohmann::json({"a b"}));
  EXPECT_EQ(find(kvs, "tokenizer.ggml.pre")->value, "gpt-2");
  EXPECT_EQ(find(kvs, "tokenizer.ggml.eos_token_id")->value, 6);
  EXPECT_EQ(find(kvs, "tokenizer.ggml.bos_token_id"), nullptr);
  o.pre = "qwen2";
  EXPECT_EQ(find(gguf_tokenizer_kvs(js, o), "tokenizer.ggml.pre")->value, "qwen2");
  o.vocab_size = 6;  // id 6 does not fit
  EXPECT_THROW(gguf_tokenizer_kvs(js, o), Error);
  EXPECT_THROW(gguf_tokenizer_kvs(R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}})", {}), Error);
}

// The pre-tokenizer name follows the split regex of the real tokenizers.
TEST(GgufTokenizer, PreNameFromRegex) {
  auto pre_of = [](const std::string& name) {
    return gguf_tokenizer_pre_name(read_json(testdata("tokenizers/" + name + "/tokenizer.json"))["pre_tokenizer"]);
  };
  EXPECT_EQ(pre_of("qwen3"), "qwen2");
  EXPECT_EQ(pre_of("llama3"), "llama-bpe");
  EXPECT_EQ(pre_of("gpt4o"), "minimax-m2");  // MiniMax-M2 splits with GPT-4o's regex
  EXPECT_EQ(gguf_tokenizer_pre_name(make_random_model_tokenizer(1000)["pre_tokenizer"]), "minimax-m2");
}

// The random-model tokenizer: exactly vocab_size ids, specials at the top, learned merges that really
// apply, and text round-trips through mm::Tokenizer.
TEST(GgufTokenizer, RandomModelTokenizerRoundTrips) {
  const auto j = make_random_model_tokenizer(32000);
  const auto tok = Tokenizer::from_json_string(j.dump());
  EXPECT_EQ(tok->vocab_size(), 32000);
  const auto& sp = minimax_special_tokens();
  for (size_t i = 0; i < sp.size(); ++i) {
    EXPECT_EQ(tok->token_to_id(sp[i]), int32_t(32000 - sp.size() + i)) << sp[i];
    EXPECT_TRUE(tok->is_special(int32_t(32000 - sp.size() + i)));
  }
  EXPECT_EQ(j["model"]["merges"].size(), 300u);
  EXPECT_EQ(tok->encode(" the").size(), 1u);  // the most frequent word is one token
  EXPECT_LT(tok->encode(" The engine reads the model").size(), 12u);
  for (const std::string text : {"Hello world, the engine runs 2024 tokens.\n\n  tabs\tand 中文 ✓",
                                 "]~!b[system\nYou are helpful.[e~[\n<think>hmm</think>", ""}) {
    const auto ids = tok->encode(text);
    EXPECT_EQ(tok->decode(ids), text);
  }
  const auto ids = tok->encode("]~b]user\nhi[e~[");
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(ids.front(), *tok->token_to_id("]~b]"));
  EXPECT_EQ(ids.back(), *tok->token_to_id(kMinimaxEosToken));
  // Every id decodes (fillers included).
  for (int32_t id = 0; id < 32000; id += 97) EXPECT_NO_THROW(tok->decode(std::vector<int32_t>{id}));
  EXPECT_THROW(make_random_model_tokenizer(200), Error);
}

// `minimax init` writes tokenizer.json + generation_config.json; `minimax quantize` turns them into
// tokenizer.ggml.* keys that read back as the same vocabulary.
TEST(GgufTokenizer, InitModelTokenizerAndQuantize) {
  TempDir d;
  auto [rc, out] = run_cmd(cli() + " init --like m2 --out " + d.str() + "/m --hidden 64 --layers 2 --heads 2 " +
                           "--kv-heads 1 --head-dim 32 --experts 4 --top-k 2 --inter 32 --vocab 600 2>&1");
  ASSERT_EQ(rc, 0) << out;
  const auto tok = Tokenizer::from_file(d.str() + "/m/tokenizer.json");
  EXPECT_EQ(tok->vocab_size(), 600);
  const auto gen = read_json(d.str() + "/m/generation_config.json");
  EXPECT_EQ(gen["eos_token_id"], *tok->token_to_id("[e~["));
  const std::string text = "The weather was cold. 中文 ]~b]";
  EXPECT_EQ(tok->decode(tok->encode(text)), text);

  std::tie(rc, out) = run_cmd(cli() + " quantize --model " + d.str() + "/m --type q8_0 --out " + d.str() + "/m.gguf 2>&1");
  ASSERT_EQ(rc, 0) << out;
  GgufFile f(d.str() + "/m.gguf");
  GgufTokenizer t = gguf_tokenizer(f);
  ASSERT_EQ(t.tokens.size(), 600u);
  for (int32_t id = 0; id < 600; ++id) ASSERT_EQ(t.tokens[size_t(id)], tok->id_to_token(id)) << id;
  EXPECT_EQ(t.eos_id, gen["eos_token_id"].get<int64_t>());
  EXPECT_EQ(t.pre, "minimax-m2");
  EXPECT_EQ(t.merges.size(), read_json(d.str() + "/m/tokenizer.json")["model"]["merges"].size());
  // Re-quantising the GGUF carries the tokenizer over.
  std::tie(rc, out) = run_cmd(cli() + " quantize --model " + d.str() + "/m.gguf --type f16 --out " + d.str() + "/m16.gguf 2>&1");
  ASSERT_EQ(rc, 0) << out;
  GgufTokenizer t2 = gguf_tokenizer(GgufFile(d.str() + "/m16.gguf"));
  EXPECT_EQ(t2.tokens, t.tokens);
  EXPECT_EQ(t2.merges, t.merges);
  EXPECT_EQ(t2.token_types, t.token_types);
}

// tokenizer.ggml.* -> tokenizer.json: a tokenizer written to GGUF keys and rebuilt from them encodes
// every line of the Hugging Face golden files to the same ids (Llama 3: llama-bpe + ignore_merges;
// Qwen 3: qwen2 + NFC; GPT-4o: MiniMax's split regex).
TEST(GgufTokenizer, RebuiltTokenizerMatchesHfGoldens) {
  for (const std::string name : {"llama3", "qwen3", "gpt4o"}) {
    const std::string dir = testdata("tokenizers/" + name);
    const std::string json_text = gguf_tokenizer_json(gguf_tokenizer_kvs(read_bytes(dir + "/tokenizer.json"), {}));
    ASSERT_FALSE(json_text.empty());
    const auto tok = Tokenizer::from_json_string(json_text);
    std::ifstream f(dir + "/golden.jsonl");
    std::string line;
    int n = 0;
    while (std::getline(f, line)) {
      const auto g = nlohmann::json::parse(line);
      const std::string text = g["text"];
      EXPECT_EQ(tok->encode(text), g["ids"].get<std::vector<int32_t>>()) << name << ": " << text;
      EXPECT_EQ(tok->decode(g["ids"].get<std::vector<int32_t>>()), g["decoded"].get<std::string>()) << name;
      ++n;
    }
    EXPECT_GT(n, 200) << name;
  }
}

// The shared GGUF test models (written like llama.cpp's converter writes them) carry their tokenizer:
// it loads, keeps MiniMax's special tokens whole and round-trips text.
TEST(GgufTokenizer, SharedGgufFilesCarryAUsableTokenizer) {
  for (const std::string arch : {"minimax_text01", "minimax_m2"}) {
    GgufFile f(testdata("gguf/" + arch + "/q8_0/model.gguf"));
    const auto tok = Tokenizer::from_json_string(gguf_tokenizer_json(f.kvs()));
    EXPECT_EQ(tok->vocab_size(), int32_t(gguf_hf_config(f)["vocab_size"].get<int64_t>())) << arch;
    const std::string text = "Hello world, 2024 tokens; 中文 ✓ don't stop.\n\n  x";
    EXPECT_EQ(tok->decode(tok->encode(text)), text) << arch;
    for (const std::string special : {"[e~[", "]~b]"})
      if (auto id = tok->token_to_id(special)) {
        EXPECT_EQ(tok->encode(special), std::vector<int32_t>{*id}) << arch;
      }
  }
}

TEST(GgufTokenizer, RebuildRejectsWhatItCannotRead) {
  EXPECT_EQ(gguf_tokenizer_json({}), "");  // no tokenizer at all
  std::vector<GgufKv> kvs = {{"tokenizer.ggml.model", GgufType::STRING, GgufType::UINT32, "llama"},
                             {"tokenizer.ggml.tokens", GgufType::ARRAY, GgufType::STRING, nlohmann::json::array({"a"})}};
  EXPECT_THROW(gguf_tokenizer_json(kvs), Error);  // SentencePiece
  kvs[0].value = "gpt2";
  kvs.push_back({"tokenizer.ggml.pre", GgufType::STRING, GgufType::UINT32, "some-new-pre"});
  EXPECT_THROW(gguf_tokenizer_json(kvs), Error);  // unknown split regex
}
