#include "ops/quant.h"

#include <string>

#include "core/error.h"

namespace mm {

void dequantize_row(DType t, const void*, float*, int64_t) {
  MM_CHECK(false, std::string("dequantize_row: ") + dtype_name(t) + " not implemented yet");
}

void quantize_row(DType t, const float*, void*, int64_t) {
  MM_CHECK(false, std::string("quantize_row: ") + dtype_name(t) + " not implemented yet");
}

}  // namespace mm
