// `minimax serve` as a subprocess: the API key from --api-key-file and from MINIMAX_API_KEY (issue #15
// item 11), and SIGTERM during streams (drain, then a final event on every stream, exit 0).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

extern char** environ;

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kModel = std::string(MM_SHARED_DIR) + "/testdata/minimax_text01_tiny/model_bf16";

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// A running `minimax serve --port 0 ...`: its pid and the port it printed.
struct ServeProcess {
  pid_t pid = -1;
  int port = -1;
  int out_fd = -1;
  std::string output;

  bool start(const std::vector<std::string>& extra, const std::vector<std::string>& env_extra = {}) {
    std::vector<std::string> args = {MM_CLI_PATH, "serve", "--model", kModel, "--port", "0", "--threads", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e)
      if (std::string(*e).rfind("MINIMAX_API_KEY=", 0) != 0) env.push_back(*e);
    env.insert(env.end(), env_extra.begin(), env_extra.end());
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    int fds[2];
    if (pipe(fds) != 0) return false;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    out_fd = fds[0];
    if (rc != 0) return false;
    // "... listening on http://127.0.0.1:PORT"
    const std::regex re("listening on http://[^:]+:([0-9]+)");
    const auto t0 = Clock::now();
    while (seconds_since(t0) < 120) {
      pollfd p{out_fd, POLLIN, 0};
      if (poll(&p, 1, 200) <= 0) continue;
      char buf[512];
      const ssize_t n = read(out_fd, buf, sizeof buf);
      if (n <= 0) return false;
      output.append(buf, size_t(n));
      std::smatch m;
      if (std::regex_search(output, m, re)) {
        port = std::stoi(m[1]);
        return true;
      }
    }
    return false;
  }
  // Waits up to timeout_s for the exit; its status, or -1 (then it is killed).
  int wait_exit(double timeout_s) {
    const auto t0 = Clock::now();
    while (seconds_since(t0) < timeout_s) {
      int st = 0;
      if (waitpid(pid, &st, WNOHANG) == pid) {
        pid = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return -1;
  }
  ~ServeProcess() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    if (out_fd >= 0) close(out_fd);
  }
};

int models_status(int port, const std::string& header, const std::string& value) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(20, 0);
  httplib::Headers h;
  if (!header.empty()) h.emplace(header, value);
  auto r = c.Get("/v1/models", h);
  return r ? r->status : -1;
}

}  // namespace

TEST(ServeProcess, ApiKeyFromFile) {
  const auto file = std::filesystem::temp_directory_path() / ("mm_key_" + std::to_string(getpid()));
  std::ofstream(file) << "file-key-42\r\n";
  ServeProcess s;
  ASSERT_TRUE(s.start({"--api-key-file", file.string()})) << s.output;
  EXPECT_EQ(models_status(s.port, "", ""), 401);
  EXPECT_EQ(models_status(s.port, "Authorization", "Bearer file-key-42"), 200);  // the line's \r is not part of it
  EXPECT_EQ(models_status(s.port, "x-api-key", "file-key-42"), 200);
  EXPECT_EQ(models_status(s.port, "Authorization", "Bearer file-key-4"), 401);
  kill(s.pid, SIGTERM);
  EXPECT_EQ(s.wait_exit(60), 0);
  std::filesystem::remove(file);
  // A file without a key is refused at startup.
  std::ofstream(file) << "\n";
  ServeProcess bad;
  EXPECT_FALSE(bad.start({"--api-key-file", file.string()}));
  EXPECT_NE(bad.wait_exit(60), 0);
  std::filesystem::remove(file);
}

TEST(ServeProcess, ApiKeyFromEnvironment) {
  ServeProcess s;
  ASSERT_TRUE(s.start({}, {"MINIMAX_API_KEY=env-key-7"})) << s.output;
  EXPECT_EQ(models_status(s.port, "", ""), 401);
  EXPECT_EQ(models_status(s.port, "Authorization", "Bearer env-key-7"), 200);
  EXPECT_EQ(models_status(s.port, "x-api-key", "wrong"), 401);
  // /health needs no key.
  httplib::Client c("127.0.0.1", s.port);
  auto h = c.Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  kill(s.pid, SIGTERM);
  EXPECT_EQ(s.wait_exit(60), 0);
}

// SIGTERM while two streams (OpenAI and Anthropic) run: the server stops accepting, gives them the drain
// timeout, then ends them with the API's error event; each stream ends with a final event (a normal finish
// if it completed in time), and the process exits 0. Before: the streams were cut with no final event.
TEST(ServeProcess, SigtermDrainsStreams) {
  ServeProcess s;
  ASSERT_TRUE(s.start({"--drain-timeout", "1", "--parallel", "2", "--ctx-size", "4096"})) << s.output;
  struct Stream {
    std::string body;
    bool started = false;
    std::atomic<bool> first_bytes{false};
  };
  Stream oa, an;
  auto run = [&](Stream& st, const std::string& path, const json& req) {
    httplib::Client c("127.0.0.1", s.port);
    c.set_read_timeout(60, 0);
    httplib::Request r;
    r.method = "POST";
    r.path = path;
    r.headers = {{"Content-Type", "application/json"}};
    r.body = req.dump();
    r.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
      st.body.append(d, n);
      st.first_bytes = true;
      return true;
    };
    st.started = bool(c.send(r));
  };
  const json msgs = json::array({{{"role", "user"}, {"content", "Tell me a long story."}}});
  std::thread t1(run, std::ref(oa), "/v1/chat/completions",
                 json{{"messages", msgs}, {"max_tokens", 4000}, {"ignore_eos", true}, {"stream", true}});
  std::thread t2(run, std::ref(an), "/v1/messages",
                 json{{"messages", msgs}, {"max_tokens", 4000}, {"ignore_eos", true}, {"stream", true}});
  const auto t0 = Clock::now();
  while ((!oa.first_bytes || !an.first_bytes) && seconds_since(t0) < 60) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(oa.first_bytes && an.first_bytes);
  const auto sent = Clock::now();
  kill(s.pid, SIGTERM);
  const int code = s.wait_exit(60);
  const double took = seconds_since(sent);
  t1.join();
  t2.join();
  EXPECT_EQ(code, 0) << s.output;
  EXPECT_LT(took, 30);
  // OpenAI: ends with [DONE], after a finish_reason or an error object.
  ASSERT_GE(oa.body.size(), 14u);
  EXPECT_EQ(oa.body.substr(oa.body.size() - 14), "data: [DONE]\n\n") << oa.body.substr(oa.body.size() > 400 ? oa.body.size() - 400 : 0);
  const bool oa_error = oa.body.find("\"error\":{") != std::string::npos;
  if (oa_error) {
    EXPECT_NE(oa.body.find("the server is shutting down"), std::string::npos);
  } else {
    EXPECT_NE(oa.body.find("\"finish_reason\":\"length\""), std::string::npos);
  }
  // Anthropic: the last event is message_stop or error.
  const size_t last = an.body.rfind("event: ");
  ASSERT_NE(last, std::string::npos);
  const std::string tail = an.body.substr(last);
  EXPECT_TRUE(tail.rfind("event: message_stop", 0) == 0 || tail.rfind("event: error", 0) == 0) << tail;
  if (tail.rfind("event: error", 0) == 0) {
    EXPECT_NE(tail.find("the server is shutting down"), std::string::npos) << tail;
  }
  std::printf("after SIGTERM: exit in %.1f s; OpenAI stream %s, Anthropic stream %s\n", took, oa_error ? "ended by error" : "finished",
              tail.rfind("event: error", 0) == 0 ? "ended by error" : "finished");
}
