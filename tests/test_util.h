// Helpers shared by the tests: paths, golden files, temp dirs, running the CLI.
#pragma once
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mm::test {

inline std::string shared_dir() { return MM_SHARED_DIR; }
inline std::string testdata(const std::string& rel) {
  std::string s = shared_dir();  // built step by step: GCC 12 flags `a + "lit" + b` here (false positive)
  s.append("/testdata/").append(rel);
  return s;
}

inline nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot open " + path);
  return nlohmann::json::parse(f);
}

// Key order kept (goldens list tensors and metadata in file order).
inline nlohmann::ordered_json read_ordered_json(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot open " + path);
  return nlohmann::ordered_json::parse(f);
}
inline nlohmann::json to_plain_json(const nlohmann::ordered_json& j) { return nlohmann::json::parse(j.dump()); }

inline std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// n uniform values in [lo, hi), reproducible from seed.
inline std::vector<float> random_vec(size_t n, uint32_t seed, float lo = -1, float hi = 1) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = u(g);
  return v;
}

// A fresh temporary directory, removed when the object dies.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() / ("mm_test_" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string str() const { return path.string(); }
};

// Runs a shell command, returns {exit code, stdout}.
inline std::pair<int, std::string> run_cmd(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return {-1, ""};
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

inline std::string cli() { return MM_CLI_PATH; }

inline std::vector<int32_t> ids_of(const nlohmann::json& a) {
  std::vector<int32_t> r;
  for (const auto& v : a) r.push_back(v.get<int32_t>());
  return r;
}

}  // namespace mm::test
