// The in-process server over a scripted model (fixed output text), shared by the server test files:
// ScriptedModel, ServerFixture (a server on a free port; configure() may change its options), SSE helpers.
#pragma once
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <thread>

#include "chat/chat.h"
#include "engine/engine.h"
#include "model/model.h"
#include "server/server.h"
#include "tokenizer/tokenizer.h"

namespace mm_test {

using namespace mm;
using json = nlohmann::json;

inline const std::string kModel = std::string(MM_SHARED_DIR) + "/testdata/minimax_text01_tiny/model_bf16";

// Emits `script` token by token after any prompt (then repeats its last token).
class ScriptedModel final : public Model {
 public:
  ScriptedModel(ModelConfig cfg, std::vector<int32_t> script) : Model(std::move(cfg)), script_(std::move(script)) {}
  void forward(std::span<const BatchItem> batch, ExecContext& ctx) override {
    begin_batch(batch, ctx);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // slow enough that SSE events come one by one
    for (const auto& it : batch) {
      if (it.seq->n_past == 0) prompt_len_.erase(it.seq);  // a new request in this slot
      it.seq->n_past += it.n_tokens;
      if (!it.logits) continue;  // a prefill chunk before the last
      if (!prompt_len_.count(it.seq)) prompt_len_[it.seq] = it.seq->n_past;  // the prompt's last chunk
      const int64_t k = std::min<int64_t>(it.seq->n_past - prompt_len_[it.seq], int64_t(script_.size()) - 1);
      std::fill(it.logits, it.logits + cfg_.vocab_size, -10.0f);
      it.logits[script_[size_t(k)]] = 10.0f;
    }
  }
  double active_weight_bytes() const override { return 0; }
  double total_weight_bytes() const override { return 0; }

 private:
  std::vector<int32_t> script_;
  std::map<SequenceState*, int64_t> prompt_len_;
};

inline bool valid_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = uint8_t(s[i]);
    const int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + size_t(n) > s.size()) return false;
    for (int k = 1; k < n; ++k)
      if ((uint8_t(s[i + size_t(k)]) & 0xc0) != 0x80) return false;
    i += size_t(n);
  }
  return true;
}

// SSE body -> the JSON of every data line (except [DONE]) and whether [DONE] came.
inline std::vector<json> sse_events(const std::string& body, bool* done = nullptr) {
  std::vector<json> out;
  size_t pos = 0;
  while ((pos = body.find("data: ", pos)) != std::string::npos) {
    size_t end = body.find('\n', pos);
    std::string data = body.substr(pos + 6, end - pos - 6);
    if (data == "[DONE]") {
      if (done) *done = true;
    } else {
      out.push_back(json::parse(data));
    }
    pos = end;
  }
  return out;
}

inline const std::string kOutput =
    "<think>\nLet me think: café 日本.\n</think>\n\nSure, checking é🙂.<tool_calls>\n"
    "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_calls>";

inline const json kTools = json::parse(R"([{"type":"function","function":{"name":"get_weather","description":"w",
  "parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}])");

class ServerFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    tok_ = Tokenizer::from_file(kModel + "/tokenizer.json");
    auto cfg = load_model(kModel)->config();
    auto script = tok_->encode(output());
    script.push_back(*tok_->token_to_id("[e~["));
    EngineConfig ec;
    ec.n_parallel = 2;
    ec.n_ctx = 1024;
    engine_ = std::make_unique<Engine>(std::make_unique<ScriptedModel>(cfg, script), tok_.get(), ec);
    server::ServerOptions o;
    o.port = 0;
    o.model_name = "scripted";
    configure(o);
    srv_ = std::make_unique<server::Server>(*engine_, ChatFormat::Text01, std::vector<int32_t>{}, o);
    port_ = srv_->bind();
    thread_ = std::thread([this] { srv_->listen(); });
    // Serving before the test starts: a stop() that comes before listen() has begun would be lost (httplib),
    // and TearDown's join would wait forever in a test that never sends this server a request.
    httplib::Client c("127.0.0.1", port_);
    for (int i = 0; i < 500 && !c.Get("/health"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  void TearDown() override {
    srv_->stop();
    thread_.join();
  }
  httplib::Result post(const std::string& path, const json& body) {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(20, 0);
    return c.Post(path.c_str(), body.dump(), "application/json");
  }
  json user_msgs() { return json::array({{{"role", "user"}, {"content", "Weather in Paris?"}}}); }
  // What the scripted model says after any prompt (then the end-of-message token).
  virtual std::string output() const { return kOutput; }
  // The server's options before it starts.
  virtual void configure(server::ServerOptions&) {}

  std::unique_ptr<Tokenizer> tok_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<server::Server> srv_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace mm_test
