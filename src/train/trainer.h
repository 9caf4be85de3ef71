// The training loop: micro-batches with gradient accumulation, clipping, AdamW on the schedule,
// periodic held-out evaluation, resumable checkpoints (weights, optimizer moments, data position, the
// seeds: a run stopped and resumed repeats the uninterrupted run's loss curve bit for bit), a JSON
// lines log, and the model exported as a Hugging Face folder at every checkpoint and at the end.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/exec_context.h"

namespace mm {

struct TrainOptions {
  nlohmann::ordered_json model;  // config.json of the model to train (HF key names, as written out)
  std::string train_file, valid_file, tokenizer;  // UTF-8 text files; tokenizer.json
  std::string out_dir;  // checkpoint.bin, train_log.jsonl, model/ (the exported HF folder)
  int64_t steps = 1000, batch = 8, seq_len = 256, grad_accum = 1;
  double lr = 1e-3, min_lr_ratio = 0.1, beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weight_decay = 0.1, grad_clip = 1.0;
  int64_t warmup = 100;
  double init_std = 0.02;
  double aux_coef = 0.0;  // the model's router_aux_loss_coef unless set
  uint64_t seed = 1;
  int64_t eval_every = 200, eval_windows = 32, checkpoint_every = 100, log_every = 10;
  std::string export_dtype = "bf16";
};

// The options as JSON (every key; the checkpoint stores them) and back. Unknown keys and values out
// of range are mm::Error naming the key.
nlohmann::ordered_json train_options_to_json(const TrainOptions& o);
TrainOptions train_options_from_json(const nlohmann::json& j);

struct TrainResult {
  int64_t steps_done = 0;
  double last_loss = 0, last_val_loss = 0, last_val_bpb = 0;
  double tokens_per_s = 0;
};

// Runs (or resumes, when out_dir/checkpoint.bin exists and `fresh` is false) the training described
// by `o`; each progress / evaluation line goes to `log` as it happens. `stop_after` > 0 stops after
// that many steps of this call (with a checkpoint), as an interrupted run would.
TrainResult run_training(const TrainOptions& o, ExecContext& ctx, bool fresh, const std::function<void(const std::string&)>& log,
                         int64_t stop_after = 0);

}  // namespace mm
