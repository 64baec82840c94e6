#pragma once
// The cuSOLVER fp64 dense routines of the static GPU path (static_gpu_cuda.cpp) over
// `count` column-major matrices at a fixed stride, on one handle and its stream: the
// symmetric eigensolver batched (cusolverDnXsyevBatched, chunked so that
// n * n * chunk <= INT32_MAX), and Householder QR, applying its Q and singular values one
// matrix after the other (cuSOLVER has no batched form of these beyond 32 x 32). Every
// routine checks each matrix's info and throws std::runtime_error naming the first bad
// one. Compiled by the host C++ compiler.
#include <cusolverDn.h>

#include <cstdint>
#include <vector>

#include "gpu_context.hpp"

namespace qk {

class DenseSolver {
 public:
  DenseSolver(cusolverDnHandle_t h, cudaStream_t stream);
  ~DenseSolver();
  DenseSolver(const DenseSolver&) = delete;
  DenseSolver& operator=(const DenseSolver&) = delete;

  // Eigenvalues, ascending, of the symmetric n x n matrices a + c n^2 (lower triangle,
  // lda n) into w + c n, c < count; with `vectors` a is overwritten by the eigenvectors.
  void syev(bool vectors, int64_t n, double* a, double* w, int64_t count, const char* what);

  // Householder QR in place (LAPACK's geqrf layout) of the m x n matrices a + c * stride
  // (lda m), their min(m, n) scalar factors into tau + c * min(m, n).
  void geqrf(int64_t m, int64_t n, double* a, int64_t stride, double* tau, int64_t count);

  // x_c := Q_c x_c for the m x n matrices x + c * stride_x (ld m), Q_c the product of the
  // k reflectors geqrf left in a + c * stride_a (lda m) and tau + c * k.
  void apply_q(int64_t m, int64_t n, int64_t k, const double* a, int64_t stride_a, const double* tau,
               double* x, int64_t stride_x, int64_t count);

  // Singular values, descending, of the m x n matrices a + c * stride (lda m, m >= n;
  // destroyed) into s + c * n.
  void singular_values(int64_t m, int64_t n, double* a, int64_t stride, double* s, int64_t count);

 private:
  void reserve(size_t device_bytes, size_t host_bytes);
  void check_info(const DeviceBuffer<int>& info, int64_t count, int64_t first, const char* what,
                  int64_t n) const;

  cusolverDnHandle_t h_;
  cudaStream_t stream_;
  cusolverDnParams_t params_ = nullptr;
  DeviceBuffer<unsigned char> dwork_;
  std::vector<unsigned char> hwork_;
};

}  // namespace qk
