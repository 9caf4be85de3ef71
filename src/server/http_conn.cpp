#include "server/http_conn.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace mm::server {

namespace {

using Clock = ConnStream::Clock;

Clock::time_point after(double seconds) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

// "host", port, spelled as client_gone_probe (api_common.cpp) spells them.
void endpoint_of(int fd, bool peer, std::string& ip, int& port) {
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  const int r = peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len) : getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  char h[NI_MAXHOST], p[NI_MAXSERV];
  if (r != 0 || getnameinfo(reinterpret_cast<const sockaddr*>(&a), len, h, sizeof h, p, sizeof p, NI_NUMERICHOST | NI_NUMERICSERV)) {
    ip.clear();
    port = 0;
    return;
  }
  ip = h;
  port = std::atoi(p);
}

constexpr int kNever = 3;  // a phase never reached: waits that the shutdown does not cut short

}  // namespace

int ConnStream::wait(short events, Clock::time_point deadline, int give_up) const {
  for (;;) {
    if (phase_.load() >= give_up) return 0;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return 0;
    pollfd p{fd_, events, 0};
    const int r = ::poll(&p, 1, int(std::min<long long>(left + 1, 200)));
    if (r > 0) return 1;  // ready, or hung up / in error: the next recv / send says which
    if (r < 0 && errno != EINTR) return -1;
  }
}

bool ConnStream::wait_request(double timeout_s) {
  if (off_ < len_) return true;
  if (wait(POLLIN, after(timeout_s), int(ServePhase::Draining)) <= 0) return false;
  ssize_t n;
  do n = ::recv(fd_, buf_, sizeof buf_, 0);
  while (n < 0 && errno == EINTR);
  if (n <= 0) return false;
  off_ = 0;
  len_ = size_t(n);
  return true;
}

void ConnStream::begin_request() {
  in_headers_ = true;
  tail_ = 0;
  header_bytes_ = body_bytes_ = written_ = 0;
  header_deadline_ = after(lim_.header_timeout_s);
  close_after = body_over = read_failed = false;
}

bool ConnStream::is_readable() const {
  return off_ < len_ || wait(POLLIN, after(lim_.io_timeout_s), int(ServePhase::Aborting)) > 0;
}

bool ConnStream::is_writable() const { return wait(POLLOUT, after(lim_.io_timeout_s), kNever) > 0; }

ssize_t ConnStream::read(char* ptr, size_t size) {
  if (off_ == len_) {
    const auto deadline = std::min(in_headers_ ? header_deadline_ : body_deadline_, after(lim_.io_timeout_s));
    if (wait(POLLIN, deadline, int(ServePhase::Aborting)) <= 0) {
      read_failed = true;
      return -1;
    }
    ssize_t n;
    do n = ::recv(fd_, buf_, sizeof buf_, 0);
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
      read_failed = true;
      return n < 0 ? -1 : 0;
    }
    off_ = 0;
    len_ = size_t(n);
  }
  size_t n = std::min(size, len_ - off_);
  if (in_headers_) {
    // Hand out bytes up to the blank line only, so that the body is counted against the body's limits.
    size_t i = 0;
    while (i < n) {
      tail_ = (tail_ << 8) | uint8_t(buf_[off_ + i++]);
      if (tail_ == 0x0d0a0d0au) {
        in_headers_ = false;
        body_deadline_ = after(lim_.body_timeout_s);
        break;
      }
    }
    n = i;
    header_bytes_ += n;
    if (header_bytes_ > lim_.max_header_bytes) {
      read_failed = true;
      return -1;
    }
  } else {
    body_bytes_ += n;
    if (body_bytes_ > lim_.max_body_bytes + (64u << 10)) {  // (room for chunked framing)
      body_over = read_failed = true;
      return -1;
    }
  }
  std::memcpy(ptr, buf_ + off_, n);
  off_ += n;
  return ssize_t(n);
}

ssize_t ConnStream::write(const char* ptr, size_t size) {
  if (!is_writable()) return -1;
  ssize_t n;
  do n = ::send(fd_, ptr, size, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n > 0) written_ += size_t(n);
  return n;
}

void ConnStream::get_remote_ip_and_port(std::string& ip, int& port) const { endpoint_of(fd_, true, ip, port); }
void ConnStream::get_local_ip_and_port(std::string& ip, int& port) const { endpoint_of(fd_, false, ip, port); }

}  // namespace mm::server
