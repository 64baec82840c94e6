#pragma once
// RAII owners of the CUDA resources the GPU ops use: a context (device, stream,
// cuBLAS and cuSOLVER handles bound to that stream), a device-selection guard,
// and a stream-ordered device buffer. Plain C++ (g++ or nvcc).
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cusolverDn.h>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>

#include "cuda_check.hpp"

namespace qk {

// Makes `device` current for its lifetime and restores the previous device.
class ScopedDevice {
 public:
  explicit ScopedDevice(int device) {
    CUDA_CHECK(cudaGetDevice(&previous_));
    if (device != previous_) CUDA_CHECK(cudaSetDevice(device));
  }
  ~ScopedDevice() { CUDA_CHECK_NOTHROW(cudaSetDevice(previous_)); }
  ScopedDevice(const ScopedDevice&) = delete;
  ScopedDevice& operator=(const ScopedDevice&) = delete;

 private:
  int previous_ = 0;
};

// One device's working set: a non-blocking stream, a cuBLAS handle and a
// cuSOLVER handle, both bound to the stream. Construct with the device index;
// the calling thread's current device is left set to it. Non-copyable.
class GpuContext {
 public:
  explicit GpuContext(int device);
  ~GpuContext();
  GpuContext(const GpuContext&) = delete;
  GpuContext& operator=(const GpuContext&) = delete;

  int device() const noexcept { return device_; }
  cudaStream_t stream() const noexcept { return stream_; }
  cublasHandle_t cublas() const noexcept { return cublas_; }
  cusolverDnHandle_t cusolver() const noexcept { return cusolver_; }

  // Blocks until all work queued on the stream has finished; throws on a fault.
  void synchronize() const;

 private:
  void release() noexcept;

  int device_ = -1;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  cusolverDnHandle_t cusolver_ = nullptr;
};

// `n` elements of T in device memory, allocated and freed in the order of
// `stream` (cudaMallocAsync / cudaFreeAsync). Zero elements hold no memory.
// Move-only. upload/download copy between host and device on that stream;
// download waits for the copy so the host data is ready when it returns.
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(size_t n, cudaStream_t stream) : stream_(stream) {
    if (n == 0) return;
    void* p = nullptr;
    CUDA_CHECK(cudaMallocAsync(&p, n * sizeof(T), stream));
    data_ = static_cast<T*>(p);
    size_ = n;
  }
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)), stream_(o.stream_) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
      stream_ = o.stream_;
    }
    return *this;
  }

  T* data() noexcept { return data_; }
  const T* data() const noexcept { return data_; }
  size_t size() const noexcept { return size_; }
  size_t bytes() const noexcept { return size_ * sizeof(T); }
  cudaStream_t stream() const noexcept { return stream_; }

  // Frees the memory (stream-ordered); the buffer becomes empty.
  void reset() noexcept {
    if (data_ != nullptr) CUDA_CHECK_NOTHROW(cudaFreeAsync(data_, stream_));
    data_ = nullptr;
    size_ = 0;
  }

  // Copies n elements from host memory into the first n elements.
  void upload(const T* host, size_t n) {
    check_count(n);
    if (n > 0) CUDA_CHECK(cudaMemcpyAsync(data_, host, n * sizeof(T), cudaMemcpyHostToDevice, stream_));
  }

  // Copies the first n elements into host memory and waits for them.
  void download(T* host, size_t n) const {
    check_count(n);
    if (n == 0) return;
    CUDA_CHECK(cudaMemcpyAsync(host, data_, n * sizeof(T), cudaMemcpyDeviceToHost, stream_));
    CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  // Sets every byte to zero (stream-ordered).
  void zero() {
    if (size_ > 0) CUDA_CHECK(cudaMemsetAsync(data_, 0, bytes(), stream_));
  }

 private:
  void check_count(size_t n) const {
    if (n > size_)
      throw std::out_of_range("DeviceBuffer: " + std::to_string(n) + " elements requested, buffer holds " +
                              std::to_string(size_));
  }

  T* data_ = nullptr;
  size_t size_ = 0;
  cudaStream_t stream_ = nullptr;
};

// The calling thread's context for `device`, made on first use and kept for the
// thread's lifetime: stream and library handles are costly to create per call.
GpuContext& thread_gpu_context(int device);

// Makes `stream` wait (without blocking the host) for the work queued so far on
// `producer`, a cudaStream_t of another library (libtorch) that wrote the data `stream`
// is about to read; null: nothing to wait for.
void wait_for_producer(cudaStream_t stream, void* producer);

}  // namespace qk
