#include "server/signature.h"

#include <array>
#include <cstdint>
#include <cstring>
#include <random>

namespace mm::server {

namespace {

uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

// SipHash-2-4 of `m` under the 128-bit key (k0, k1).
uint64_t siphash(uint64_t k0, uint64_t k1, std::string_view m) {
  uint64_t v0 = 0x736f6d6570736575ull ^ k0, v1 = 0x646f72616e646f6dull ^ k1;
  uint64_t v2 = 0x6c7967656e657261ull ^ k0, v3 = 0x7465646279746573ull ^ k1;
  auto round = [&] {
    v0 += v1, v1 = rotl(v1, 13), v1 ^= v0, v0 = rotl(v0, 32);
    v2 += v3, v3 = rotl(v3, 16), v3 ^= v2;
    v0 += v3, v3 = rotl(v3, 21), v3 ^= v0;
    v2 += v1, v1 = rotl(v1, 17), v1 ^= v2, v2 = rotl(v2, 32);
  };
  const size_t n = m.size(), whole = n & ~size_t(7);
  for (size_t i = 0; i < whole; i += 8) {
    uint64_t w = 0;
    for (int k = 7; k >= 0; --k) w = (w << 8) | uint8_t(m[i + size_t(k)]);  // little-endian word
    v3 ^= w;
    round(), round();
    v0 ^= w;
  }
  uint64_t last = uint64_t(n & 0xff) << 56;
  for (size_t k = 0; k < n - whole; ++k) last |= uint64_t(uint8_t(m[whole + k])) << (8 * k);
  v3 ^= last;
  round(), round();
  v0 ^= last;
  v2 ^= 0xff;
  round(), round(), round(), round();
  return v0 ^ v1 ^ v2 ^ v3;
}

struct Key {
  std::array<uint64_t, 8> k;
  Key() {
    std::random_device rd;
    for (auto& x : k) x = (uint64_t(rd()) << 32) ^ rd();
  }
};

std::string base64(const uint8_t* p, size_t n) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < n; i += 3) {
    const uint32_t v = uint32_t(p[i]) << 16 | (i + 1 < n ? uint32_t(p[i + 1]) << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
    out += t[v >> 18 & 63];
    out += t[v >> 12 & 63];
    out += i + 1 < n ? t[v >> 6 & 63] : '=';
    out += i + 2 < n ? t[v & 63] : '=';
  }
  return out;
}

}  // namespace

std::string thinking_signature(std::string_view thinking) {
  static const Key key;
  uint8_t bytes[32];
  for (int lane = 0; lane < 4; ++lane) {
    const uint64_t h = siphash(key.k[size_t(2 * lane)], key.k[size_t(2 * lane + 1)], thinking);
    for (int b = 0; b < 8; ++b) bytes[lane * 8 + b] = uint8_t(h >> (8 * b));
  }
  return base64(bytes, sizeof bytes);
}

}  // namespace mm::server
