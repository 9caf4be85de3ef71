// `minimax quantize`: a model (HF folder, or GGUF) to a GGUF file in another weight format, with the
// tensor names and metadata of llama.cpp's converter (the architecture's own keys from its record).
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "minimax/convert.h"
#include "minimax/model.h"
#include "minimax/runtime.h"
#include "tools/commands.h"

namespace mm::cli {

namespace {

// fp8 release weights (F8_E4M3 + block scales) become F32 tensors owned by a new store; everything
// else stays a view. The scale tensors themselves are dropped (GGUF has no place for them).
TensorStore dequantize_fp8(ThreadPool& pool, const TensorStore& in, int64_t bn, int64_t bk) {
  TensorStore out;
  out.set_source(in.source());
  for (const auto& [name, t] : in.all()) {
    if (name.size() > 10 && name.compare(name.size() - 10, 10, "_scale_inv") == 0 && in.find(name.substr(0, name.size() - 10)))
      continue;
    if (t.dtype != DType::F8_E4M3) {
      out.add(t);
      continue;
    }
    const TensorInfo& sc = in.get(name + "_scale_inv");
    if (t.shape.size() != 2 || sc.dtype != DType::F32) throw Error("fp8 tensor '" + name + "' needs a 2-D shape and F32 scales");
    Weight w{t.dtype, t.shape[0], t.shape[1], t.data, size_t(t.shape[1]), reinterpret_cast<const float*>(sc.data), bn, bk};
    TensorInfo f = t;
    f.dtype = DType::F32;
    f.n_bytes = size_t(t.n_elements()) * 4;
    float* dst = reinterpret_cast<float*>(out.keep_buffer(f.n_bytes));
    pool.parallel_for(w.n_out, [&](int64_t b, int64_t e, int) {
      for (int64_t r = b; r < e; ++r) weight_row_to_f32(w, r, dst + r * w.n_in);
    });
    f.data = reinterpret_cast<const uint8_t*>(dst);
    out.add(std::move(f));
  }
  return out;
}

int run_quantize(int argc, char** argv) {
  Args args(argc, argv);
  args.check_known({"model", "type", "out", "threads", "name", "tokenizer-pre"});
  const int n_threads = threads_from(args) < 1 ? default_thread_count() : threads_from(args);
  ThreadPool pool(n_threads);
  const GgufPolicy policy = gguf_policy_from_string(args.required("type"));
  const std::string out = args.required("out");
  const std::string model = args.required("model");
  HfCheckpoint ck = load_checkpoint(model);
  // Tokenizer metadata (llama.cpp refuses a GGUF without it): from the folder's tokenizer.json, or
  // carried over from a GGUF input.
  std::vector<GgufKv> tok_kvs;
  if (std::filesystem::is_directory(model)) tok_kvs = gguf_tokenizer_kvs_from_dir(model, ck.config, args.str("tokenizer-pre"));
  else if (model.size() > 5 && model.compare(model.size() - 5, 5, ".gguf") == 0) tok_kvs = gguf_tokenizer_kvs_from_gguf(GgufFile(model));
  if (tok_kvs.empty()) std::fprintf(stderr, "note: no tokenizer.json beside the model: the GGUF carries no tokenizer (llama.cpp will not load it)\n");
  TensorStore tensors;
  if (ck.config.contains("quantization_config")) {
    const auto& q = ck.config["quantization_config"];
    int64_t bn = 128, bk = 128;
    if (q.contains("weight_block_size") && q["weight_block_size"].is_array() && q["weight_block_size"].size() == 2)
      bn = q["weight_block_size"][0].get<int64_t>(), bk = q["weight_block_size"][1].get<int64_t>();
    tensors = dequantize_fp8(pool, ck.tensors, bn, bk);
    ck.config.erase("quantization_config");
  } else {
    tensors = std::move(ck.tensors);
  }
  GgufWriteOptions opts;
  opts.policy = policy;
  opts.name = args.str("name");
  opts.n_threads = n_threads;
  opts.extra_kvs = std::move(tok_kvs);
  const bool tty = isatty(fileno(stderr));
  opts.progress = [&](size_t done, size_t total, const std::string& name) {
    const int width = 30;
    int fill = int(double(width) * double(done) / double(total ? total : 1));
    if (tty) {
      std::fprintf(stderr, "\r[%.*s%*s] %zu/%zu %-40.40s", fill, "##############################", width - fill, "", done,
                   total, name.c_str());
    } else if (done == total) {
      std::fprintf(stderr, "%zu/%zu tensors written\n", done, total);
    }
  };
  gguf_write(out, ck.config, tensors, opts);
  if (tty) std::fprintf(stderr, "\n");
  std::fprintf(stderr, "wrote %s\n", out.c_str());
  return 0;
}

const Register reg{"quantize", "write a GGUF file: --model PATH --type f32|f16|bf16|q8_0|q4_0|q5_0|q4_k|q5_k|q6_k|q4_k_m --out FILE.gguf [--tokenizer-pre NAME]",
                   run_quantize};

}  // namespace

}  // namespace mm::cli
