#pragma once
// GPU versions of compute_cloud_stats_cpu / compute_kv_cka_cpu: upload the host
// cloud, run the kernels of kernels/, download the small results.
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

}  // namespace qk
