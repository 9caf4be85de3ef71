// One client connection as an httplib::Stream with deadlines (http_server.h): reads are buffered and
// bounded by the request's header deadline, then by its body deadline and byte cap; every wait is
// sliced so that the server's shutdown phase is seen within a fraction of a second.
#pragma once
#include <atomic>
#include <chrono>
#include <string>

#include <httplib.h>

#include "server/http_server.h"

namespace mm::server {

class ConnStream final : public httplib::Stream {
 public:
  using Clock = std::chrono::steady_clock;
  ConnStream(socket_t fd, const HttpLimits& lim, const std::atomic<int>& phase) : fd_(fd), lim_(lim), phase_(phase) {}

  // Waits up to `timeout` for the first byte of the next request. False: timed out, closed, or the server
  // is draining (no new requests on this connection).
  bool wait_request(double timeout_s);
  // Starts the deadlines of a request whose first byte is here.
  void begin_request();

  bool close_after = false;  // set by a routing hook: close once this response is written
  bool body_over = false;    // the body passed max_body_bytes
  bool read_failed = false;  // a read timed out or failed: what follows on the connection is unknown
  // Bytes of this request and its response that went through the socket.
  size_t request_bytes() const { return header_bytes_ + body_bytes_ + written_; }

  bool is_readable() const override;
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  socket_t socket() const override { return fd_; }

 private:
  // Polls for `events` until `deadline`, in slices, giving up early when the phase reaches `give_up`.
  // 1 ready, 0 timed out / given up, -1 error.
  int wait(short events, Clock::time_point deadline, int give_up) const;

  socket_t fd_;
  const HttpLimits& lim_;
  const std::atomic<int>& phase_;
  char buf_[4096];
  size_t off_ = 0, len_ = 0;
  bool in_headers_ = true;
  uint32_t tail_ = 0;  // the last 4 header bytes, to see the blank line that ends them
  size_t header_bytes_ = 0, body_bytes_ = 0, written_ = 0;
  Clock::time_point header_deadline_{}, body_deadline_{};
};

}  // namespace mm::server
