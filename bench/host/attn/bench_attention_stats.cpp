// Google Benchmark of the attention statistics of one layer of Qwen3-4B's shape
// (32 query heads, 8 KV heads, head_dim 128) on random q and k.
//
// Names: attn/Qwen3-4B/S:<seq>/<mask>/cpu    attention_stats_cpu (host memory)
//        attn/Qwen3-4B/S:<seq>/<mask>/cuda   launch_attention_stats, input on device
//                                            (skipped without a GPU)
// Counters: qk_pairs_per_s, the allowed (query, key) pairs per second.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "attention_mask.hpp"
#include "bo/gpu_stats.hpp"
#include "ops/attention_stats_cpu.hpp"

#if defined(QK_BENCH_KERNELS)
#include "attention_stats.cuh"
#include "gpu_context.hpp"
#endif

namespace {

constexpr int kQHeads = 32, kKvHeads = 8;
constexpr int64_t kDim = 128;
constexpr int64_t kSeqs[] = {512, 2048, 8192};

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& f : v) f = dist(gen);
  return v;
}

// Allowed (query, key) pairs of one layer: heads * sum over i of n_i.
double pairs(int64_t seq, qk::AttentionMask mask) {
  const double s = static_cast<double>(seq);
  return kQHeads * (mask == qk::AttentionMask::Full ? s * s : s * (s + 1) / 2);
}

void bm_cpu(benchmark::State& state, int64_t seq, qk::AttentionMask mask) {
  const auto q = random_floats(static_cast<size_t>(kQHeads * seq * kDim), 1);
  const auto k = random_floats(static_cast<size_t>(kKvHeads * seq * kDim), 2);
  std::vector<double> e(kQHeads), s(kQHeads), p(kQHeads);
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(kDim)));
  for (auto _ : state) {
    qk::attention_stats_cpu(q.data(), k.data(), kQHeads, kKvHeads, seq, kDim, scale, mask, 0, e.data(),
                            s.data(), p.data());
    benchmark::DoNotOptimize(e.data());
  }
  state.counters["qk_pairs_per_s"] =
      benchmark::Counter(pairs(seq, mask), benchmark::Counter::kIsIterationInvariantRate);
}

#if defined(QK_BENCH_KERNELS)
void bm_cuda(benchmark::State& state, int64_t seq, qk::AttentionMask mask) {
  std::string why;
  if (!qk::gpu_available(&why)) {
    state.SkipWithError(("no CUDA device: " + why).c_str());
    return;
  }
  qk::GpuContext ctx(0);
  const auto q = random_floats(static_cast<size_t>(kQHeads * seq * kDim), 1);
  const auto k = random_floats(static_cast<size_t>(kKvHeads * seq * kDim), 2);
  qk::DeviceBuffer<float> dq(q.size(), ctx.stream()), dk(k.size(), ctx.stream());
  qk::DeviceBuffer<double> out(3 * kQHeads, ctx.stream());
  dq.upload(q.data(), q.size());
  dk.upload(k.data(), k.size());
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(kDim)));
  for (auto _ : state) {
    qk::launch_attention_stats(dq.data(), dk.data(), kQHeads, kKvHeads, seq, kDim, scale, mask, 0, out.data(),
                               out.data() + kQHeads, out.data() + 2 * kQHeads, ctx.stream());
    ctx.synchronize();
  }
  state.counters["qk_pairs_per_s"] =
      benchmark::Counter(pairs(seq, mask), benchmark::Counter::kIsIterationInvariantRate);
}
#endif

void register_all() {
  for (int64_t seq : kSeqs) {
    const std::string base = "attn/Qwen3-4B/S:" + std::to_string(seq) + "/causal/";
    auto* b = benchmark::RegisterBenchmark((base + "cpu").c_str(), bm_cpu, seq, qk::AttentionMask::Causal);
    b->Unit(benchmark::kMillisecond)->UseRealTime();
    if (seq >= 8192) b->Iterations(1);
#if defined(QK_BENCH_KERNELS)
    benchmark::RegisterBenchmark((base + "cuda").c_str(), bm_cuda, seq, qk::AttentionMask::Causal)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
#endif
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
