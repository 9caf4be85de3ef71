#include "server/http_server.h"

#include <malloc.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "server/http_conn.h"

namespace mm::server {

namespace {
thread_local ConnStream* t_conn = nullptr;  // the connection this worker is serving
thread_local bool t_reject = false;         // on the closer thread: connections run there are refused
constexpr size_t kMaxLingering = 1024;
constexpr auto kLinger = std::chrono::seconds(2);
constexpr size_t kTrimAfterBytes = size_t(1) << 20;
constexpr size_t kMaxRequestsPerConnection = 100;
}  // namespace

// Workers (one connection each) and one closer thread, which answers connections over the cap with a
// 503 and closes sockets gracefully: after our FIN it reads and drops what the client still sends
// (until its FIN or a short timeout), so that closing with unread input does not reset the connection
// and lose the response.
struct HttpServer::Pool final : httplib::TaskQueue {
  Pool(int n, std::shared_ptr<std::atomic<int>> busy, std::atomic<int>& phase, double drain_s)
      : n_workers(n), busy(std::move(busy)), phase(phase), drain_s(drain_s) {
    for (int i = 0; i < n; ++i) workers.emplace_back([this] { work(); });
    closer = std::thread([this] { close_loop(); });
  }

  void enqueue(std::function<void()> fn) override {
    {
      std::lock_guard<std::mutex> lk(mu);
      if (busy->load() >= n_workers) {
        rejects.push_back(std::move(fn));
        closer_cv.notify_one();
        return;
      }
      ++*busy;
      jobs.push_back(std::move(fn));
    }
    work_cv.notify_one();
  }

  void shutdown() override {
    std::unique_lock<std::mutex> lk(mu);
    if (phase.load() < int(ServePhase::Aborting)) {
      const auto deadline = std::chrono::steady_clock::now() +
                            std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(drain_s));
      idle_cv.wait_until(lk, deadline, [&] { return busy->load() == 0; });
    }
    if (busy->load() > 0) {
      phase.store(int(ServePhase::Aborting));  // streams end with an error event, waits give up
      idle_cv.wait_for(lk, std::chrono::seconds(30), [&] { return busy->load() == 0; });
    }
    stop = true;
    lk.unlock();
    work_cv.notify_all();
    closer_cv.notify_all();
    for (auto& t : workers) t.join();
    closer.join();
  }

  // Closes fd once the client has closed its side or after a short time (fd: our side already shut).
  void linger(int fd) {
    std::lock_guard<std::mutex> lk(mu);
    if (stop || n_lingering + new_lingering.size() >= kMaxLingering) {
      ::close(fd);
      return;
    }
    new_lingering.push_back(fd);
    closer_cv.notify_one();
  }

  void work() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> lk(mu);
        work_cv.wait(lk, [&] { return stop || !jobs.empty(); });
        if (jobs.empty()) return;
        fn = std::move(jobs.front());
        jobs.pop_front();
      }
      fn();
      fn = nullptr;
      std::lock_guard<std::mutex> lk(mu);
      --*busy;
      idle_cv.notify_all();
    }
  }

  void close_loop() {
    t_reject = true;
    using Clock = std::chrono::steady_clock;
    std::vector<std::pair<int, Clock::time_point>> open;  // owned by this thread
    for (;;) {
      std::deque<std::function<void()>> todo;
      {
        std::unique_lock<std::mutex> lk(mu);
        if (open.empty())
          closer_cv.wait(lk, [&] { return stop || !rejects.empty() || !new_lingering.empty(); });
        todo.swap(rejects);
        if (stop && todo.empty()) break;
      }
      for (auto& fn : todo) fn();  // each writes its 503 and comes back through linger()
      {
        std::lock_guard<std::mutex> lk(mu);
        for (int fd : new_lingering) open.emplace_back(fd, Clock::now() + kLinger);
        new_lingering.clear();
        n_lingering = open.size();
      }
      if (open.empty()) continue;
      std::vector<pollfd> fds;
      for (auto& [fd, t] : open) fds.push_back({fd, POLLIN, 0});
      ::poll(fds.data(), fds.size(), 50);
      const auto now = Clock::now();
      size_t k = 0;
      for (size_t i = 0; i < open.size(); ++i) {
        bool done = now >= open[i].second;
        if (!done && fds[i].revents) {
          char sink[16384];
          const ssize_t r = ::recv(open[i].first, sink, sizeof sink, MSG_DONTWAIT);
          done = r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
        }
        if (done) ::close(open[i].first);
        else open[k++] = open[i];
      }
      open.resize(k);
    }
    std::lock_guard<std::mutex> lk(mu);
    for (auto& [fd, t] : open) ::close(fd);
    for (int fd : new_lingering) ::close(fd);
    new_lingering.clear();
  }

  const int n_workers;
  std::shared_ptr<std::atomic<int>> busy;
  std::atomic<int>& phase;
  const double drain_s;
  std::mutex mu;
  std::condition_variable work_cv, idle_cv, closer_cv;
  std::deque<std::function<void()>> jobs, rejects;
  std::vector<int> new_lingering;
  size_t n_lingering = 0;  // sockets the closer holds (as of its last look)
  bool stop = false;
  std::vector<std::thread> workers;
  std::thread closer;
};

HttpServer::HttpServer(const HttpLimits& limits, std::atomic<int>& phase)
    : lim_(limits), phase_(phase), busy_(std::make_shared<std::atomic<int>>(0)) {
  if (lim_.max_connections < 1) lim_.max_connections = 1;
  new_task_queue = [this] {
    auto* p = new Pool(lim_.max_connections, busy_, phase_, lim_.drain_timeout_s);
    pool_.store(p);
    return p;
  };
  set_payload_max_length(lim_.max_body_bytes);
  set_read_timeout(time_t(lim_.io_timeout_s), 0);
  set_write_timeout(time_t(lim_.io_timeout_s), 0);
  set_keep_alive_timeout(time_t(lim_.idle_timeout_s));  // (what the Keep-Alive response header says)
  set_keep_alive_max_count(kMaxRequestsPerConnection);
}

HttpServer::~HttpServer() = default;

void HttpServer::apply_backlog() {
  const socket_t s = svr_sock_;
  if (s != INVALID_SOCKET) ::listen(s, lim_.backlog);  // Linux: listening again sets the backlog
}

void HttpServer::drain() {
  int serving = int(ServePhase::Serving);
  phase_.compare_exchange_strong(serving, int(ServePhase::Draining));
  if (accept_stopped_.exchange(true)) return;
  // Not httplib's stop(): that marks the server socket invalid, which cuts every chunked response short.
  // A shut listening socket fails accept(), which ends the accept loop; then the pool's shutdown drains.
  const socket_t s = svr_sock_;
  if (s != INVALID_SOCKET) ::shutdown(s, SHUT_RDWR);
}

void HttpServer::stop_now() {
  phase_.store(int(ServePhase::Aborting));
  drain();
}

int HttpServer::open_connections() const { return busy_->load(); }

void HttpServer::close_after_response() {
  if (t_conn) t_conn->close_after = true;
}

bool HttpServer::body_over_limit() { return t_conn && t_conn->body_over; }

bool HttpServer::process_and_close_socket(socket_t sock) {
  Pool* pool = pool_.load();
  if (t_reject) {  // over the connection cap (on the closer thread): a 503 now, without reading the request
    char peek[32];
    const ssize_t n = ::recv(sock, peek, sizeof peek, MSG_PEEK | MSG_DONTWAIT);
    const bool anthropic = n > 0 && std::string_view(peek, size_t(n)).find("/v1/messages") != std::string_view::npos;
    const std::string msg = "the server is at its connection limit (" + std::to_string(lim_.max_connections) +
                            " connections): retry later";
    const std::string body = anthropic ? R"({"type":"error","error":{"type":"overloaded_error","message":")" + msg + "\"}}"
                                       : R"({"error":{"message":")" + msg + R"(","type":"server_busy","param":null,"code":503}})";
    const std::string res = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
                            "Connection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    (void)::send(sock, res.data(), res.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::shutdown(sock, SHUT_WR);
    pool->linger(sock);
    return false;
  }
  bool ok = true;
  {
    ConnStream strm(sock, lim_, phase_);
    bool first = true;
    for (int left = int(kMaxRequestsPerConnection); left > 0; --left) {
      if (!strm.wait_request(first ? lim_.header_timeout_s : lim_.idle_timeout_s)) break;
      first = false;
      strm.begin_request();
      const bool close = left == 1 || phase_.load() != int(ServePhase::Serving);
      bool closed = false;
      t_conn = &strm;
      ok = process_request(strm, close, closed, nullptr);
      t_conn = nullptr;
      // A large request or response (JSON trees, token arrays, text) leaves its memory free in this thread's
      // malloc arena, where glibc keeps it: give it back to the system.
      if (strm.request_bytes() > kTrimAfterBytes) malloc_trim(0);
      if (!ok || closed || close || strm.close_after || strm.read_failed) break;
    }
  }
  ::shutdown(sock, SHUT_WR);
  pool->linger(sock);
  return ok;
}

}  // namespace mm::server
