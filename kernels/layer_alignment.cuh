#pragma once
// Adjacent-layer alignment: cosine between consecutive layers' head-mean vectors.
#include <cuda_runtime_api.h>

#include <cstdint>

namespace qk {

// x: device [layers][heads][n] f32. mean_l[e] = (1/heads) sum_h x[l][h][e]; with
// seed_f32_mean the mean is summed in f32 in head order then divided in f32 (the
// seed's arithmetic), otherwise in f64.
// cos: device [layers-1] f64, cos[l] = cos(mean_l, mean_{l+1}), 0 on a zero norm.
void launch_layer_alignment(const float* x, int layers, int heads, int64_t n, bool seed_f32_mean, double* cos,
                            cudaStream_t stream);

// launch_layer_alignment of two layers that lie apart, read in place (no copy): prev and
// cur device [heads][n] f32; cos: device [1] f64, cos(mean_prev, mean_cur), bitwise what
// launch_layer_alignment gives for the two stacked.
void launch_layer_alignment_pair(const float* prev, const float* cur, int heads, int64_t n,
                                 bool seed_f32_mean, double* cos, cudaStream_t stream);

}  // namespace qk
