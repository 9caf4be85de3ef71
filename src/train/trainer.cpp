#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/mapped_file.h"
#include "model/config.h"
#include "tokenizer/tokenizer.h"
#include "train/data.h"
#include "train/export.h"
#include "train/optimizer.h"
#include "train/params.h"
#include "train/train_model.h"

namespace mm {

namespace fs = std::filesystem;

// ---- options ---------------------------------------------------------------------------------------------

nlohmann::ordered_json train_options_to_json(const TrainOptions& o) {
  nlohmann::ordered_json j;
  j["model"] = o.model;
  j["train_file"] = o.train_file;
  j["valid_file"] = o.valid_file;
  j["tokenizer"] = o.tokenizer;
  j["steps"] = o.steps;
  j["batch"] = o.batch;
  j["seq_len"] = o.seq_len;
  j["grad_accum"] = o.grad_accum;
  j["lr"] = o.lr;
  j["min_lr_ratio"] = o.min_lr_ratio;
  j["warmup"] = o.warmup;
  j["beta1"] = o.beta1;
  j["beta2"] = o.beta2;
  j["eps"] = o.eps;
  j["weight_decay"] = o.weight_decay;
  j["grad_clip"] = o.grad_clip;
  j["init_std"] = o.init_std;
  j["aux_coef"] = o.aux_coef;
  j["seed"] = o.seed;
  j["eval_every"] = o.eval_every;
  j["eval_windows"] = o.eval_windows;
  j["checkpoint_every"] = o.checkpoint_every;
  j["log_every"] = o.log_every;
  j["export_dtype"] = o.export_dtype;
  return j;
}

TrainOptions train_options_from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw Error("training config: expected a JSON object");
  TrainOptions o;
  const nlohmann::ordered_json known = train_options_to_json(o);
  for (const auto& [k, v] : j.items())
    if (!known.contains(k)) throw Error("training config: unknown key '" + k + "'");
  auto num = [&](const char* k, double& dst, double lo, double hi) {
    if (!j.contains(k)) return;
    if (!j[k].is_number()) throw Error(std::string("training config: ") + k + " must be a number");
    dst = j[k].get<double>();
    if (!(dst >= lo && dst <= hi))
      throw Error(std::string("training config: ") + k + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  };
  auto integer = [&](const char* k, int64_t& dst, int64_t lo, int64_t hi) {
    if (!j.contains(k)) return;
    if (!j[k].is_number_integer()) throw Error(std::string("training config: ") + k + " must be an integer");
    dst = j[k].get<int64_t>();
    if (dst < lo || dst > hi)
      throw Error(std::string("training config: ") + k + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  };
  auto str = [&](const char* k, std::string& dst) {
    if (!j.contains(k)) return;
    if (!j[k].is_string()) throw Error(std::string("training config: ") + k + " must be a string");
    dst = j[k].get<std::string>();
  };
  if (!j.contains("model") || !j["model"].is_object()) throw Error("training config: 'model' (the config.json to train) is missing");
  o.model = nlohmann::ordered_json::parse(j["model"].dump());
  str("train_file", o.train_file);
  str("valid_file", o.valid_file);
  str("tokenizer", o.tokenizer);
  integer("steps", o.steps, 1, int64_t(1) << 40);
  integer("batch", o.batch, 1, 1 << 16);
  integer("seq_len", o.seq_len, 2, 1 << 20);
  integer("grad_accum", o.grad_accum, 1, 1 << 16);
  num("lr", o.lr, 0.0, 10.0);
  num("min_lr_ratio", o.min_lr_ratio, 0.0, 1.0);
  integer("warmup", o.warmup, 0, int64_t(1) << 40);
  num("beta1", o.beta1, 0.0, 0.999999);
  num("beta2", o.beta2, 0.0, 0.999999999);
  num("eps", o.eps, 1e-30, 1.0);
  num("weight_decay", o.weight_decay, 0.0, 10.0);
  num("grad_clip", o.grad_clip, 0.0, 1e9);
  num("init_std", o.init_std, 0.0, 10.0);
  o.aux_coef = o.model.value("router_aux_loss_coef", 0.0);
  num("aux_coef", o.aux_coef, 0.0, 100.0);
  if (j.contains("seed")) {
    if (!j["seed"].is_number_unsigned() && !j["seed"].is_number_integer()) throw Error("training config: seed must be an integer");
    o.seed = j["seed"].get<uint64_t>();
  }
  integer("eval_every", o.eval_every, 0, int64_t(1) << 40);
  integer("eval_windows", o.eval_windows, 1, 1 << 20);
  integer("checkpoint_every", o.checkpoint_every, 0, int64_t(1) << 40);
  integer("log_every", o.log_every, 1, int64_t(1) << 40);
  str("export_dtype", o.export_dtype);
  if (o.export_dtype != "bf16" && o.export_dtype != "f32") throw Error("training config: export_dtype must be bf16 or f32");
  return o;
}

namespace {

// ---- checkpoints -----------------------------------------------------------------------------------------
//
// checkpoint.bin: "MMTRAIN1", u64 header length, the JSON header (options, step, data position,
// parameter names and sizes), then every parameter's w, m, v as little-endian f32, in header order.

constexpr char kMagic[8] = {'M', 'M', 'T', 'R', 'A', 'I', 'N', '1'};

struct TrainState {
  int64_t step = 0;           // optimizer steps done
  int64_t data_position = 0;  // windows drawn from the shuffled stream
  double tokens_seen = 0;
};

void save_checkpoint(const fs::path& path, const TrainOptions& o, const TrainState& st, const ParamSet& ps) {
  nlohmann::ordered_json h;
  h["options"] = train_options_to_json(o);
  h["step"] = st.step;
  h["data_position"] = st.data_position;
  h["tokens_seen"] = st.tokens_seen;
  for (const Param& p : ps.all()) h["params"].push_back({p.spec.name, p.numel});
  const std::string hs = h.dump();
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary);
    const uint64_t n = hs.size();
    f.write(kMagic, 8);
    f.write(reinterpret_cast<const char*>(&n), 8);
    f.write(hs.data(), std::streamsize(n));
    for (const Param& p : ps.all())
      for (const auto* v : {&p.w, &p.m, &p.v}) f.write(reinterpret_cast<const char*>(v->data()), std::streamsize(v->size() * 4));
    f.flush();
    if (!f) throw Error("cannot write checkpoint " + tmp.string());
  }
  fs::rename(tmp, path);  // atomic: an interrupted save leaves the previous checkpoint
}

// Loads into ps; the options that shape the run must be those of the checkpoint.
TrainState load_checkpoint_file(const fs::path& path, const TrainOptions& o, ParamSet& ps) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot open checkpoint " + path.string());
  char magic[8];
  uint64_t n = 0;
  f.read(magic, 8);
  f.read(reinterpret_cast<char*>(&n), 8);
  if (!f || std::memcmp(magic, kMagic, 8) != 0) throw Error(path.string() + " is not a minimax.cpp training checkpoint");
  const auto size = fs::file_size(path);
  if (n > size) throw Error(path.string() + ": truncated checkpoint (header)");
  std::string hs(size_t(n), '\0');
  f.read(hs.data(), std::streamsize(n));
  nlohmann::json h;
  try {
    h = nlohmann::json::parse(hs);
  } catch (const std::exception& e) {
    throw Error(path.string() + ": bad checkpoint header: " + e.what());
  }
  const nlohmann::json mine = nlohmann::json::parse(train_options_to_json(o).dump());
  // What may change on resume: the length of the run and the bookkeeping cadences; nothing else.
  for (const auto& [k, v] : mine.items()) {
    if (k == "steps" || k == "eval_every" || k == "checkpoint_every" || k == "log_every" || k == "eval_windows" ||
        k == "export_dtype" || k == "train_file" || k == "valid_file" || k == "tokenizer")
      continue;
    if (!h["options"].contains(k) || h["options"][k] != v)
      throw Error("checkpoint " + path.string() + " was made with a different '" + k + "' (" +
                  (h["options"].contains(k) ? h["options"][k].dump() : std::string("absent")) + " there, " + v.dump() +
                  " now): resume with the same settings, or pass --fresh to start over");
  }
  const auto& names = h.at("params");
  if (names.size() != ps.all().size()) throw Error(path.string() + ": the checkpoint's parameters do not match the model");
  uint64_t need = 16 + n;
  for (size_t i = 0; i < names.size(); ++i) {
    const Param& p = ps.all()[i];
    if (names[i][0] != p.spec.name || names[i][1] != p.numel)
      throw Error(path.string() + ": parameter " + std::to_string(i) + " is " + names[i][0].dump() + ", expected " + p.spec.name);
    need += uint64_t(p.numel) * 12;
  }
  if (size != need) throw Error(path.string() + ": " + std::to_string(size) + " bytes, expected " + std::to_string(need));
  for (Param& p : ps.all())
    for (auto* v : {&p.w, &p.m, &p.v}) f.read(reinterpret_cast<char*>(v->data()), std::streamsize(v->size() * 4));
  if (!f) throw Error(path.string() + ": read error");
  TrainState st;
  st.step = h.at("step").get<int64_t>();
  st.data_position = h.at("data_position").get<int64_t>();
  st.tokens_seen = h.at("tokens_seen").get<double>();
  return st;
}

// Keeps the log lines of steps <= step (a resumed run continues the log of its checkpoint).
void truncate_log(const fs::path& path, int64_t step) {
  std::ifstream in(path);
  if (!in) return;
  std::string line, kept;
  while (std::getline(in, line)) {
    try {
      auto j = nlohmann::json::parse(line);
      if (j.value("step", int64_t(0)) <= step) kept += line + "\n";
    } catch (...) {
    }
  }
  in.close();
  std::ofstream(path, std::ios::trunc) << kept;
}

std::string fmt_duration(double s) {
  char b[32];
  const int64_t t = int64_t(s);
  if (t >= 3600) std::snprintf(b, sizeof b, "%lldh%02lldm", (long long)(t / 3600), (long long)(t / 60 % 60));
  else std::snprintf(b, sizeof b, "%lldm%02llds", (long long)(t / 60), (long long)(t % 60));
  return b;
}

}  // namespace

TrainResult run_training(const TrainOptions& o, ExecContext& ctx, bool fresh, const std::function<void(const std::string&)>& log,
                         int64_t stop_after) {
  using clock = std::chrono::steady_clock;
  if (o.out_dir.empty()) throw Error("training: an output folder is needed (--out)");
  if (o.train_file.empty()) throw Error("training: no training text (--train FILE)");
  if (o.tokenizer.empty()) throw Error("training: no tokenizer (--tokenizer tokenizer.json)");
  const ModelConfig cfg = parse_model_config(nlohmann::json::parse(o.model.dump()));
  auto tok = Tokenizer::from_file(o.tokenizer);
  if (tok->vocab_size() > cfg.vocab_size)
    throw Error("the tokenizer has " + std::to_string(tok->vocab_size()) + " ids but the model's vocab_size is " +
                std::to_string(cfg.vocab_size));
  fs::create_directories(o.out_dir);
  const fs::path ckpt = fs::path(o.out_dir) / "checkpoint.bin", log_path = fs::path(o.out_dir) / "train_log.jsonl";

  const TokenData train = TokenData::from_text_file(o.train_file, *tok, o.seq_len);
  std::unique_ptr<TokenData> valid;
  double valid_bytes_per_token = 0;
  if (!o.valid_file.empty()) {
    valid = std::make_unique<TokenData>(TokenData::from_text_file(o.valid_file, *tok, o.seq_len));
    valid_bytes_per_token = double(fs::file_size(o.valid_file)) / double(valid->total_ids());
  }

  ParamSet ps(cfg);
  TrainState st;
  if (!fresh && fs::exists(ckpt)) {
    st = load_checkpoint_file(ckpt, o, ps);
    truncate_log(log_path, st.step);
    log("resuming from " + ckpt.string() + " at step " + std::to_string(st.step));
  } else {
    init_params(ps, cfg, o.init_std, o.seed);
    std::ofstream(log_path, std::ios::trunc);
    char b[256];
    std::snprintf(b, sizeof b, "training %s: %.2fM parameters, %lld training tokens (%lld windows of %lld), %lld steps x %lld x %lld tokens",
                  cfg.arch_name(), double(ps.numel()) / 1e6, (long long)train.total_ids(), (long long)train.n_windows(),
                  (long long)o.seq_len, (long long)o.steps, (long long)(o.batch * o.grad_accum), (long long)o.seq_len);
    log(b);
  }
  TrainModel model(cfg, ps, float(o.aux_coef));
  const AdamW opt{o.beta1, o.beta2, o.eps, o.weight_decay};
  const LrSchedule sched{o.lr, o.min_lr_ratio, o.warmup, o.steps};
  std::ofstream log_file(log_path, std::ios::app);
  const int64_t T = o.seq_len, B = o.batch;
  std::vector<int32_t> tokens(size_t(B * T)), targets(size_t(B * T));

  auto export_model = [&]() {
    export_hf_model((fs::path(o.out_dir) / "model").string(), o.model, ps, o.export_dtype == "f32" ? DType::F32 : DType::BF16,
                    o.tokenizer);
  };
  auto evaluate = [&](double& val_loss, double& val_bpb) {
    double sum = 0;
    int64_t cnt = 0;
    const int64_t n = std::min(o.eval_windows, valid->n_windows());
    for (int64_t w0 = 0; w0 < n; w0 += B) {
      const int64_t nb = std::min(B, n - w0);
      for (int64_t s = 0; s < nb; ++s) valid->window(w0 + s, tokens.data() + s * T, targets.data() + s * T);
      LossParts l = model.forward(ctx, {nb, T, tokens.data(), targets.data()});
      sum += l.ce_sum;
      cnt += l.n_counted;
    }
    val_loss = sum / double(cnt);
    val_bpb = val_loss / std::log(2.0) / valid_bytes_per_token;
  };

  TrainResult res;
  auto t_last = clock::now();
  const auto t_start = t_last;
  int64_t steps_this_call = 0, tokens_since = 0;
  double loss_acc = 0;
  int64_t loss_n = 0;
  while (st.step < o.steps) {
    ps.zero_grad();
    double step_loss = 0, step_aux = 0;
    for (int64_t micro = 0; micro < o.grad_accum; ++micro) {
      for (int64_t s = 0; s < B; ++s)
        train.window(train.shuffled_window(o.seed, st.data_position++), tokens.data() + s * T, targets.data() + s * T);
      LossParts l = model.forward_backward(ctx, {B, T, tokens.data(), targets.data()}, 1.0f / float(o.grad_accum));
      step_loss += l.ce_mean() / double(o.grad_accum);
      step_aux += l.aux / double(o.grad_accum);
    }
    const double gnorm = clip_grad_norm(ps.all(), o.grad_clip);
    const double lr = sched.at(st.step);
    adamw_step(ctx, ps.all(), opt, lr, st.step + 1);
    ++st.step;
    ++steps_this_call;
    st.tokens_seen += double(B * T * o.grad_accum);
    tokens_since += B * T * o.grad_accum;
    loss_acc += step_loss;
    ++loss_n;
    if (!std::isfinite(step_loss)) throw Error("training diverged at step " + std::to_string(st.step) + " (loss " + std::to_string(step_loss) + "): lower --lr");

    const bool last = st.step == o.steps || (stop_after > 0 && steps_this_call == stop_after);
    if (st.step % o.log_every == 0 || last) {
      const double dt = std::chrono::duration<double>(clock::now() - t_last).count();
      const double tps = double(tokens_since) / std::max(dt, 1e-9);
      const double eta = double(o.steps - st.step) * double(B * T * o.grad_accum) / std::max(tps, 1e-9);
      char b[256];
      std::snprintf(b, sizeof b, "step %lld/%lld | loss %.4f | aux %.4f | lr %.2e | gnorm %.3f | %.0f tok/s | ETA %s",
                    (long long)st.step, (long long)o.steps, loss_acc / double(loss_n), step_aux, lr, gnorm, tps,
                    fmt_duration(eta).c_str());
      log(b);
      nlohmann::ordered_json j{{"step", st.step}, {"loss", step_loss}, {"loss_avg", loss_acc / double(loss_n)}, {"aux", step_aux},
                               {"lr", lr}, {"grad_norm", gnorm}, {"tokens_per_s", tps}, {"tokens_seen", st.tokens_seen}};
      log_file << j.dump() << "\n" << std::flush;
      res.tokens_per_s = tps;
      t_last = clock::now();
      tokens_since = 0;
      loss_acc = 0;
      loss_n = 0;
    }
    res.last_loss = step_loss;
    if (valid && o.eval_every > 0 && (st.step % o.eval_every == 0 || st.step == o.steps)) {
      evaluate(res.last_val_loss, res.last_val_bpb);
      char b[160];
      std::snprintf(b, sizeof b, "eval step %lld | held-out loss %.4f | bits/byte %.4f", (long long)st.step, res.last_val_loss,
                    res.last_val_bpb);
      log(b);
      log_file << nlohmann::ordered_json{{"step", st.step}, {"val_loss", res.last_val_loss}, {"val_bpb", res.last_val_bpb}}.dump()
               << "\n" << std::flush;
      t_last = clock::now();  // evaluation time is not training throughput
    }
    if ((o.checkpoint_every > 0 && st.step % o.checkpoint_every == 0) || last) {
      save_checkpoint(ckpt, o, st, ps);
      export_model();
    }
    if (stop_after > 0 && steps_this_call == stop_after) break;
  }
  res.steps_done = st.step;
  (void)t_start;
  return res;
}

}  // namespace mm
