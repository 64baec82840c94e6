// Google Benchmark of the pentachoron volumes (Gram determinants in fp64) of random simplices
// over random f32 rows.
//
// Names: simplex/B:<simplices>/D:<dim>/cpu    simplex_volumes_cpu (host memory)
//        simplex/B:<simplices>/D:<dim>/cuda   launch_simplex_volumes, input on device
//                                             (skipped without a GPU)
// Counters: simplices_per_s.
#include <cstdint>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "simplex_cv.hpp"
#include "simplex_volume_cpu.hpp"

#if defined(QK_BENCH_KERNELS)
#include "gpu_context.hpp"
#include "simplex_volume.cuh"
#endif

namespace {

using qk::bench::random_floats;

constexpr int64_t kRows = 4096;
constexpr int64_t kCounts[] = {4096, 16384};
constexpr int64_t kDims[] = {64, 384, 1024, 4096};

void bm_cpu(benchmark::State& state, int64_t count, int64_t dim) {
  const auto rows = random_floats(static_cast<size_t>(kRows * dim), 1);
  const auto idx = qk::simplex_sample_indices(kRows, count, 2);
  std::vector<double> vol(static_cast<size_t>(count));
  for (auto _ : state) {
    qk::simplex_volumes_cpu(rows.data(), kRows, dim, idx.data(), count, vol.data());
    benchmark::DoNotOptimize(vol.data());
  }
  qk::bench::set_rate(state, "simplices_per_s", static_cast<double>(count));
}

#if defined(QK_BENCH_KERNELS)
void bm_cuda(benchmark::State& state, int64_t count, int64_t dim) {
  if (qk::bench::skip_without_gpu(state)) return;
  qk::GpuContext ctx(0);
  const auto rows = random_floats(static_cast<size_t>(kRows * dim), 1);
  const auto idx = qk::simplex_sample_indices(kRows, count, 2);
  qk::DeviceBuffer<float> drows(rows.size(), ctx.stream());
  qk::DeviceBuffer<int64_t> didx(idx.size(), ctx.stream());
  qk::DeviceBuffer<double> dvol(static_cast<size_t>(count), ctx.stream());
  drows.upload(rows.data(), rows.size());
  didx.upload(idx.data(), idx.size());
  for (auto _ : state) {
    qk::launch_simplex_volumes(drows.data(), dim, didx.data(), count, dvol.data(), ctx.stream());
    ctx.synchronize();
  }
  qk::bench::set_rate(state, "simplices_per_s", static_cast<double>(count));
}
#endif

void register_all() {
  for (int64_t count : kCounts)
    for (int64_t dim : kDims) {
      const std::string base = "simplex/B:" + std::to_string(count) + "/D:" + std::to_string(dim) + "/";
      qk::bench::register_ms(base + "cpu", bm_cpu, count, dim);
#if defined(QK_BENCH_KERNELS)
      qk::bench::register_ms(base + "cuda", bm_cuda, count, dim);
#endif
    }
}

}  // namespace

int main(int argc, char** argv) { return qk::bench::run_main(argc, argv, register_all); }
