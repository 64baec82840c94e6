#pragma once
// The device side of head_qr.hpp, shared by the static GPU twins (static_gpu_cuda.cpp,
// rope_gpu_cuda.cpp): every query head's B^T = [Q^T, K_g^T] laid out on the device and its
// Householder QR (docs/static-geometry.md, "GPU path", steps 1 and 3), plus the fp64
// strided-batched GEMM they all use. Column-major; compiled by the host C++ compiler.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "cusolver_dense.hpp"
#include "gpu_context.hpp"
#include "static_types.hpp"

namespace qk {
namespace sgpu {

// std::invalid_argument naming `who` for non-positive dims, heads not a multiple of the
// KV heads, (with check_topk) topk outside [0, 2 d], or sizes beyond cuBLAS/cuSOLVER's ints.
void check_dims(const StaticDims& s, const char* who, bool check_topk);

// C_c = alpha op(A_c) op(B_c) + beta C_c for c < batch (column-major, fp64).
void gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int64_t m, int64_t n, int64_t k,
          double alpha, const double* a, int64_t lda, int64_t stride_a, const double* b, int64_t ldb,
          int64_t stride_b, double beta, double* c, int64_t ldc, int64_t stride_c, int64_t batch);

template <typename T>
std::vector<T> download(const DeviceBuffer<T>& buf, size_t n) {
  std::vector<T> h(n);
  buf.download(h.data(), n);
  return h;
}

// One layer's device state: the handles, and per query head h the hidden x 2d column-major
// B_h^T = [Q_h^T, K_g^T] at bt + h * hid * 2d (overwritten by geqrf), tau + h * p, and the
// dense upper-trapezoidal R_h (p x 2d, ld p) at r + h * p * 2d, p = min(hidden, 2d):
// R1 = its first d columns, R2 the last d.
struct LayerGpu {
  cublasHandle_t cb;
  DenseSolver& solver;
  cudaStream_t stream;
  int64_t hq, dh, hid, n2, p;
  DeviceBuffer<double> bt, tau, r;
};

// On device `device` (the thread's GpuContext stream, cuBLAS in host pointer mode and
// default math): uploads the f32 weights wq [Hq d][hidden], wk [Hkv d][hidden], widens
// them to fp64, lays out every head's B^T and calls fn with the layer's state (R not yet
// computed: factor_heads).
void with_layer_gpu(const float* wq, const float* wk, const StaticDims& dims, int device,
                    const std::function<void(LayerGpu&)>& fn);

// Householder QR of every B^T, and R copied out densely.
void factor_heads(LayerGpu& s);

}  // namespace sgpu
}  // namespace qk
