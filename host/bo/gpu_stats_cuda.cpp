// GPU dispatch of the cloud reductions: uploads the host cloud, runs the
// launchers of kernels/ with the same plan as compute_cloud_stats_cpu, and
// downloads the small results. Compiled by the host C++ compiler (no nvcc).
#include <cuda_runtime_api.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bo/gpu_stats.hpp"
#include "gpu_context.hpp"
#include "head_gram.cuh"
#include "kv_cka.cuh"
#include "layer_alignment.cuh"
#include "magnitude_entropy.cuh"
#include "position_cosine.cuh"

namespace qk {

namespace {

void check_dims(const CloudDims& d, const char* who) {
  if (d.layers < 0 || d.heads < 0 || d.seq < 0 || d.head_dim < 0)
    throw std::invalid_argument(std::string(who) + ": negative cloud dimension");
}

void check_heads(int nh, const CloudDims& d, const char* what) {
  if (nh < 0 || nh > d.heads)
    throw std::invalid_argument(std::string("compute_cloud_stats_gpu: ") + what + " = " + std::to_string(nh) +
                                " outside [0, " + std::to_string(d.heads) + "]");
}

// Calls launch(base, count, stride, offset) for batches of matrices covering heads
// [0, nh) of every layer of the device cloud x; a batch's results go to the output
// arrays from `offset`. Matrix (l, h) starts at x + (l*heads + h) * seq*dim. With
// nh == heads the whole tensor is one strided batch (results in [layers][nh] order);
// otherwise head h is a batch over layers (stride heads*seq*dim) at offset h*layers,
// so the results are in [nh][layers] order (see download_layer_major).
template <typename Launch>
void for_head_batches(const float* x, const CloudDims& d, int nh, Launch launch) {
  const int64_t m = d.head_elems();
  if (nh == d.heads) {
    launch(x, static_cast<int64_t>(d.layers) * nh, m, size_t{0});
    return;
  }
  for (int h = 0; h < nh; ++h)
    launch(x + h * m, static_cast<int64_t>(d.layers), static_cast<int64_t>(d.heads) * m,
           static_cast<size_t>(h) * d.layers);
}

// The layers*nh results that for_head_batches left in `buf`, in [layers][nh] order.
template <typename T>
std::vector<T> download_layer_major(const DeviceBuffer<T>& buf, const CloudDims& d, int nh) {
  const size_t n = static_cast<size_t>(d.layers) * nh;
  std::vector<T> raw(n);
  buf.download(raw.data(), n);
  if (nh == d.heads) return raw;
  std::vector<T> out(n);
  for (int h = 0; h < nh; ++h)
    for (int l = 0; l < d.layers; ++l)
      out[static_cast<size_t>(l) * nh + h] = raw[static_cast<size_t>(h) * d.layers + l];
  return out;
}

}  // namespace

std::string gpu_device_name(int device) {
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, device) != cudaSuccess) {
    cudaGetLastError();
    return "";
  }
  return prop.name;
}

int gpu_device_count(std::string* why) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the error so later runtime calls are unaffected
    if (why != nullptr) *why = std::string("cudaGetDeviceCount: ") + cudaGetErrorString(e);
    return 0;
  }
  if (count <= 0) {
    if (why != nullptr) *why = "cudaGetDeviceCount: no device visible";
    return 0;
  }
  if (why != nullptr) why->clear();
  return count;
}

bool gpu_available(std::string* why) { return gpu_device_count(why) > 0; }

namespace {

// The plan's reductions of the device cloud dx on ctx's stream; results downloaded.
CloudStats stats_on_device(const float* dx, const CloudDims& d, const StatsPlan& plan, GpuContext& ctx) {
  const cudaStream_t stream = ctx.stream();
  const int64_t m = d.head_elems();
  CloudStats s;
  if (plan.head_gram) {
    const size_t n = static_cast<size_t>(d.layers) * d.heads * d.heads;
    s.head_gram.resize(n);
    DeviceBuffer<double> g(n, stream);
    launch_head_gram(dx, d.layers, d.heads, m, g.data(), stream);
    g.download(s.head_gram.data(), n);
  }
  if (plan.position_heads > 0) {
    const int nh = plan.position_heads;
    const size_t n = static_cast<size_t>(d.layers) * nh;
    DeviceBuffer<double> sums(n, stream);
    DeviceBuffer<uint64_t> below(n, stream);
    for_head_batches(dx, d, nh, [&](const float* base, int64_t count, int64_t stride, size_t offset) {
      launch_position_cosine(base, count, stride, d.seq, d.head_dim, plan.below_threshold,
                             sums.data() + offset, below.data() + offset, stream);
    });
    s.pos_sum_cos = download_layer_major(sums, d, nh);
    s.pos_below = download_layer_major(below, d, nh);
  }
  if (plan.entropy_heads > 0) {
    const int nh = plan.entropy_heads;
    DeviceBuffer<double> ent(static_cast<size_t>(d.layers) * nh, stream);
    for_head_batches(dx, d, nh, [&](const float* base, int64_t count, int64_t stride, size_t offset) {
      launch_magnitude_entropy(base, count, stride, d.seq, d.head_dim, ent.data() + offset, stream);
    });
    s.entropy = download_layer_major(ent, d, nh);
  }
  if (plan.layer_alignment && d.layers > 1) {
    const size_t n = static_cast<size_t>(d.layers) - 1;
    s.layer_align.resize(n);
    DeviceBuffer<double> c(n, stream);
    launch_layer_alignment(dx, d.layers, d.heads, m, plan.seed_f32_mean, c.data(), stream);
    c.download(s.layer_align.data(), n);
  }
  ctx.synchronize();
  return s;
}

// Linear CKA per (layer, head) of the device clouds dk, dv on ctx's stream.
std::vector<double> kv_cka_on_device(const float* dk, const float* dv, const CloudDims& d, GpuContext& ctx) {
  const size_t n = static_cast<size_t>(d.layers) * d.heads;
  std::vector<double> out(n);
  if (n == 0) return out;
  DeviceBuffer<double> cka(n, ctx.stream());
  launch_kv_cka(ctx.cublas(), dk, dv, static_cast<int64_t>(n), d.head_elems(), d.seq, d.head_dim, cka.data(),
                ctx.stream());
  cka.download(out.data(), n);
  return out;
}

size_t cloud_elems(const CloudDims& d) { return static_cast<size_t>(d.layers) * d.heads * d.head_elems(); }

}  // namespace

CloudStats compute_cloud_stats_gpu(const float* x, const CloudDims& d, const StatsPlan& plan, int device) {
  check_dims(d, "compute_cloud_stats_gpu");
  check_heads(plan.position_heads, d, "position_heads");
  check_heads(plan.entropy_heads, d, "entropy_heads");
  const size_t total = cloud_elems(d);
  if (total > 0 && x == nullptr) throw std::invalid_argument("compute_cloud_stats_gpu: null cloud");
  ScopedDevice on_device(device);
  GpuContext& ctx = thread_gpu_context(device);
  DeviceBuffer<float> dx(total, ctx.stream());
  dx.upload(x, total);
  return stats_on_device(dx.data(), d, plan, ctx);
}

CloudStats compute_cloud_stats_on_device(const float* x, const CloudDims& d, const StatsPlan& plan,
                                         int device, void* producer) {
  check_dims(d, "compute_cloud_stats_on_device");
  check_heads(plan.position_heads, d, "position_heads");
  check_heads(plan.entropy_heads, d, "entropy_heads");
  if (cloud_elems(d) > 0 && x == nullptr)
    throw std::invalid_argument("compute_cloud_stats_on_device: null cloud");
  ScopedDevice on_device(device);
  GpuContext& ctx = thread_gpu_context(device);
  wait_for_producer(ctx.stream(), producer);
  return stats_on_device(x, d, plan, ctx);
}

std::vector<double> compute_kv_cka_gpu(const float* k, const float* v, const CloudDims& d, int device) {
  check_dims(d, "compute_kv_cka_gpu");
  const size_t total = cloud_elems(d);
  if (total > 0 && (k == nullptr || v == nullptr))
    throw std::invalid_argument("compute_kv_cka_gpu: null cloud");
  if (static_cast<size_t>(d.layers) * d.heads == 0) return {};
  ScopedDevice on_device(device);
  GpuContext& ctx = thread_gpu_context(device);
  DeviceBuffer<float> dk(total, ctx.stream()), dv(total, ctx.stream());
  dk.upload(k, total);
  dv.upload(v, total);
  return kv_cka_on_device(dk.data(), dv.data(), d, ctx);
}

std::vector<double> compute_kv_cka_on_device(const float* k, const float* v, const CloudDims& d, int device,
                                             void* producer) {
  check_dims(d, "compute_kv_cka_on_device");
  if (cloud_elems(d) > 0 && (k == nullptr || v == nullptr))
    throw std::invalid_argument("compute_kv_cka_on_device: null cloud");
  if (static_cast<size_t>(d.layers) * d.heads == 0) return {};
  ScopedDevice on_device(device);
  GpuContext& ctx = thread_gpu_context(device);
  wait_for_producer(ctx.stream(), producer);
  return kv_cka_on_device(k, v, d, ctx);
}

double layer_alignment_pair_on_device(const float* prev, const float* cur, int heads, int64_t n,
                                      bool seed_f32_mean, int device, void* producer) {
  if (heads <= 0 || n <= 0) return 0.0;
  if (prev == nullptr || cur == nullptr)
    throw std::invalid_argument("layer_alignment_pair_on_device: null cloud");
  ScopedDevice on_device(device);
  GpuContext& ctx = thread_gpu_context(device);
  const cudaStream_t stream = ctx.stream();
  wait_for_producer(stream, producer);
  const size_t layer = static_cast<size_t>(heads) * n;
  DeviceBuffer<float> both(2 * layer, stream);  // [2][heads][n]: the kernel reads adjacent layers
  CUDA_CHECK(cudaMemcpyAsync(both.data(), prev, layer * sizeof(float), cudaMemcpyDefault, stream));
  CUDA_CHECK(cudaMemcpyAsync(both.data() + layer, cur, layer * sizeof(float), cudaMemcpyDefault, stream));
  DeviceBuffer<double> c(1, stream);
  launch_layer_alignment(both.data(), 2, heads, n, seed_f32_mean, c.data(), stream);
  double out = 0.0;
  c.download(&out, 1);
  return out;
}

}  // namespace qk
