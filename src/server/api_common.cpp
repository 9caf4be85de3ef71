#include "server/api_common.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>

#include "core/json_depth.h"

namespace mm::server {

// ---------------------------------------------------------------------------------------------------
// Request fields

[[noreturn]] void bad_request(const std::string& msg) { throw ApiError(400, "invalid_request_error", msg); }

json parse_body(const httplib::Request& req) { return parse_body_text(req.body); }

json parse_body_text(std::string_view body) {
  if (json_nesting_depth(body, kMaxJsonDepth + 1) > kMaxJsonDepth)
    bad_request("the request body nests JSON deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number too large for a double
    bad_request(std::string("the request body is not valid JSON (UTF-8): ") + e.what());
  }
  if (!j.is_object()) bad_request("the request body must be a JSON object");
  return j;
}

namespace {
const json* field(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}
}  // namespace

std::optional<double> get_number(const json& j, const char* key) {
  const json* v = field(j, key);
  if (!v) return std::nullopt;
  if (!v->is_number()) bad_request(std::string("'") + key + "' must be a number");
  double d = v->get<double>();
  if (!std::isfinite(d)) bad_request(std::string("'") + key + "' must be finite");
  return d;
}

std::optional<int64_t> get_int(const json& j, const char* key) {
  const json* v = field(j, key);
  if (!v) return std::nullopt;
  if (v->is_number_integer()) {
    if (v->is_number_unsigned() && v->get<uint64_t>() > uint64_t(INT64_MAX))
      bad_request(std::string("'") + key + "' is too large");
    return v->get<int64_t>();
  }
  if (v->is_number_float()) {
    double d = v->get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15) return int64_t(d);
  }
  bad_request(std::string("'") + key + "' must be an integer");
}

std::optional<bool> get_bool(const json& j, const char* key) {
  const json* v = field(j, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) bad_request(std::string("'") + key + "' must be a boolean");
  return v->get<bool>();
}

std::optional<std::string> get_string(const json& j, const char* key) {
  const json* v = field(j, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) bad_request(std::string("'") + key + "' must be a string");
  return v->get<std::string>();
}

std::vector<std::string> get_string_list(const json& j, const char* key) {
  const json* v = field(j, key);
  if (!v) return {};
  std::vector<std::string> out;
  if (v->is_string()) {
    out.push_back(v->get<std::string>());
  } else if (v->is_array()) {
    for (const auto& s : *v) {
      if (!s.is_string()) bad_request(std::string("'") + key + "' must be a string or an array of strings");
      out.push_back(s.get<std::string>());
    }
  } else {
    bad_request(std::string("'") + key + "' must be a string or an array of strings");
  }
  if (out.size() > 16) bad_request(std::string("'") + key + "' has more than 16 entries");
  for (const auto& s : out)
    if (s.empty()) bad_request(std::string("'") + key + "' entries must not be empty");
  return out;
}

void parse_sampling(const json& body, GenRequest& req) {
  auto& sp = req.sampling;
  if (auto t = get_number(body, "temperature")) {
    if (*t < 0 || *t > 2) bad_request("'temperature' must be between 0 and 2");
    sp.temperature = float(*t);
  }
  if (auto p = get_number(body, "top_p")) {
    if (*p <= 0 || *p > 1) bad_request("'top_p' must be in (0, 1]");
    sp.top_p = float(*p);
  }
  if (auto k = get_int(body, "top_k")) {
    if (*k < 0) bad_request("'top_k' must be >= 0");
    sp.top_k = *k;
  }
  if (auto m = get_number(body, "min_p")) {
    if (*m < 0 || *m > 1) bad_request("'min_p' must be in [0, 1]");
    sp.min_p = float(*m);
  }
  if (auto p = get_number(body, "presence_penalty")) {
    if (*p < -2 || *p > 2) bad_request("'presence_penalty' must be between -2 and 2");
    sp.presence_penalty = float(*p);
  }
  if (auto p = get_number(body, "frequency_penalty")) {
    if (*p < -2 || *p > 2) bad_request("'frequency_penalty' must be between -2 and 2");
    sp.frequency_penalty = float(*p);
  }
  if (auto p = get_number(body, "repetition_penalty")) {
    if (*p <= 0) bad_request("'repetition_penalty' must be > 0");
    sp.repetition_penalty = float(*p);
  }
  if (auto s = get_int(body, "seed")) sp.seed = uint64_t(*s);
  else sp.seed = random_seed();
}

void parse_max_tokens(int64_t n_ctx, const json& body, GenRequest& req, std::initializer_list<const char*> keys,
                      bool required) {
  std::optional<int64_t> n;
  const char* which = *keys.begin();
  for (const char* k : keys)
    if (auto v = get_int(body, k)) {
      n = v;
      which = k;
      break;
    }
  if (!n && required) bad_request(std::string("'") + which + "' is required");
  const int64_t n_prompt = int64_t(req.prompt.size());
  if (n_prompt >= n_ctx)  // (a prompt longer than the context is tokenized up to n_ctx + 1 tokens only)
    bad_request("the prompt has " + std::string(n_prompt > n_ctx ? "more than " : "") + std::to_string(std::min(n_prompt, n_ctx)) +
                " tokens; the context size is " + std::to_string(n_ctx) + " tokens (prompt and output): shorten the prompt");
  if (!n) {
    req.max_tokens = n_ctx - n_prompt;
    return;
  }
  if (*n < 1) bad_request(std::string("'") + which + "' must be >= 1");
  if (*n > n_ctx - n_prompt)  // (not n_prompt + *n: a huge *n would overflow)
    bad_request(std::string("'") + which + "' (" + std::to_string(*n) + ") plus the prompt (" +
                std::to_string(n_prompt) + " tokens) exceeds the context size " + std::to_string(n_ctx));
  req.max_tokens = *n;
}

void parse_ignore_eos(const json& body, GenRequest& req) {
  if (get_bool(body, "ignore_eos").value_or(false)) req.stop_ids.clear();
}

// ---------------------------------------------------------------------------------------------------
// Responses

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void send_json(httplib::Response& res, const json& j, int status) {
  res.status = status;
  res.set_content(dump(j), "application/json");
}

void send_error(httplib::Response& res, Api api, int status, const std::string& type, const std::string& msg) {
  json j;
  if (api == Api::Anthropic) {
    j = {{"type", "error"}, {"error", {{"type", type}, {"message", msg}}}};
  } else {
    j = {{"error", {{"message", msg}, {"type", type}, {"param", nullptr}, {"code", status}}}};
  }
  send_json(res, j, status);
}

namespace {
// Equal strings, in time that depends on the lengths only (a key is not guessed byte by byte from
// response times).
bool same_secret(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}
}  // namespace

bool authorized(const ServerContext& ctx, const httplib::Request& req) {
  if (ctx.opts.api_key.empty()) return true;
  // "Authorization: Bearer KEY", the scheme case-insensitive (RFC 9110), or Anthropic's x-api-key.
  const std::string auth = req.get_header_value("Authorization");
  std::string scheme = auth.substr(0, 7);
  for (char& c : scheme) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (scheme == "bearer ") {
    size_t i = 7;
    while (i < auth.size() && auth[i] == ' ') ++i;
    if (same_secret(auth.substr(i), ctx.opts.api_key)) return true;
  }
  return same_secret(req.get_header_value("x-api-key"), ctx.opts.api_key);
}

void handle(ServerContext& ctx, Api api, const httplib::Request& req, httplib::Response& res,
            const std::function<void(const json& body)>& fn) {
  ++ctx.http_requests;
  auto fail = [&](int status, const std::string& type, const std::string& msg) {
    ++ctx.http_errors;
    send_error(res, api, status, type, msg);
  };
  if (!authorized(ctx, req))
    return fail(401, "authentication_error", "invalid or missing API key (send 'Authorization: Bearer KEY')");
  try {
    json body = req.method == "GET" ? json::object() : parse_body(req);
    fn(body);
  } catch (const ApiError& e) {
    fail(e.status, e.type, e.what());
  } catch (const QueueFullError& e) {
    res.set_header("Retry-After", "1");
    fail(503, api == Api::Anthropic ? "overloaded_error" : "server_busy", e.what());
  } catch (const Error& e) {
    fail(400, "invalid_request_error", e.what());
  } catch (const json::exception& e) {
    fail(400, "invalid_request_error", std::string("malformed request: ") + e.what());
  } catch (const std::exception& e) {
    fail(500, api == Api::Anthropic ? "api_error" : "server_error", std::string("internal error: ") + e.what());
  }
}

std::string cancelled_message(const ServerContext& ctx) {
  return ctx.phase.load() >= int(ServePhase::Aborting) ? "the server is shutting down" : "the request was cancelled";
}

std::string sse(const json& data) { return "data: " + dump(data) + "\n\n"; }
std::string sse(const std::string& event, const json& data) { return "event: " + event + "\ndata: " + dump(data) + "\n\n"; }

namespace {

// "host", port of a socket address, spelled the way httplib spells Request::remote_addr / local_addr.
bool endpoint(const sockaddr_storage& a, socklen_t len, std::string* host, int* port) {
  char h[NI_MAXHOST], p[NI_MAXSERV];
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&a), len, h, sizeof h, p, sizeof p, NI_NUMERICHOST | NI_NUMERICSERV))
    return false;
  *host = h;
  *port = std::atoi(p);
  return true;
}

// httplib 0.11 gives a handler no way to reach its connection, so find the socket among the process's
// descriptors by its two endpoints (unique while the handler runs: httplib closes it only afterwards).
int connection_fd(const httplib::Request& req) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const int fd = std::atoi(name.c_str());
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    std::string host;
    int port = 0;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0 || !endpoint(a, len, &host, &port) ||
        port != req.remote_port || host != req.remote_addr)
      continue;
    len = sizeof a;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0 || !endpoint(a, len, &host, &port) ||
        port != req.local_port || host != req.local_addr)
      continue;
    return fd;
  }
  return -1;
}

}  // namespace

// A socket whose peer has closed reads end-of-file (0 bytes) without blocking; one with a request
// pipelined behind this one reads data, and a live idle one would block (EAGAIN).
std::function<bool()> client_gone_probe(const ServerContext& ctx, const httplib::Request& req) {
  const int fd = connection_fd(req);
  const std::atomic<int>* phase = &ctx.phase;
  return [fd, phase] {
    if (phase->load() >= int(ServePhase::Aborting)) return true;
    if (fd < 0) return false;
    char c;
    const ssize_t r = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
  };
}

namespace {
struct StreamState {
  const std::atomic<int>* phase = nullptr;
  std::shared_ptr<RequestHandle> h;
  std::function<std::string(const GenEvent&)> on_event;
  std::function<bool()> client_gone;
  bool done = false;
};
}  // namespace

void stream_sse(ServerContext& ctx, httplib::Response& res, std::shared_ptr<RequestHandle> h,
                std::function<bool()> client_gone, std::function<std::string(const GenEvent& ev)> on_event) {
  auto st = std::make_shared<StreamState>();
  st->phase = &ctx.phase;
  st->h = std::move(h);
  st->client_gone = std::move(client_gone);
  st->on_event = std::move(on_event);
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream",
      [st](size_t, httplib::DataSink& sink) {
        if (st->done) {
          sink.done();
          return true;
        }
        // Shutdown past the drain timeout: cancel, and keep pumping to write the Cancelled event's error.
        if (st->phase->load() >= int(ServePhase::Aborting) && !st->h->cancelled()) st->h->cancel();
        if (!st->h->cancelled() && st->client_gone && st->client_gone()) {
          st->h->cancel();
          return false;
        }
        auto ev = st->h->next(std::chrono::milliseconds(50));
        if (!ev) return true;
        std::string out = st->on_event(*ev);
        if (!out.empty() && !sink.write(out.data(), out.size())) {
          st->h->cancel();
          return false;
        }
        if (ev->done) {
          st->done = true;
          sink.done();
        }
        return true;
      },
      [st](bool) { st->h->cancel(); });  // no-op once finished; frees the slot of a client that left
}

// ---------------------------------------------------------------------------------------------------
// Misc

std::string random_id(const std::string& prefix) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llx%08llx", (unsigned long long)rng(), (unsigned long long)(rng() & 0xffffffffu));
  return prefix + buf;
}

int64_t unix_time() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

uint64_t random_seed() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

namespace {
// GPT-2 byte-level BPE writes byte b as a printable code point: itself for printable Latin-1, else
// 256 + (its rank among the non-printable bytes).
bool printable_byte(uint32_t b) { return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff); }

int byte_of_code_point(uint32_t cp) {
  if (cp < 256) return printable_byte(cp) ? int(cp) : -1;
  uint32_t rank = cp - 256, n = 0;
  for (uint32_t b = 0; b < 256; ++b)
    if (!printable_byte(b) && n++ == rank) return int(b);
  return -1;
}

// Decodes one UTF-8 code point at s[i]; advances i. Invalid bytes give 0xFFFFFFFF.
uint32_t next_code_point(const std::string& s, size_t& i) {
  const auto c = uint8_t(s[i]);
  int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (len == 0 || i + size_t(len) > s.size()) {
    ++i;
    return 0xFFFFFFFFu;
  }
  uint32_t cp = len == 1 ? c : c & (0x7f >> len);
  for (int k = 1; k < len; ++k) cp = (cp << 6) | (uint8_t(s[i + size_t(k)]) & 0x3f);
  i += size_t(len);
  return cp;
}
}  // namespace

std::string token_bytes(const Tokenizer& tok, int32_t id) {
  const std::string piece = tok.id_to_token(id);
  if (tok.is_special(id)) return piece;
  std::string out;
  for (size_t i = 0; i < piece.size();) {
    const int b = byte_of_code_point(next_code_point(piece, i));
    if (b < 0) return tok.decode(std::span<const int32_t>(&id, 1));  // not a byte-level token
    out += char(b);
  }
  return out;
}

json bytes_json(const std::string& bytes) {
  json a = json::array();
  for (char c : bytes) a.push_back(int(uint8_t(c)));
  return a;
}

void add_chat_events(ChatResult& r, const std::vector<ChatEvent>& evs) {
  for (const auto& e : evs) {
    if (e.kind == ChatEvent::Reasoning) r.reasoning += e.text;
    else if (e.kind == ChatEvent::Content) r.content += e.text;
    else r.calls.push_back(e.call);
  }
}

json select_tools(const json& tools, bool none, const std::string& only) {
  if (tools.is_null() || none) return nullptr;
  if (!tools.is_array()) bad_request("'tools' must be an array");
  if (only.empty()) return tools;
  json out = json::array();
  for (const auto& t : tools) {
    const json& f = t.contains("function") ? t["function"] : t;
    if (f.is_object() && f.value("name", std::string()) == only) out.push_back(t);
  }
  if (out.empty()) bad_request("tool_choice names '" + only + "', which is not among the tools");
  return out;
}

std::string forced_tool_call(ChatFormat fmt, const json& tools, bool forced, const std::string& name) {
  if (!forced) return "";
  if (!tools.is_array() || tools.empty()) bad_request("a tool_choice that requires a tool call needs 'tools'");
  return chat_forced_tool_call(fmt, name);
}

}  // namespace mm::server
