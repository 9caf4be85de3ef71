// minimax.cpp public API: loading a model (HF folder or .gguf file), its configuration, architecture
// record and tensor table, and running it (Model::forward over a batch of sequences).
#pragma once
#include "io/safetensors.h"  // HfCheckpoint, load_checkpoint (config + tensors in HF terms)
#include "model/arch.h"      // ArchSpec, arch_specs, arch_spec
#include "model/config.h"    // ModelConfig, parse_model_config
#include "model/context_cost.h"  // context_memory, flop_model, deepseek_r1_flop_model (info --ctx / --flops)
#include "model/model.h"     // Model, BatchItem, load_model, create_model, model_tensor_specs
#include "model/weights.h"   // TensorSpec, check_tensors, count_params
#include "ops/weight.h"      // Weight (a matrix view, for tools that convert tensors)
#include "model/state_file.h"  // save_sequence_state, load_sequence_state
#include "state/sequence_state.h"
