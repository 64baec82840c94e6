#pragma once
// GPU versions of compute_cloud_stats_cpu / compute_kv_cka_cpu: upload the host
// cloud (or read one already in device memory), run the kernels of kernels/, download
// the small results.
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

}  // namespace qk
