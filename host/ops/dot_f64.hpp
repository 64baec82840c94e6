#pragma once
// sum_e a[e] * b[e] over n f32 elements, accumulated in fp64 (vectorised).
#include <cstdint>

namespace qk {

double dot_f64(const float* a, const float* b, int64_t n);

}  // namespace qk
