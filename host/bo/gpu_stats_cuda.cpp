// GPU dispatch of the cloud reductions: uploads the host cloud, runs the
// launchers of kernels/ with the same plan as compute_cloud_stats_cpu, and
// downloads the small results. Compiled by the host C++ compiler (no nvcc).
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
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
// so the results are in [nh][layers] order (see layer_major).
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

// The layers*nh results that for_head_batches left at host copy `raw`, in [layers][nh] order.
template <typename T>
std::vector<T> layer_major(const T* raw, const CloudDims& d, int nh) {
  const size_t n = static_cast<size_t>(d.layers) * nh;
  if (nh == d.heads) return std::vector<T>(raw, raw + n);
  std::vector<T> out(n);
  for (int h = 0; h < nh; ++h)
    for (int l = 0; l < d.layers; ++l)
      out[static_cast<size_t>(l) * nh + h] = raw[static_cast<size_t>(h) * d.layers + l];
  return out;
}

// Where the plan's outputs lie in one f64 device block (element offsets): head Gram,
// position cosine sums, below-threshold counts (u64 bits), entropies, layer alignments.
struct StatsLayout {
  size_t gram = 0, sums = 0, below = 0, entropy = 0, align = 0, total = 0;
};

StatsLayout stats_layout(const CloudDims& d, const StatsPlan& plan) {
  const auto layers = static_cast<size_t>(d.layers);
  StatsLayout o;
  o.sums = o.gram + (plan.head_gram ? layers * d.heads * d.heads : 0);
  o.below = o.sums + layers * plan.position_heads;
  o.entropy = o.below + layers * plan.position_heads;
  o.align = o.entropy + layers * plan.entropy_heads;
  o.total = o.align + (plan.layer_alignment && d.layers > 1 ? layers - 1 : 0);
  return o;
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

// Queues the plan's reductions of the device cloud dx on `stream` into the device block
// `out` (stats_layout(d, plan) elements).
void launch_stats(const float* dx, const CloudDims& d, const StatsPlan& plan, double* out,
                  cudaStream_t stream) {
  const int64_t m = d.head_elems();
  const StatsLayout o = stats_layout(d, plan);
  auto* below = reinterpret_cast<uint64_t*>(out + o.below);  // 8-byte slots of the same block
  if (plan.head_gram) launch_head_gram(dx, d.layers, d.heads, m, out + o.gram, stream);
  if (plan.position_heads > 0)
    for_head_batches(dx, d, plan.position_heads,
                     [&](const float* base, int64_t count, int64_t stride, size_t at) {
                       launch_position_cosine(base, count, stride, d.seq, d.head_dim, plan.below_threshold,
                                              out + o.sums + at, below + at, stream);
                     });
  if (plan.entropy_heads > 0)
    for_head_batches(
        dx, d, plan.entropy_heads, [&](const float* base, int64_t count, int64_t stride, size_t at) {
          launch_magnitude_entropy(base, count, stride, d.seq, d.head_dim, out + o.entropy + at, stream);
        });
  if (plan.layer_alignment && d.layers > 1)
    launch_layer_alignment(dx, d.layers, d.heads, m, plan.seed_f32_mean, out + o.align, stream);
}

// The CloudStats of launch_stats's block `h`, copied to the host.
CloudStats read_stats(const double* h, const CloudDims& d, const StatsPlan& plan) {
  const StatsLayout o = stats_layout(d, plan);
  CloudStats s;
  if (plan.head_gram) s.head_gram.assign(h + o.gram, h + o.sums);
  if (plan.position_heads > 0) {
    std::vector<uint64_t> bits(o.entropy - o.below);
    std::memcpy(bits.data(), h + o.below, bits.size() * sizeof(uint64_t));
    s.pos_sum_cos = layer_major(h + o.sums, d, plan.position_heads);
    s.pos_below = layer_major(bits.data(), d, plan.position_heads);
  }
  if (plan.entropy_heads > 0) s.entropy = layer_major(h + o.entropy, d, plan.entropy_heads);
  if (plan.layer_alignment && d.layers > 1) s.layer_align.assign(h + o.align, h + o.total);
  return s;
}

// The plan's reductions of the device cloud dx on ctx's stream, into one device block
// downloaded with one copy and one wait.
CloudStats stats_on_device(const float* dx, const CloudDims& d, const StatsPlan& plan, GpuContext& ctx) {
  const size_t total = stats_layout(d, plan).total;
  DeviceBuffer<double> block(total, ctx.stream());
  launch_stats(dx, d, plan, block.data(), ctx.stream());
  std::vector<double> host(total);
  block.download(host.data(), total);
  ctx.synchronize();  // every read of dx has finished, also with nothing to download
  return read_stats(host.data(), d, plan);
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

namespace {

// p when the current device reads it in place (its own or managed memory); otherwise a
// copy of its n floats (host, pinned or another device's memory) into `up`, on `stream`.
const float* device_readable(const float* p, size_t n, DeviceBuffer<float>& up, cudaStream_t stream) {
  cudaPointerAttributes a{};
  CUDA_CHECK(cudaPointerGetAttributes(&a, p));
  int current = 0;
  CUDA_CHECK(cudaGetDevice(&current));
  if (a.type == cudaMemoryTypeManaged || (a.type == cudaMemoryTypeDevice && a.device == current)) return p;
  up = DeviceBuffer<float>(n, stream);
  if (n > 0) CUDA_CHECK(cudaMemcpyAsync(up.data(), p, n * sizeof(float), cudaMemcpyDefault, stream));
  return up.data();
}

// Queues cos of the head-mean vectors of prev and cur [heads][n] into device out[0] on
// `stream`: layers in device memory are read where they lie, a layer in host memory is
// uploaded first (buffers freed in stream order).
void launch_alignment_pair(const float* prev, const float* cur, int heads, int64_t n, bool seed_f32_mean,
                           double* out, cudaStream_t stream) {
  const size_t layer = static_cast<size_t>(heads) * n;
  DeviceBuffer<float> up_prev, up_cur;
  launch_layer_alignment_pair(device_readable(prev, layer, up_prev, stream),
                              device_readable(cur, layer, up_cur, stream), heads, n, seed_f32_mean, out,
                              stream);
}

}  // namespace

double layer_alignment_pair_on_device(const float* prev, const float* cur, int heads, int64_t n,
                                      bool seed_f32_mean, int device, void* producer) {
  if (heads <= 0 || n <= 0) return 0.0;
  if (prev == nullptr || cur == nullptr)
    throw std::invalid_argument("layer_alignment_pair_on_device: null cloud");
  ScopedDevice on_device(device);
  GpuContext& ctx = thread_gpu_context(device);
  wait_for_producer(ctx.stream(), producer);
  DeviceBuffer<double> c(1, ctx.stream());
  launch_alignment_pair(prev, cur, heads, n, seed_f32_mean, c.data(), ctx.stream());
  double out = 0.0;
  c.download(&out, 1);
  return out;
}

// One device block of result slots and its pinned host copy (cudaHostAlloc).
struct ResultBlock {
  DeviceBuffer<double> device;
  double* host = nullptr;
  size_t used = 0;
};

struct DeviceResults::Impl {
  int device = 0;
  GpuContext* ctx = nullptr;
  cudaEvent_t ready = nullptr;  // recorded on the producer by after()
  cudaEvent_t done = nullptr;   // recorded on the analysis stream by send()
  bool sent = false;            // send() since the last clear()
  std::vector<ResultBlock> blocks;

  void add_block(size_t n) {
    ResultBlock b;
    b.device = DeviceBuffer<double>(n, ctx->stream());
    CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&b.host), n * sizeof(double), cudaHostAllocDefault));
    blocks.push_back(std::move(b));
  }
  void free_blocks() noexcept {
    for (ResultBlock& b : blocks)
      if (b.host != nullptr) CUDA_CHECK_NOTHROW(cudaFreeHost(b.host));
    blocks.clear();
  }
};

DeviceResults::DeviceResults(int device) : impl_(std::make_unique<Impl>()) {
  ScopedDevice on_device(device);
  impl_->device = device;
  impl_->ctx = &thread_gpu_context(device);
  CUDA_CHECK(cudaEventCreateWithFlags(&impl_->ready, cudaEventDisableTiming));
  CUDA_CHECK(cudaEventCreateWithFlags(&impl_->done, cudaEventDisableTiming));
}

DeviceResults::~DeviceResults() {  // no device switch: these calls name their stream or memory
  CUDA_CHECK_NOTHROW(cudaStreamSynchronize(impl_->ctx->stream()));
  impl_->free_blocks();
  CUDA_CHECK_NOTHROW(cudaEventDestroy(impl_->ready));
  CUDA_CHECK_NOTHROW(cudaEventDestroy(impl_->done));
}

int DeviceResults::device() const { return impl_->device; }

void DeviceResults::after(void* producer) {
  const cudaStream_t stream = impl_->ctx->stream();
  const auto from = static_cast<cudaStream_t>(producer);
  if (from == nullptr || from == stream) return;
  ScopedDevice on_device(impl_->device);
  CUDA_CHECK(cudaEventRecord(impl_->ready, from));
  CUDA_CHECK(cudaStreamWaitEvent(stream, impl_->ready, 0));
}

double* DeviceResults::reserve(size_t n, Slot* slot) {
  if (impl_->sent) throw std::logic_error("DeviceResults: reserve after send, before clear");
  std::vector<ResultBlock>& bs = impl_->blocks;
  if (bs.empty() || bs.back().device.size() - bs.back().used < n) {
    ScopedDevice on_device(impl_->device);
    impl_->add_block(std::max<size_t>({n, size_t{1} << 14, bs.empty() ? 0 : 2 * bs.back().device.size()}));
  }
  ResultBlock& b = bs.back();
  *slot = Slot{bs.size() - 1, b.used};
  b.used += n;
  return b.device.data() + slot->offset;
}

void DeviceResults::send() {
  if (impl_->sent) return;
  ScopedDevice on_device(impl_->device);
  const cudaStream_t stream = impl_->ctx->stream();
  for (const ResultBlock& b : impl_->blocks)
    if (b.used > 0)
      CUDA_CHECK(
          cudaMemcpyAsync(b.host, b.device.data(), b.used * sizeof(double), cudaMemcpyDeviceToHost, stream));
  CUDA_CHECK(cudaEventRecord(impl_->done, stream));
  impl_->sent = true;
}

void DeviceResults::wait() {
  send();
  CUDA_CHECK(cudaEventSynchronize(impl_->done));  // this block's one wait
}

const double* DeviceResults::host(const Slot& slot) const {
  return impl_->blocks.at(slot.block).host + slot.offset;
}

void DeviceResults::clear() {
  std::vector<ResultBlock>& bs = impl_->blocks;
  if (impl_->sent)
    CUDA_CHECK(cudaEventSynchronize(impl_->done));  // no copy into the pinned blocks is pending
  impl_->sent = false;
  for (ResultBlock& b : bs) b.used = 0;
  if (bs.size() <= 1) return;
  size_t total = 0;  // one block of the size this layer needed, for the next ones
  for (const ResultBlock& b : bs) total += b.device.size();
  ScopedDevice on_device(impl_->device);
  impl_->free_blocks();
  impl_->add_block(total);
}

struct PinnedPool::Impl {
  size_t keep = 0;
  std::mutex mu;
  std::multimap<size_t, float*> free;  // floats -> buffer
  size_t held = 0, peak = 0;           // bytes

  // A buffer of at least n floats back to the pool (or freed, beyond `keep`).
  void release(float* p, size_t n) noexcept {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (free.size() < keep) {
        free.emplace(n, p);
        return;
      }
      held -= n * sizeof(float);
    }
    CUDA_CHECK_NOTHROW(cudaFreeHost(p));
  }
};

PinnedPool::PinnedPool(size_t keep) : impl_(std::make_shared<Impl>()) { impl_->keep = keep; }

PinnedPool::~PinnedPool() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  for (const auto& [n, p] : impl_->free) {
    impl_->held -= n * sizeof(float);
    CUDA_CHECK_NOTHROW(cudaFreeHost(p));
  }
  impl_->free.clear();
  impl_->keep = 0;  // buffers still in use are freed when they come back
}

std::shared_ptr<float> PinnedPool::acquire(size_t floats) {
  const std::shared_ptr<Impl> pool = impl_;
  float* p = nullptr;
  size_t n = floats;
  {
    std::lock_guard<std::mutex> lock(pool->mu);
    const auto it = pool->free.lower_bound(floats);
    if (it != pool->free.end() && it->first <= 2 * floats) {
      n = it->first;
      p = it->second;
      pool->free.erase(it);
    }
  }
  if (p == nullptr) {
    CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&p), std::max<size_t>(n, 1) * sizeof(float),
                             cudaHostAllocDefault));
    std::lock_guard<std::mutex> lock(pool->mu);
    pool->held += n * sizeof(float);
    pool->peak = std::max(pool->peak, pool->held);
  }
  return std::shared_ptr<float>(p, [pool, n](float* q) { pool->release(q, n); });
}

size_t PinnedPool::held_bytes() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->held;
}

size_t PinnedPool::peak_bytes() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->peak;
}

void queue_copy_to_host(float* dst, const float* src, size_t n, int device, void* stream) {
  if (n == 0) return;
  ScopedDevice on_device(device);
  CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToHost,
                             static_cast<cudaStream_t>(stream)));
}

void DeviceResults::drain(void* producer) {
  ScopedDevice on_device(impl_->device);
  if (producer != nullptr) CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(producer)));
  impl_->ctx->synchronize();
}

std::function<CloudStats()> queue_cloud_stats_on_device(const float* x, const CloudDims& d,
                                                        const StatsPlan& plan, DeviceResults& results) {
  check_dims(d, "queue_cloud_stats_on_device");
  check_heads(plan.position_heads, d, "position_heads");
  check_heads(plan.entropy_heads, d, "entropy_heads");
  if (cloud_elems(d) > 0 && x == nullptr)
    throw std::invalid_argument("queue_cloud_stats_on_device: null cloud");
  ScopedDevice on_device(results.device());
  DeviceResults::Slot slot;
  double* out = results.reserve(stats_layout(d, plan).total, &slot);
  launch_stats(x, d, plan, out, thread_gpu_context(results.device()).stream());
  return [&results, slot, d, plan] { return read_stats(results.host(slot), d, plan); };
}

std::function<std::vector<double>()> queue_kv_cka_on_device(const float* k, const float* v,
                                                            const CloudDims& d, DeviceResults& results) {
  check_dims(d, "queue_kv_cka_on_device");
  if (cloud_elems(d) > 0 && (k == nullptr || v == nullptr))
    throw std::invalid_argument("queue_kv_cka_on_device: null cloud");
  const size_t n = static_cast<size_t>(d.layers) * d.heads;
  if (n == 0) return [] { return std::vector<double>(); };
  ScopedDevice on_device(results.device());
  GpuContext& ctx = thread_gpu_context(results.device());
  DeviceResults::Slot slot;
  double* out = results.reserve(n, &slot);
  launch_kv_cka(ctx.cublas(), k, v, static_cast<int64_t>(n), d.head_elems(), d.seq, d.head_dim, out,
                ctx.stream());
  return [&results, slot, n] {
    const double* h = results.host(slot);
    return std::vector<double>(h, h + n);
  };
}

std::function<double()> queue_layer_alignment_pair(const float* prev, const float* cur, int heads, int64_t n,
                                                   bool seed_f32_mean, DeviceResults& results) {
  if (heads <= 0 || n <= 0) return [] { return 0.0; };
  if (prev == nullptr || cur == nullptr)
    throw std::invalid_argument("queue_layer_alignment_pair: null cloud");
  ScopedDevice on_device(results.device());
  DeviceResults::Slot slot;
  double* out = results.reserve(1, &slot);
  launch_alignment_pair(prev, cur, heads, n, seed_f32_mean, out,
                        thread_gpu_context(results.device()).stream());
  return [&results, slot] { return *results.host(slot); };
}

}  // namespace qk
