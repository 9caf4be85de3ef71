// A byte range [begin, end) of a text.
#pragma once
#include <cstddef>

namespace mm {

struct TextRange {
  size_t begin = 0, end = 0;
};

}  // namespace mm
