// Block formats: exact dequantisation against the goldens' dequant_probe values (gguf-py / ggml), and
// quantise -> dequantise round trips with per-format error bounds.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <fstream>
#include <random>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/gguf.h"
#include "ops/quant.h"

namespace {

const std::string kGguf = std::string(MM_SHARED_DIR) + "/testdata/gguf/";

nlohmann::json load_json(const std::string& path) {
  std::ifstream f(path);
  EXPECT_TRUE(f.good()) << path;
  return nlohmann::json::parse(f);
}

struct Variant {
  const char* arch;
  const char* variant;
};
const Variant kVariants[] = {{"minimax_text01", "f32"}, {"minimax_text01", "q8_0"}, {"minimax_text01", "q4_k_m"},
                             {"minimax_m2", "f32"},     {"minimax_m2", "q8_0"},     {"minimax_m2", "q4_k_m"}};

TEST(QuantGolden, DequantProbesExact) {
  std::map<std::string, int> types_seen;
  for (const auto& v : kVariants) {
    const std::string dir = kGguf + v.arch + "/" + v.variant + "/";
    auto golden = load_json(dir + "golden.json")["gguf"];
    mm::GgufFile f(dir + "model.gguf");
    for (const auto& probe : golden["dequant_probe"]) {
      const std::string name = probe["tensor"];
      SCOPED_TRACE(dir + " " + name);
      const mm::GgufTensor* t = f.find_tensor(name);
      ASSERT_NE(t, nullptr);
      mm::DType dt;
      ASSERT_TRUE(mm::ggml_type_to_dtype(t->ggml_type, &dt));
      ASSERT_EQ(std::string(mm::dtype_name(dt)), probe["type"].get<std::string>());
      ASSERT_EQ(t->ne, probe["ne"].get<std::vector<int64_t>>());
      const int64_t ne0 = t->ne[0];
      const size_t row_bytes = mm::dtype_row_bytes(dt, ne0);
      std::vector<float> row(static_cast<size_t>(ne0));
      const auto& idx = probe["flat_index"];
      const auto& vals = probe["values"];
      ASSERT_EQ(idx.size(), vals.size());
      ASSERT_GE(idx.size(), 4u);
      for (size_t i = 0; i < idx.size(); ++i) {
        int64_t flat = idx[i];
        int64_t r = flat / ne0, c = flat % ne0;
        mm::row_to_f32(dt, t->data + size_t(r) * row_bytes, row.data(), ne0);
        EXPECT_EQ(row[size_t(c)], float(vals[i].get<double>())) << "flat index " << flat;
      }
      types_seen[probe["type"]]++;
    }
  }
  // Every storage type of the test files was probed.
  for (const char* t : {"F32", "Q8_0", "Q4_K", "Q5_0", "Q6_K"}) EXPECT_GT(types_seen[t], 0) << t;
}

// Whole-tensor sanity: every block format tensor of the quantised files decodes to finite values of a
// plausible magnitude (random weights ~ N(0, 0.1..0.3)).
TEST(QuantGolden, WholeFilesDecodeFinite) {
  for (const auto& v : kVariants) {
    const std::string path = kGguf + v.arch + "/" + v.variant + "/model.gguf";
    mm::GgufFile f(path);
    for (const auto& t : f.tensors()) {
      mm::DType dt;
      ASSERT_TRUE(mm::ggml_type_to_dtype(t.ggml_type, &dt));
      const int64_t ne0 = t.ne[0], rows = t.n_elements() / ne0;
      std::vector<float> row(static_cast<size_t>(ne0));
      double maxabs = 0;
      for (int64_t r = 0; r < rows; ++r) {
        mm::row_to_f32(dt, t.data + size_t(r) * mm::dtype_row_bytes(dt, ne0), row.data(), ne0);
        for (float x : row) {
          ASSERT_TRUE(std::isfinite(x)) << path << " " << t.name;
          maxabs = std::max(maxabs, double(std::fabs(x)));
        }
      }
      EXPECT_LT(maxabs, 10.0) << path << " " << t.name;
    }
  }
}

struct Bound {
  mm::DType t;
  double rel_rms;  // bound on rms(error) / rms(x) for Gaussian data
};
const Bound kBounds[] = {{mm::DType::Q8_0, 0.007}, {mm::DType::Q4_0, 0.12}, {mm::DType::Q5_0, 0.06},
                         {mm::DType::Q4_K, 0.10},  {mm::DType::Q5_K, 0.05}, {mm::DType::Q6_K, 0.025}};

std::vector<float> round_trip(mm::DType t, const std::vector<float>& x) {
  const int64_t n = int64_t(x.size());
  std::vector<uint8_t> q(mm::dtype_row_bytes(t, n));
  mm::quantize_row(t, x.data(), q.data(), n);
  std::vector<float> y(x.size());
  mm::dequantize_row(t, q.data(), y.data(), n);
  return y;
}

double rel_rms(const std::vector<float>& x, const std::vector<float>& y) {
  double e = 0, s = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    e += double(x[i] - y[i]) * (x[i] - y[i]);
    s += double(x[i]) * x[i];
  }
  return s > 0 ? std::sqrt(e / s) : std::sqrt(e);
}

TEST(QuantRoundTrip, GaussianErrorBounds) {
  std::mt19937 rng(1234);
  std::normal_distribution<float> nd(0.0f, 0.2f);
  for (const auto& b : kBounds) {
    std::vector<float> x(256 * 33);  // 33 rows' worth of blocks: odd count
    for (auto& v : x) v = nd(rng);
    auto y = round_trip(b.t, x);
    double err = rel_rms(x, y);
    std::printf("%s: relative rms error %.4f (bound %.3f)\n", mm::dtype_name(b.t), err, b.rel_rms);
    EXPECT_LT(err, b.rel_rms) << mm::dtype_name(b.t);
    // Not absurdly good either (it really is quantised).
    EXPECT_GT(err, b.rel_rms / 20) << mm::dtype_name(b.t);
    // Max error per value is bounded by the block's range.
    for (size_t i = 0; i < x.size(); ++i) ASSERT_LT(std::fabs(x[i] - y[i]), 0.5f) << mm::dtype_name(b.t);
  }
}

TEST(QuantRoundTrip, OddRowCountsAndShapes) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> ud(-1.0f, 1.0f);
  for (const auto& b : kBounds) {
    const int be = mm::dtype_info(b.t).block_elems;
    for (int rows : {1, 3, 7}) {
      for (int blocks : {1, 3, 5}) {
        const int64_t ne0 = int64_t(be) * blocks;
        std::vector<float> x(size_t(ne0 * rows));
        for (auto& v : x) v = ud(rng) * (1.0f + float(rows));
        const size_t rb = mm::dtype_row_bytes(b.t, ne0);
        std::vector<uint8_t> q(rb * size_t(rows));
        for (int r = 0; r < rows; ++r) mm::quantize_row(b.t, x.data() + r * ne0, q.data() + r * rb, ne0);
        // Dequantising row by row equals dequantising the whole buffer at once.
        std::vector<float> all(x.size()), one(static_cast<size_t>(ne0));
        mm::dequantize_row(b.t, q.data(), all.data(), ne0 * rows);
        for (int r = 0; r < rows; ++r) {
          mm::dequantize_row(b.t, q.data() + r * rb, one.data(), ne0);
          for (int64_t i = 0; i < ne0; ++i) ASSERT_EQ(one[size_t(i)], all[size_t(r * ne0 + i)]);
        }
        EXPECT_LT(rel_rms(x, all), b.rel_rms * 1.3) << mm::dtype_name(b.t) << " rows " << rows;
      }
    }
  }
}

TEST(QuantRoundTrip, SpecialBlocks) {
  for (const auto& b : kBounds) {
    SCOPED_TRACE(mm::dtype_name(b.t));
    // All zeros -> exactly zeros.
    std::vector<float> z(256, 0.0f);
    for (float v : round_trip(b.t, z)) ASSERT_EQ(v, 0.0f);
    // A constant block, positive and negative: reproduced closely.
    for (float c : {0.37f, -1.5f}) {
      std::vector<float> x(256, c);
      auto y = round_trip(b.t, x);
      EXPECT_LT(rel_rms(x, y), 0.02) << c;
    }
    // A single outlier in an otherwise small block: the outlier survives (within ~1/7 for 4-bit).
    std::vector<float> x(256, 0.0f);
    for (int i = 0; i < 256; ++i) x[size_t(i)] = 0.01f * float((i * 37) % 11 - 5);
    x[100] = 5.0f;
    x[200] = -3.0f;
    auto y = round_trip(b.t, x);
    EXPECT_NEAR(y[100], 5.0f, 0.35f);
    EXPECT_NEAR(y[200], -3.0f, 0.35f);
    // Positive-only data (K-quants use a min of 0 there).
    std::vector<float> p(256);
    for (int i = 0; i < 256; ++i) p[size_t(i)] = 0.5f + 0.001f * float(i);
    EXPECT_LT(rel_rms(p, round_trip(b.t, p)), 0.05);
  }
}

// Hand-built blocks with known contents pin the bit layouts independently of the goldens.
TEST(QuantLayout, HandBuiltBlocks) {
  const uint16_t one = mm::f32_to_f16(1.0f), half = mm::f32_to_f16(0.5f);
  {  // Q5_0: d = 1, value 0 has q = 31 (low nibble 15 + high bit), value 16 has q = 0.
    uint8_t b[22] = {};
    std::memcpy(b, &one, 2);
    uint32_t qh = 1u;  // high bit of value 0 only
    std::memcpy(b + 2, &qh, 4);
    b[6] = 0x0F;
    for (int j = 1; j < 16; ++j) b[6 + j] = 0x00;
    float y[32];
    mm::dequantize_row(mm::DType::Q5_0, b, y, 32);
    EXPECT_EQ(y[0], 15.0f);
    EXPECT_EQ(y[16], -16.0f);
    EXPECT_EQ(y[1], -16.0f);
  }
  {  // Q4_K: d = 1, dmin = 0.5; sub-block 5 scale 33 (needs the high bits) min 17, value 5*32+1 q = 3.
    uint8_t b[144] = {};
    std::memcpy(b, &one, 2);
    std::memcpy(b + 2, &half, 2);
    int sc5 = 33, m5 = 17;  // j = 5: low nibbles in byte 9, top bits in bytes 1 and 5
    b[4 + 9] = uint8_t((sc5 & 0xF) | ((m5 & 0xF) << 4));
    b[4 + 1] |= uint8_t((sc5 >> 4) << 6);
    b[4 + 5] |= uint8_t((m5 >> 4) << 6);
    // value 161 = chunk 2 (values 128..191), second half (160..191): high nibble of qs[64 + 1]
    b[16 + 64 + 1] = 0x30;
    float y[256];
    mm::dequantize_row(mm::DType::Q4_K, b, y, 256);
    EXPECT_EQ(y[161], 33.0f * 3 - 0.5f * 17);
    EXPECT_EQ(y[160], -0.5f * 17);
    EXPECT_EQ(y[0], 0.0f);
  }
  {  // Q6_K: d = 0.5, scale of sub-block 9 = -3; value 150 has q = 63 (+31 after the -32 offset).
    uint8_t b[210] = {};
    for (int i = 0; i < 128; ++i) b[i] = 0;
    for (int i = 0; i < 64; ++i) b[128 + i] = 0xAA;  // all high bits = 2 -> q = 32 -> 0 everywhere
    auto* sc = reinterpret_cast<int8_t*>(b + 192);
    for (int j = 0; j < 16; ++j) sc[j] = 1;
    sc[9] = -3;
    std::memcpy(b + 208, &half, 2);
    // value 150 = half 1 (128..255), l = 22, first quarter: low nibble of ql[64+22], bits 0-1 of qh[32+22]
    b[64 + 22] = 0x0F;
    b[128 + 32 + 22] = uint8_t((0xAA & ~3) | 3);
    float y[256];
    mm::dequantize_row(mm::DType::Q6_K, b, y, 256);
    EXPECT_EQ(y[150], 0.5f * -3.0f * 31.0f);
    EXPECT_EQ(y[151], 0.0f);
  }
}

}  // namespace
