#pragma once
// CPU twin of launch_kv_cka (kernels/kv_cka.cuh), without the cuBLAS handle.
#include <cstdint>

namespace qk {

// k, v: `count` matrices [seq][dim] at +c*stride; cka: [count] f64 in [0, 1].
void kv_cka_cpu(const float* k, const float* v, int64_t count, int64_t stride, int64_t seq, int64_t dim,
                double* cka);

}  // namespace qk
