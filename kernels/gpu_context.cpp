#include "gpu_context.hpp"

#include <cstdint>
#include <map>
#include <memory>

namespace qk {

GpuContext::GpuContext(int device) : device_(device) {
  int count = 0;
  CUDA_CHECK(cudaGetDeviceCount(&count));
  if (device < 0 || device >= count)
    throw std::invalid_argument("GpuContext: device " + std::to_string(device) + " out of range (" +
                                std::to_string(count) + " visible)");
  CUDA_CHECK(cudaSetDevice(device));
  // DeviceBuffer allocates from the device's default pool (cudaMallocAsync); keeping up to
  // 1 GiB of freed memory in it, instead of none past each synchronisation, makes the
  // per-call workspaces of the kernels cheap to repeat (libtorch's memory is not in it).
  cudaMemPool_t pool = nullptr;
  CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
  uint64_t keep = uint64_t{1} << 30;
  CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
  try {
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    CUBLAS_CHECK(cublasCreate(&cublas_));
    CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
    // Full fp32 products: no TF32 or other reduced-precision tensor-core paths.
    CUBLAS_CHECK(cublasSetMathMode(cublas_, CUBLAS_DEFAULT_MATH));
    CUSOLVER_CHECK(cusolverDnCreate(&cusolver_));
    CUSOLVER_CHECK(cusolverDnSetStream(cusolver_, stream_));
  } catch (...) {
    release();
    throw;
  }
}

GpuContext::~GpuContext() { release(); }

void GpuContext::synchronize() const { CUDA_CHECK(cudaStreamSynchronize(stream_)); }

void GpuContext::release() noexcept {
  if (stream_ != nullptr) CUDA_CHECK_NOTHROW(cudaStreamSynchronize(stream_));
  if (cusolver_ != nullptr) CUSOLVER_CHECK_NOTHROW(cusolverDnDestroy(cusolver_));
  if (cublas_ != nullptr) CUBLAS_CHECK_NOTHROW(cublasDestroy(cublas_));
  if (stream_ != nullptr) CUDA_CHECK_NOTHROW(cudaStreamDestroy(stream_));
  cusolver_ = nullptr;
  cublas_ = nullptr;
  stream_ = nullptr;
}

GpuContext& thread_gpu_context(int device) {
  thread_local std::map<int, std::unique_ptr<GpuContext>> contexts;
  std::unique_ptr<GpuContext>& slot = contexts[device];
  if (!slot) slot = std::make_unique<GpuContext>(device);
  return *slot;
}

void wait_for_producer(cudaStream_t stream, void* producer) {
  if (producer == nullptr) return;
  const auto from = static_cast<cudaStream_t>(producer);
  if (from == stream) return;
  cudaEvent_t ready = nullptr;
  CUDA_CHECK(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
  const cudaError_t recorded = cudaEventRecord(ready, from);
  const cudaError_t waited = recorded == cudaSuccess ? cudaStreamWaitEvent(stream, ready, 0) : recorded;
  CUDA_CHECK_NOTHROW(cudaEventDestroy(ready));
  CUDA_CHECK(waited);
}

}  // namespace qk
