// MiniMax-M2: not implemented yet (see issue). Kept so the registry links.
#include "model/minimax_m2.h"

#include "core/error.h"

namespace mm {

std::vector<TensorSpec> m2_tensor_specs(const ModelConfig&) {
  throw Error("MiniMax-M2 models are not supported by this build yet");
}

std::unique_ptr<Model> create_m2(ModelConfig, TensorStore) {
  throw Error("MiniMax-M2 models are not supported by this build yet");
}

}  // namespace mm
