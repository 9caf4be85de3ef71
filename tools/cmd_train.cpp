// `minimax train`: trains a model of the MiniMax architectures on a text file, from a JSON training
// config (`--config`, the keys of TrainOptions with the model's config.json under "model") and/or
// flags (the shape flags of `init`, and one flag per training key), resuming from the output
// folder's checkpoint when there is one.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "minimax/model.h"
#include "minimax/runtime.h"
#include "minimax/text.h"
#include "minimax/train.h"
#include "tools/commands.h"

namespace mm::cli {
namespace {

namespace fs = std::filesystem;

// flag -> training-config key, and whether it is an integer (else a number or a string)
struct Key {
  const char* flag;
  const char* key;
  char kind;  // 'i' integer, 'f' number, 's' string
};
const Key kKeys[] = {{"train", "train_file", 's'},   {"valid", "valid_file", 's'},     {"tokenizer", "tokenizer", 's'},
                     {"steps", "steps", 'i'},        {"batch", "batch", 'i'},          {"seq-len", "seq_len", 'i'},
                     {"grad-accum", "grad_accum", 'i'}, {"lr", "lr", 'f'},             {"min-lr-ratio", "min_lr_ratio", 'f'},
                     {"warmup", "warmup", 'i'},      {"beta1", "beta1", 'f'},          {"beta2", "beta2", 'f'},
                     {"eps", "eps", 'f'},            {"weight-decay", "weight_decay", 'f'}, {"grad-clip", "grad_clip", 'f'},
                     {"init-std", "init_std", 'f'},  {"aux-coef", "aux_coef", 'f'},    {"seed", "seed", 'i'},
                     {"eval-every", "eval_every", 'i'}, {"eval-windows", "eval_windows", 'i'},
                     {"checkpoint-every", "checkpoint_every", 'i'}, {"log-every", "log_every", 'i'},
                     {"export-dtype", "export_dtype", 's'}};

int run_train(int argc, char** argv) {
  Args args(argc, argv, {"fresh", "tie-embeddings"});
  std::vector<std::string> known = {"config", "out", "threads", "fresh", "stop-after"};
  for (const auto& k : kKeys) known.push_back(k.flag);
  for (const auto& f : kShapeFlags) known.push_back(f);
  args.check_known(known);

  nlohmann::json j = nlohmann::json::object();
  if (args.has("config")) {
    try {
      j = nlohmann::json::parse(read_text_file(args.str("config")));
    } catch (const nlohmann::json::exception& e) {
      throw Error(args.str("config") + ": not valid JSON: " + e.what());
    }
    if (!j.is_object()) throw Error(args.str("config") + ": expected a JSON object");
  }
  for (const auto& k : kKeys) {
    if (!args.has(k.flag)) continue;
    if (k.kind == 'i') j[k.key] = args.i64(k.flag, 0);
    else if (k.kind == 'f') j[k.key] = args.f64(k.flag, 0);
    else j[k.key] = args.str(k.flag);
  }
  bool shape_flags = false;
  for (const auto& f : kShapeFlags) shape_flags |= args.has(f);
  if (!j.contains("model") || shape_flags) {
    if (j.contains("model")) throw Error("give the model's shape either in --config's \"model\" or as flags, not both");
    nlohmann::ordered_json m = init_config_from(args, arch_from_like(args), false);
    if (!args.has("vocab") && j.contains("tokenizer"))  // the tokenizer's size
      m["vocab_size"] = load_tokenizer_file(j["tokenizer"].get<std::string>())->vocab_size();
    m["torch_dtype"] = "bfloat16";
    j["model"] = nlohmann::json::parse(m.dump());
  }
  TrainOptions o = train_options_from_json(j);
  // Keep the model's key order as written (train_options_from_json parsed a copy without it).
  o.out_dir = args.required("out");
  fs::create_directories(o.out_dir);
  {
    std::ofstream f(fs::path(o.out_dir) / "train_config.json");
    f << train_options_to_json(o).dump(2) << "\n";
  }
  ExecContext ctx(threads_from(args));
  std::fprintf(stderr, "threads: %d\n", ctx.n_threads());
  TrainResult r = run_training(o, ctx, args.has("fresh"),
                               [](const std::string& line) {
                                 std::fprintf(stderr, "%s\n", line.c_str());
                                 std::fflush(stderr);
                               },
                               args.i64("stop-after", 0));
  std::printf("%s\n", nlohmann::ordered_json{{"steps", r.steps_done}, {"loss", r.last_loss}, {"val_loss", r.last_val_loss},
                                             {"val_bpb", r.last_val_bpb}, {"tokens_per_s", r.tokens_per_s},
                                             {"model", (fs::path(o.out_dir) / "model").string()}}
                          .dump()
                          .c_str());
  return 0;
}

const Register reg{"train",
                   "train a model: --out DIR --train TEXT --tokenizer tokenizer.json [--valid TEXT] [--config train.json] "
                   "[--like text-01|m2 + shape flags] [--steps --batch --seq-len --lr --warmup ...] [--fresh]",
                   run_train};

}  // namespace
}  // namespace mm::cli
