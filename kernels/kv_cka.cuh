#pragma once
// K-V coupling: linear CKA between the key and value position clouds of a head.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace qk {

// k, v: device, `count` matrices of [seq][dim] f32 each, matrix c at k + c * stride.
// cka[c] = |Kc^T Vc|_F^2 / (|Kc^T Kc|_F |Vc^T Vc|_F) with rows centred over
// positions; in [0, 1], 0 when either cloud is constant. cka: device [count] f64.
// `cublas` must be bound to `stream`.
void launch_kv_cka(cublasHandle_t cublas, const float* k, const float* v, int64_t count, int64_t stride,
                   int64_t seq, int64_t dim, double* cka, cudaStream_t stream);

}  // namespace qk
