#pragma once
// GPU versions of compute_cloud_stats_cpu / compute_kv_cka_cpu: upload the host
// cloud (or read one already in device memory), run the kernels of kernels/, download
// the small results.
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "bo/cloud_stats.hpp"

namespace qk {

// True when this build has CUDA and a device is visible; `why` says why not.
bool gpu_available(std::string* why = nullptr);
// The CUDA devices this build can use (0 without CUDA or device; `why` says why).
int gpu_device_count(std::string* why = nullptr);
// The CUDA device's name (e.g. "NVIDIA H100 80GB HBM3"); "" without CUDA or device.
std::string gpu_device_name(int device);

CloudStats compute_cloud_stats_gpu(const float* x, const CloudDims& dims, const StatsPlan& plan, int device);
std::vector<double> compute_kv_cka_gpu(const float* k, const float* v, const CloudDims& dims, int device);

// The same on clouds already in the memory of `device` (device pointers), read once the
// work queued on `producer` (a cudaStream_t that wrote them; null: none pending) is done.
// Every read has finished when they return.
CloudStats compute_cloud_stats_on_device(const float* x, const CloudDims& dims, const StatsPlan& plan,
                                         int device, void* producer);
std::vector<double> compute_kv_cka_on_device(const float* k, const float* v, const CloudDims& dims,
                                             int device, void* producer);
// cos of the head-mean vectors of two one-layer clouds [heads][n] (device or host
// memory), as launch_layer_alignment over the two layers stacked.
double layer_alignment_pair_on_device(const float* prev, const float* cur, int heads, int64_t n,
                                      bool seed_f32_mean, int device, void* producer);

// The f64 results of the device work of one layer of a batch (docs/sweep.md, "Layer by
// layer"): kernels queued on the analysis stream of thread_gpu_context(device) write them
// into a device block kept from layer to layer; send() queues one copy per block into pinned
// host memory and records an event, wait() waits for that event alone, so work queued on
// the stream after send() (the next layer's, into another DeviceResults) keeps running.
// Not thread-safe; one per thread.
class DeviceResults {
 public:
  struct Slot {
    size_t block = 0, offset = 0;
  };
  explicit DeviceResults(int device);
  ~DeviceResults();  // waits for the analysis stream (the work may still read its inputs)
  DeviceResults(const DeviceResults&) = delete;
  DeviceResults& operator=(const DeviceResults&) = delete;

  int device() const;
  // Makes the analysis stream wait (no host wait) for the work queued so far on
  // `producer`, the cudaStream_t that wrote the inputs (null: none); one reused event.
  void after(void* producer);
  // n result slots in device memory for work queued next; read with host() after wait().
  double* reserve(size_t n, Slot* slot);
  // Queues the copy of every reserved slot to the host and records the event wait() waits
  // for; no host wait. Nothing may be reserved after it until clear().
  void send();
  // Waits (send() first, if not yet) until the copies have landed: then every work queued on
  // the analysis stream before send() has finished, every read of its inputs included.
  void wait();
  // The host copy of `slot`'s results, valid from wait() to clear().
  const double* host(const Slot& slot) const;
  // Forgets every reservation; the memory stays for the next layer.
  void clear();
  // Waits for everything queued on `producer` (a cudaStream_t; null: none) and on the
  // analysis stream: after a failure, before the inputs and pinned outputs of work queued
  // on either may go.
  void drain(void* producer);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Pinned host buffers (cudaHostAlloc) reused from batch to batch: the sweep's --save-kv
// staging (docs/sweep.md, "Layer by layer"). acquire() hands the smallest free buffer that
// holds `floats` without being over twice as large, else allocates one of that size; the
// buffer comes back when the last copy of its handle goes, on any thread (thread-safe).
// At most `keep` free buffers are kept, the rest freed: the pinned memory held is the
// buffers in use plus at most `keep` free ones.
class PinnedPool {
 public:
  explicit PinnedPool(size_t keep);
  ~PinnedPool();  // frees the free buffers; those in use are freed when their handles go
  PinnedPool(const PinnedPool&) = delete;
  PinnedPool& operator=(const PinnedPool&) = delete;

  std::shared_ptr<float> acquire(size_t floats);
  // Bytes of pinned memory held now (in use and free), and the most held at once.
  size_t held_bytes() const;
  size_t peak_bytes() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;  // shared with the handles, which may outlive the pool
};

// Queues on `stream` (a cudaStream_t; null: the legacy default stream) the copy of n
// floats from device memory to pinned host memory; no wait.
void queue_copy_to_host(float* dst, const float* src, size_t n, int device, void* stream);

// Queue versions of the *_on_device entry points for a batch: the work goes on the analysis
// stream (after results.after(producer)), and the returned function, called after
// results.wait(), reads its results. The inputs must stay alive until then.
std::function<CloudStats()> queue_cloud_stats_on_device(const float* x, const CloudDims& dims,
                                                        const StatsPlan& plan, DeviceResults& results);
std::function<std::vector<double>()> queue_kv_cka_on_device(const float* k, const float* v,
                                                            const CloudDims& dims, DeviceResults& results);
std::function<double()> queue_layer_alignment_pair(const float* prev, const float* cur, int heads, int64_t n,
                                                   bool seed_f32_mean, DeviceResults& results);

}  // namespace qk
