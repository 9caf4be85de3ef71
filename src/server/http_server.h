// The connection layer under the routes: httplib::Server with its per-connection loop replaced, so
// that a client cannot hold the server by being slow or by announcing a huge body.
//
//  - a fixed pool of worker threads, one connection each; a connection over the cap (every worker
//    busy) is answered at once with a 503 JSON error (Retry-After) by a separate thread;
//  - a total deadline for the request line + headers (not only per read), a total deadline for the
//    body, a cap on header bytes and on body bytes (chunked or unsized bodies included);
//  - idle keep-alive connections closed after a timeout, and at once when the server drains;
//  - a listen backlog larger than httplib's 5;
//  - graceful shutdown: stop accepting, let in-flight requests finish up to a drain timeout, then
//    set the aborting phase (streams end with an error event) and wait for the workers.
#pragma once
#include <atomic>
#include <cstddef>
#include <memory>

#include <httplib.h>

namespace mm::server {

struct HttpLimits {
  int max_connections = 64;       // worker threads = connections served at once; more get a 503
  double header_timeout_s = 10;   // request line + headers, in total, from the request's first byte
  double body_timeout_s = 60;     // the whole body, from the end of the headers
  double idle_timeout_s = 5;      // keep-alive: wait for the next request
  double io_timeout_s = 30;       // one read or write that makes no progress
  size_t max_header_bytes = 64u << 10;
  size_t max_body_bytes = 8u << 20;
  int backlog = 1024;
  double drain_timeout_s = 10;    // graceful shutdown: in-flight requests get this long to finish
};

// Shutdown phases, shared with the routes (streams end with an error event once Aborting).
enum class ServePhase : int { Serving = 0, Draining = 1, Aborting = 2 };

class HttpServer final : public httplib::Server {
 public:
  HttpServer(const HttpLimits& limits, std::atomic<int>& phase);
  ~HttpServer() override;
  // After bind: a listen backlog of limits.backlog.
  void apply_backlog();
  // Graceful stop: no new connections; listen() returns once in-flight requests are done (or the drain
  // timeout passed and they were aborted).
  void drain();
  // Immediate stop: in-flight requests are aborted.
  void stop_now();
  int open_connections() const;

  // For the routing hooks, about the connection whose request this thread is handling:
  // close it after this response (the body was refused unread).
  static void close_after_response();
  // The body read failed because it was larger than max_body_bytes (an unsized or chunked body).
  static bool body_over_limit();

  struct Pool;  // the task queue (http_server.cpp)

 private:
  bool process_and_close_socket(socket_t sock) override;

  HttpLimits lim_;
  std::atomic<int>& phase_;
  std::atomic<bool> accept_stopped_{false};
  std::shared_ptr<std::atomic<int>> busy_;  // connections held by workers (and queued for them)
  std::atomic<Pool*> pool_{nullptr};        // while listen() runs
};

}  // namespace mm::server
