#pragma once
// Binds a cuBLAS handle to a stream with host pointer mode and full-precision math for
// its lifetime, restoring the caller's settings afterwards. Plain C++ (g++ or nvcc).
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "cuda_check.hpp"

namespace qk {

class CublasSettings {
 public:
  CublasSettings(cublasHandle_t h, cudaStream_t stream) : h_(h) {
    CUBLAS_CHECK(cublasGetStream(h_, &stream_));
    CUBLAS_CHECK(cublasGetPointerMode(h_, &mode_));
    CUBLAS_CHECK(cublasGetMathMode(h_, &math_));
    saved_ = true;
    CUBLAS_CHECK(cublasSetStream(h_, stream));
    CUBLAS_CHECK(cublasSetPointerMode(h_, CUBLAS_POINTER_MODE_HOST));
    CUBLAS_CHECK(cublasSetMathMode(h_, CUBLAS_DEFAULT_MATH));
  }
  ~CublasSettings() {
    if (!saved_) return;
    CUBLAS_CHECK_NOTHROW(cublasSetMathMode(h_, math_));
    CUBLAS_CHECK_NOTHROW(cublasSetPointerMode(h_, mode_));
    CUBLAS_CHECK_NOTHROW(cublasSetStream(h_, stream_));
  }
  CublasSettings(const CublasSettings&) = delete;
  CublasSettings& operator=(const CublasSettings&) = delete;

 private:
  cublasHandle_t h_;
  cudaStream_t stream_ = nullptr;
  cublasPointerMode_t mode_ = CUBLAS_POINTER_MODE_HOST;
  cublasMath_t math_ = CUBLAS_DEFAULT_MATH;
  bool saved_ = false;
};

}  // namespace qk
