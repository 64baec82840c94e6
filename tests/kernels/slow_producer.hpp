#pragma once
// A stream standing in for torch's in the GPU tests of the on-device entry points: it writes
// host data into zeroed device buffers behind about 40 ms of other work (memsets of a
// 256 MiB scratch buffer), so a reader that does not wait for it reads the zeros. For tests
// built with CUDA that start with QK_REQUIRE_GPU().
#include <cuda_runtime_api.h>

#include <cstring>
#include <vector>

#include "cuda_check.hpp"

namespace qk {

class SlowProducer {
 public:
  SlowProducer() {
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    CUDA_CHECK(cudaMalloc(&scratch_, kScratchBytes));
  }
  ~SlowProducer() {
    CUDA_CHECK_NOTHROW(cudaStreamSynchronize(stream_));
    for (const Staged& s : staged_) {
      CUDA_CHECK_NOTHROW(cudaFree(s.device));
      CUDA_CHECK_NOTHROW(cudaFreeHost(s.pinned));
    }
    CUDA_CHECK_NOTHROW(cudaFree(scratch_));
    CUDA_CHECK_NOTHROW(cudaStreamDestroy(stream_));
  }
  SlowProducer(const SlowProducer&) = delete;
  SlowProducer& operator=(const SlowProducer&) = delete;

  // The producer's cudaStream_t, as the entry points take it.
  void* handle() const { return stream_; }

  // A zeroed device buffer that start() fills with h (a pinned copy is kept until then).
  const float* stage(const std::vector<float>& h) {
    Staged s;
    s.bytes = h.size() * sizeof(float);
    CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&s.device), s.bytes));
    CUDA_CHECK(cudaMemset(s.device, 0, s.bytes));
    CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&s.pinned), s.bytes));
    std::memcpy(s.pinned, h.data(), s.bytes);
    staged_.push_back(s);
    return s.device;
  }

  // Queues the busy work, then every staged copy, on the producer stream; returns at once.
  void start() {
    CUDA_CHECK(cudaDeviceSynchronize());  // the zeroing memsets have landed
    for (int i = 0; i < kBusyMemsets; ++i)
      CUDA_CHECK(cudaMemsetAsync(scratch_, i & 0xff, kScratchBytes, stream_));
    for (const Staged& s : staged_)
      CUDA_CHECK(cudaMemcpyAsync(s.device, s.pinned, s.bytes, cudaMemcpyHostToDevice, stream_));
  }

  // Whether the producer still has work queued (the window a missing wait falls into).
  bool busy() const { return cudaStreamQuery(stream_) == cudaErrorNotReady; }

 private:
  static constexpr size_t kScratchBytes = size_t{256} << 20;
  static constexpr int kBusyMemsets = 400;  // ~100 GiB written: tens of ms on an H200

  struct Staged {
    float* device = nullptr;
    float* pinned = nullptr;
    size_t bytes = 0;
  };
  cudaStream_t stream_ = nullptr;
  void* scratch_ = nullptr;
  std::vector<Staged> staged_;
};

}  // namespace qk
