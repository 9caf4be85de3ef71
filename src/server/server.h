// The HTTP server: OpenAI- and Anthropic-compatible routes over an Engine.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "chat/chat.h"
#include "server/api_common.h"

namespace mm {
class Model;
}

namespace mm::server {

class Server {
 public:
  // eos_ids: the model's end-of-text tokens; the chat end tokens of `format` are looked up in the tokenizer.
  Server(Engine& engine, ChatFormat format, std::vector<int32_t> eos_ids, ServerOptions opts);
  ~Server();
  // Binds (port 0: any free port) and returns the port; throws mm::Error when it cannot bind.
  int bind();
  // Serves until stop() or drain() (from another thread or a signal handler thread).
  void listen();
  // Stops now: in-flight requests end (a stream with its API's error event). Safe before listen().
  void stop();
  // Stops accepting; listen() returns once in-flight requests are done, or after the drain timeout
  // (ServerOptions::http.drain_timeout_s), when the rest are ended as by stop().
  void drain();

 private:
  std::unique_ptr<ServerContext> ctx_;
  std::unique_ptr<HttpServer> svr_;
};

}  // namespace mm::server
