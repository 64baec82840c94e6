#pragma once
// CPU twin of launch_layer_alignment (kernels/layer_alignment.cuh).
#include <cstdint>

namespace qk {

// x: [layers][heads][n]; cos: [layers-1] f64.
void layer_alignment_cpu(const float* x, int layers, int heads, int64_t n, bool seed_f32_mean, double* cos);

}  // namespace qk
