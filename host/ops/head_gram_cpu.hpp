#pragma once
// CPU twin of launch_head_gram (kernels/head_gram.cuh): same arguments, host memory.
#include <cstdint>

namespace qk {

// x: [layers][heads][n] f32; gram: [layers][heads][heads] f64 (fp64 accumulation).
void head_gram_cpu(const float* x, int layers, int heads, int64_t n, double* gram);

}  // namespace qk
