// GPU dispatch for binaries without CUDA (the front end, qkgeom-engine-cpu, builds without a
// toolkit): reports why, and refuses to run.
#include <stdexcept>

#include "bo/gpu_stats.hpp"

namespace qk {

bool gpu_available(std::string* why) {
  if (why != nullptr)
    *why = "this qkgeom binary has no CUDA (qkgeom-engine-cpu, or a build configured without a toolkit)";
  return false;
}

int gpu_device_count(std::string* why) {
  gpu_available(why);
  return 0;
}

std::string gpu_device_name(int) { return ""; }

CloudStats compute_cloud_stats_gpu(const float*, const CloudDims&, const StatsPlan&, int) {
  throw std::runtime_error("this build of qkgeom has no CUDA");
}

std::vector<double> compute_kv_cka_gpu(const float*, const float*, const CloudDims&, int) {
  throw std::runtime_error("this build of qkgeom has no CUDA");
}

CloudStats compute_cloud_stats_on_device(const float*, const CloudDims&, const StatsPlan&, int, void*) {
  throw std::runtime_error("this build of qkgeom has no CUDA");
}

std::vector<double> compute_kv_cka_on_device(const float*, const float*, const CloudDims&, int, void*) {
  throw std::runtime_error("this build of qkgeom has no CUDA");
}

double layer_alignment_pair_on_device(const float*, const float*, int, int64_t, bool, int, void*) {
  throw std::runtime_error("this build of qkgeom has no CUDA");
}

struct DeviceResults::Impl {};

DeviceResults::DeviceResults(int) { throw std::runtime_error("this build of qkgeom has no CUDA"); }
DeviceResults::~DeviceResults() = default;
int DeviceResults::device() const { return 0; }
void DeviceResults::after(void*) {}
double* DeviceResults::reserve(size_t, Slot*) {
  throw std::runtime_error("this build of qkgeom has no CUDA");
}
void DeviceResults::send() {}
void DeviceResults::wait() {}
const double* DeviceResults::host(const Slot&) const { return nullptr; }
void DeviceResults::clear() {}
void DeviceResults::drain(void*) {}

struct PinnedPool::Impl {};

PinnedPool::PinnedPool(size_t) {}
PinnedPool::~PinnedPool() = default;
std::shared_ptr<float> PinnedPool::acquire(size_t) {
  throw std::runtime_error("this build of qkgeom has no CUDA");
}
size_t PinnedPool::held_bytes() const { return 0; }
size_t PinnedPool::peak_bytes() const { return 0; }

void queue_copy_to_host(float*, const float*, size_t, int, void*) {
  throw std::runtime_error("this build of qkgeom has no CUDA");
}

std::function<CloudStats()> queue_cloud_stats_on_device(const float*, const CloudDims&, const StatsPlan&,
                                                        DeviceResults&) {
  throw std::runtime_error("this build of qkgeom has no CUDA");
}

std::function<std::vector<double>()> queue_kv_cka_on_device(const float*, const float*, const CloudDims&,
                                                            DeviceResults&) {
  throw std::runtime_error("this build of qkgeom has no CUDA");
}

std::function<double()> queue_layer_alignment_pair(const float*, const float*, int, int64_t, bool,
                                                   DeviceResults&) {
  throw std::runtime_error("this build of qkgeom has no CUDA");
}

}  // namespace qk
