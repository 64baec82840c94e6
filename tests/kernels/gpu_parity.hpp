#pragma once
// The GPU/CPU parity stanza of the GPU tests, written once: copies between host and device,
// a GPU launch into fresh device outputs read back to the host, the CPU twin and the GPU
// launch run on the same inputs and compared within atol + rtol |cpu|, and a determinism
// check. Device outputs are filled with NaN before a launch, so an output a launcher leaves
// unwritten fails the comparison. For tests built with CUDA; each test still starts with
// QK_REQUIRE_GPU() (require_gpu.hpp), which skips it with the reason without a device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "gpu_context.hpp"

namespace qk {

// A host array copied into a new device buffer on `stream`.
template <typename T>
DeviceBuffer<T> to_device(const std::vector<T>& h, cudaStream_t stream) {
  DeviceBuffer<T> d(h.size(), stream);
  d.upload(h.data(), h.size());
  return d;
}

// The first n elements of a device buffer, on the host.
template <typename T>
std::vector<T> to_host(const DeviceBuffer<T>& d, size_t n) {
  std::vector<T> h(n);
  d.download(h.data(), n);
  return h;
}

// The n doubles `launch(double* out)` writes to a fresh NaN-filled device buffer on
// `stream`, on the host.
template <typename Launch>
std::vector<double> gpu_outputs(size_t n, cudaStream_t stream, Launch&& launch) {
  DeviceBuffer<double> d(n, stream);
  if (n > 0) CUDA_CHECK(cudaMemsetAsync(d.data(), 0xff, d.bytes(), stream));  // all-ones bits: NaN
  launch(d.data());
  return to_host(d, n);
}

// The n doubles `fill(double* out)` writes on the host.
template <typename Fill>
std::vector<double> cpu_outputs(size_t n, Fill&& fill) {
  std::vector<double> h(n, std::nan(""));
  fill(h.data());
  return h;
}

// v[off, off + n): one head's or one block's part of a flattened output.
inline std::vector<double> slice(const std::vector<double>& v, size_t off, size_t n) {
  if (off + n > v.size()) throw std::out_of_range("slice past the end of a vector");
  return std::vector<double>(v.begin() + static_cast<std::ptrdiff_t>(off),
                             v.begin() + static_cast<std::ptrdiff_t>(off + n));
}

struct Tolerance {
  double atol = 0.0, rtol = 0.0;
};

// Every gpu[i] is finite and within atol + rtol |cpu[i]| of cpu[i]; the first five misses
// are reported, each naming `what` and the index.
inline void expect_close(const std::vector<double>& gpu, const std::vector<double>& cpu, Tolerance tol,
                         const std::string& what) {
  ASSERT_EQ(gpu.size(), cpu.size()) << what;
  int reported = 0;
  for (size_t i = 0; i < gpu.size(); ++i) {
    const double bound = tol.atol + tol.rtol * std::fabs(cpu[i]);
    const bool ok = std::isfinite(gpu[i]) && std::fabs(gpu[i] - cpu[i]) <= bound;
    if (!ok && reported++ < 5)
      ADD_FAILURE() << what << " [" << i << "]: gpu " << gpu[i] << " cpu " << cpu[i] << " |diff| "
                    << std::fabs(gpu[i] - cpu[i]) << " tol " << bound;
  }
}

// The same n outputs from the CPU twin and from the GPU.
struct CpuGpu {
  std::vector<double> cpu, gpu;
};

// `cpu(double* out)` on the host and `gpu(double* device_out)` on `stream`, n outputs each.
template <typename CpuFill, typename GpuLaunch>
CpuGpu run_cpu_gpu(size_t n, CpuFill&& cpu, GpuLaunch&& gpu, cudaStream_t stream) {
  CpuGpu r;
  r.cpu = cpu_outputs(n, std::forward<CpuFill>(cpu));
  r.gpu = gpu_outputs(n, stream, std::forward<GpuLaunch>(gpu));
  return r;
}

// run_cpu_gpu, then the GPU's outputs against the CPU's within `tol` (expect_close).
template <typename CpuFill, typename GpuLaunch>
void expect_cpu_gpu_parity(size_t n, CpuFill&& cpu, GpuLaunch&& gpu, Tolerance tol, const std::string& label,
                           cudaStream_t stream) {
  const CpuGpu r = run_cpu_gpu(n, std::forward<CpuFill>(cpu), std::forward<GpuLaunch>(gpu), stream);
  expect_close(r.gpu, r.cpu, tol, label);
}

// `launch(double* device_out)` run twice writes bitwise the same n outputs.
template <typename Launch>
void expect_gpu_deterministic(size_t n, cudaStream_t stream, Launch&& launch, const std::string& label) {
  const std::vector<double> first = gpu_outputs(n, stream, launch);
  EXPECT_EQ(first, gpu_outputs(n, stream, launch)) << label;
}

// The largest Euclidean norm of the rows of x [rows][dim].
inline double max_row_norm(const std::vector<float>& x, int64_t dim) {
  double best = 0;
  for (size_t r = 0; r * dim < x.size(); ++r) {
    double s = 0;
    for (int64_t d = 0; d < dim; ++d) s += static_cast<double>(x[r * dim + d]) * x[r * dim + d];
    best = std::max(best, std::sqrt(s));
  }
  return best;
}

// The bound on the GPU attention's fp32 logit error (docs/metrics.md): delta = head_dim
// 2^-24 scale max|q| max|k| over q [rows][dim] and k [rows][dim].
inline double logit_error_bound(const std::vector<float>& q, const std::vector<float>& k, int64_t dim,
                                float scale) {
  return static_cast<double>(dim) * 5.9604644775390625e-08 * scale * max_row_norm(q, dim) *
         max_row_norm(k, dim);
}

}  // namespace qk
