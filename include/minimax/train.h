// minimax.cpp public API: training — the options and loop of `minimax train` (checkpoints, log,
// export), and the trainer's model for `bench-train`.
#pragma once
#include "train/optimizer.h"    // AdamW, LrSchedule, clip_grad_norm, adamw_step
#include "train/params.h"       // ParamSet, init_params
#include "train/train_model.h"  // TrainModel, TrainBatch, LossParts
#include "train/trainer.h"      // TrainOptions, run_training, train_options_from_json
