// Google Benchmark of the attention statistics of one layer of Qwen3-4B's shape
// (32 query heads, 8 KV heads, head_dim 128) on random q and k.
//
// Names: attn/Qwen3-4B/S:<seq>/<mask>/cpu            attention_stats_cpu (host memory):
//                                                     entropy, logit std, sink mass
//        attn/Qwen3-4B/S:<seq>/<mask>/cpu+distance   the same and the distance masses
//        attn/Qwen3-4B/S:<seq>/<mask>/cuda           launch_attention_stats, input on
//                                                     device (skipped without a GPU)
// Counters: qk_pairs_per_s, the allowed (query, key) pairs per second.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "attention_mask.hpp"
#include "bench_common.hpp"
#include "online_softmax.hpp"
#include "ops/attention_stats_cpu.hpp"

#if defined(QK_BENCH_KERNELS)
#include "attention_stats.cuh"
#include "gpu_context.hpp"
#endif

namespace {

using qk::bench::random_floats;

constexpr int kQHeads = 32, kKvHeads = 8;
constexpr int64_t kDim = 128;
constexpr int64_t kSeqs[] = {512, 2048, 8192};
const float kScale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(kDim)));

// Allowed (query, key) pairs of one layer: heads * sum over i of n_i.
double pairs(int64_t seq, qk::AttentionMask mask) {
  const double s = static_cast<double>(seq);
  return kQHeads * (mask == qk::AttentionMask::Full ? s * s : s * (s + 1) / 2);
}

void bm_cpu(benchmark::State& state, int64_t seq, qk::AttentionMask mask, bool distance) {
  const auto q = random_floats(static_cast<size_t>(kQHeads * seq * kDim), 1);
  const auto k = random_floats(static_cast<size_t>(kKvHeads * seq * kDim), 2);
  std::vector<double> e(kQHeads), s(kQHeads), p(kQHeads), d(kQHeads * qk::kDistanceBuckets);
  for (auto _ : state) {
    qk::attention_stats_cpu(q.data(), k.data(), kQHeads, kKvHeads, seq, kDim, kScale, mask, 0, e.data(),
                            s.data(), p.data(), 0.0f, distance ? d.data() : nullptr);
    benchmark::DoNotOptimize(e.data());
  }
  qk::bench::set_rate(state, "qk_pairs_per_s", pairs(seq, mask));
}

#if defined(QK_BENCH_KERNELS)
void bm_cuda(benchmark::State& state, int64_t seq, qk::AttentionMask mask) {
  if (qk::bench::skip_without_gpu(state)) return;
  qk::GpuContext ctx(0);
  const auto q = random_floats(static_cast<size_t>(kQHeads * seq * kDim), 1);
  const auto k = random_floats(static_cast<size_t>(kKvHeads * seq * kDim), 2);
  qk::DeviceBuffer<float> dq(q.size(), ctx.stream()), dk(k.size(), ctx.stream());
  qk::DeviceBuffer<double> out(3 * kQHeads, ctx.stream());
  dq.upload(q.data(), q.size());
  dk.upload(k.data(), k.size());
  for (auto _ : state) {
    qk::launch_attention_stats(dq.data(), dk.data(), kQHeads, kKvHeads, seq, kDim, kScale, mask, 0,
                               out.data(), out.data() + kQHeads, out.data() + 2 * kQHeads, ctx.stream());
    ctx.synchronize();
  }
  qk::bench::set_rate(state, "qk_pairs_per_s", pairs(seq, mask));
}
#endif

void register_all() {
  for (int64_t seq : kSeqs) {
    const std::string base = "attn/Qwen3-4B/S:" + std::to_string(seq) + "/causal/";
    for (bool distance : {false, true}) {
      auto* b = qk::bench::register_ms(base + (distance ? "cpu+distance" : "cpu"), bm_cpu, seq,
                                       qk::AttentionMask::Causal, distance);
      if (seq >= 8192) b->Iterations(1);
    }
#if defined(QK_BENCH_KERNELS)
    qk::bench::register_ms(base + "cuda", bm_cuda, seq, qk::AttentionMask::Causal);
#endif
  }
}

}  // namespace

int main(int argc, char** argv) { return qk::bench::run_main(argc, argv, register_all); }
