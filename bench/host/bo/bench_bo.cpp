// Google Benchmark of the Bone-Orientation metric set (qk::analyse_bo) and of the CPU
// ops under it, on synthetic K (and V) snapshots of three model shapes.
//
// Names: bo/<shape>/S:<seq>/<cpu|cuda>/<k|kv>       analyse_bo end to end (cuda: with upload)
//        kernels/<shape>/S:<seq>/cuda/<k|kv>         the kernels alone, input already on device
//        kernel/<family>/<shape>/S:<seq>/cuda        one kernel family over the whole device
//                                                     cloud, with its least bytes and FLOPs
//                                                     (docs/benchmarks.md, "Cost model")
//        op/<op>/<shape>/S:<seq>                      one CPU twin over the whole K cloud
//                                                     (kv_cka: K and V), as analyse_bo calls it
// Filter with --benchmark_filter, e.g. 'bo/.*/cpu/' or 'S:(128|1024)/'.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "bo/bo_metrics.hpp"
#include "bo/gpu_stats.hpp"
#include "ops/head_gram_cpu.hpp"
#include "ops/kv_cka_cpu.hpp"
#include "ops/layer_alignment_cpu.hpp"
#include "ops/magnitude_entropy_cpu.hpp"
#include "ops/position_cosine_cpu.hpp"
#include "snapshot.hpp"

#if defined(QK_BENCH_KERNELS)
#include <cuda_runtime_api.h>

#include "attention_stats.cuh"
#include "gpu_context.hpp"
#include "head_gram.cuh"
#include "kv_cka.cuh"
#include "layer_alignment.cuh"
#include "magnitude_entropy.cuh"
#include "position_cosine.cuh"
#endif

namespace {

using qk::bench::skip_without_gpu;

// KV-cache geometry of a model: K is [layers][kv_heads][seq][head_dim]; q_heads query
// heads share them (the attention statistics read q).
struct ModelShape {
  const char* name;
  int layers;
  int kv_heads;
  int64_t head_dim;
  int q_heads;
};

constexpr ModelShape kShapes[] = {
    {"Gemma3-1B", 26, 1, 256, 4},
    {"Gemma3-4B", 34, 4, 256, 8},
    {"Qwen3-4B", 36, 8, 128, 32},
};
constexpr int64_t kSeqs[] = {128, 1024, 8192};

constexpr double kLockThreshold = 0.7;  // the seed's coherenceThreshold

// The seed's switch: position-wise ("GQA") analysis when kv_heads <= 4.
bool position_mode(const ModelShape& m) { return m.kv_heads <= 4; }

std::string case_name(const ModelShape& m, int64_t seq) {
  return std::string(m.name) + "/S:" + std::to_string(seq);
}

// xoshiro256** seeded through splitmix64; normals by Box-Muller.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (auto& s : s_) s = splitmix(seed);
  }
  uint64_t next() {
    const uint64_t r = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return r;
  }
  // Uniform in (0, 1).
  double uniform() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; }
  // Standard normal.
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double r = std::sqrt(-2.0 * std::log(uniform()));
    const double t = 6.283185307179586 * uniform();
    spare_ = r * std::sin(t);
    has_spare_ = true;
    return r * std::cos(t);
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t splitmix(uint64_t& x) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t s_[4]{};
  double spare_ = 0;
  bool has_spare_ = false;
};

// Random unit vector of length n.
std::vector<double> unit_vector(Rng& rng, int64_t n) {
  std::vector<double> v(n);
  double ss = 0;
  for (auto& x : v) {
    x = rng.normal();
    ss += x * x;
  }
  for (auto& x : v) x /= std::sqrt(ss);
  return v;
}

// Synthetic post-RoPE-like clouds, [layers][heads][seq][dim] f32 each. Per position i
// of head (l, h):  k_i = s_i (a_l m_lh + z_i B_lh + 0.5 e_i),
//                  v_i = t_i (0.3 n_lh + (0.7 z_i + 0.7 y_i) C_lh + 0.5 f_i),
// with m_lh a shared direction plus a layer random walk plus a head part, z_i, y_i
// rank-16 latents (|z B| ~ 1), e_i, f_i unit-scale noise, s_i, t_i log-normal position
// magnitudes with a large first ("sink") position. Position cosines straddle 0.3 and
// differ across layers, so every metric has something to measure.
// The per-(layer, head) key means and per-layer amplitudes of make_clouds: a shared unit
// direction, plus 0.6 x a per-layer random walk, plus 0.4 x a per-head direction.
struct CloudMeans {
  std::vector<std::vector<double>> mean;  // [L * H][d]
  std::vector<double> amp;                // [L]
};

CloudMeans cloud_means(int L, int H, int64_t d, uint64_t seed) {
  CloudMeans c{std::vector<std::vector<double>>(static_cast<size_t>(L) * H), std::vector<double>(L)};
  Rng top(seed);
  const std::vector<double> shared = unit_vector(top, d);
  std::vector<double> drift = unit_vector(top, d);
  for (int l = 0; l < L; ++l) {
    const std::vector<double> step = unit_vector(top, d);
    double ss = 0;
    for (int64_t e = 0; e < d; ++e) {
      drift[e] += 0.5 * step[e];
      ss += drift[e] * drift[e];
    }
    for (auto& x : drift) x /= std::sqrt(ss);
    c.amp[l] = std::max(0.2, 0.75 + 0.3 * std::sin(0.7 * l) + 0.1 * top.normal());
    for (int h = 0; h < H; ++h) {
      const std::vector<double> own = unit_vector(top, d);
      auto& mean = c.mean[static_cast<size_t>(l) * H + h];
      mean.resize(d);
      for (int64_t e = 0; e < d; ++e) mean[e] = shared[e] + 0.6 * drift[e] + 0.4 * own[e];
    }
  }
  return c;
}

// One position of a head: the noise around the means, then the rank-16 latents through
// the head's bases, then the position magnitudes s (k) and t (v). ki, vi: [d].
void fill_position(Rng& rng, const std::vector<double>& kmean, const std::vector<double>& vmean, double amp,
                   const std::vector<float>& basis_k, const std::vector<float>& basis_v, bool sink_pos,
                   float* ki, float* vi) {
  const int64_t d = static_cast<int64_t>(kmean.size()), rank = static_cast<int64_t>(basis_k.size()) / d;
  const double zscale = 1.0 / std::sqrt(static_cast<double>(rank));
  const double escale = 0.5 / std::sqrt(static_cast<double>(d));
  std::vector<float> z(rank), y(rank);
  for (int64_t r = 0; r < rank; ++r) {
    z[r] = static_cast<float>(zscale * rng.normal());
    y[r] = static_cast<float>(zscale * rng.normal());
  }
  const float s = static_cast<float>((sink_pos ? 6.0 : 1.0) * std::exp(0.3 * rng.normal()));
  const float t = static_cast<float>(std::exp(0.3 * rng.normal()));
  for (int64_t e = 0; e < d; ++e) {
    ki[e] = static_cast<float>(amp * kmean[e] + escale * rng.normal());
    vi[e] = static_cast<float>(0.3 * vmean[e] + escale * rng.normal());
  }
  for (int64_t r = 0; r < rank; ++r) {
    const float* bk = basis_k.data() + r * d;
    const float* bv = basis_v.data() + r * d;
    const float zr = z[r], wr = 0.7f * (z[r] + y[r]);
    for (int64_t e = 0; e < d; ++e) {
      ki[e] += zr * bk[e];
      vi[e] += wr * bv[e];
    }
  }
  for (int64_t e = 0; e < d; ++e) {
    ki[e] *= s;
    vi[e] *= t;
  }
}

void make_clouds(const ModelShape& m, int64_t seq, uint64_t seed, qk::Tensor4f& k, qk::Tensor4f& v) {
  const int L = m.layers, H = m.kv_heads;
  const int64_t d = m.head_dim, rank = 16;
  k.shape = {L, H, seq, d};
  v.shape = k.shape;
  k.data.assign(static_cast<size_t>(k.numel()), 0.0f);
  v.data.assign(static_cast<size_t>(v.numel()), 0.0f);
  const CloudMeans means = cloud_means(L, H, d, seed);

  auto fill_head = [&](int64_t lh) {
    Rng rng(seed ^ (0x5851F42D4C957F2Dull * static_cast<uint64_t>(lh + 1)));
    std::vector<float> basis_k(rank * d), basis_v(rank * d);
    const double bscale = 1.0 / std::sqrt(static_cast<double>(d));
    for (auto& b : basis_k) b = static_cast<float>(bscale * rng.normal());
    for (auto& b : basis_v) b = static_cast<float>(bscale * rng.normal());
    const std::vector<double> vmean = unit_vector(rng, d);
    for (int64_t i = 0; i < seq; ++i)
      fill_position(rng, means.mean[lh], vmean, means.amp[lh / H], basis_k, basis_v, i == 0,
                    k.data.data() + (lh * seq + i) * d, v.data.data() + (lh * seq + i) * d);
  };

  const int64_t heads_total = static_cast<int64_t>(L) * H;
  const int nthreads =
      static_cast<int>(std::min<int64_t>(heads_total, std::max(1u, std::thread::hardware_concurrency())));
  std::vector<std::thread> pool;
  for (int t = 0; t < nthreads; ++t) {
    pool.emplace_back([&, t] {
      for (int64_t lh = t; lh < heads_total; lh += nthreads) fill_head(lh);
    });
  }
  for (auto& th : pool) th.join();
}

// One cached snapshot (the most recent shape and seq); V is kept aside and attached
// only for the k+v benchmarks, so k-only and k+v cases share one generation.
struct SnapshotCache {
  std::string key;
  qk::Snapshot snap;
  std::optional<qk::Tensor4f> spare_v;
};

SnapshotCache& cache() {
  static SnapshotCache c;
  return c;
}

qk::Snapshot& snapshot_for(const ModelShape& m, int64_t seq, bool with_v) {
  SnapshotCache& c = cache();
  const std::string key = case_name(m, seq);
  if (c.key != key) {
    c.key.clear();
    c.snap = qk::Snapshot{};
    c.spare_v.reset();
    qk::Tensor4f k, v;
    make_clouds(m, seq, 0xB0E5EEDull + static_cast<uint64_t>(seq) * 131 + m.layers, k, v);
    c.snap.path = "synthetic:" + key;
    c.snap.k = std::move(k);
    c.spare_v = std::move(v);
    c.key = key;
  }
  if (with_v != c.snap.v.has_value()) c.snap.v.swap(c.spare_v);
  return c.snap;
}

// Position pairs of one cloud that the default position-wise mode reduces.
double position_pairs(const ModelShape& m, int64_t seq) {
  if (!position_mode(m)) return 0;
  return static_cast<double>(m.layers) * m.kv_heads * 0.5 * static_cast<double>(seq) *
         static_cast<double>(seq - 1);
}

double cloud_bytes(const ModelShape& m, int64_t seq) {
  return static_cast<double>(m.layers) * m.kv_heads * seq * m.head_dim * sizeof(float);
}

// Conservative CPU seconds of one analyse_bo call on 2 cores (fp32 GEMM at 60 GFLOP/s;
// about 140 measured), used only to run the slow cases once.
double cpu_seconds_estimate(const ModelShape& m, int64_t seq, bool with_v) {
  const double clouds = with_v ? 2.0 : 1.0;
  return clouds * (2.0 * position_pairs(m, seq) * m.head_dim / 60e9 + cloud_bytes(m, seq) / 1e9);
}

void add_counters(benchmark::State& state, const ModelShape& m, int64_t seq, double clouds, bool pairs) {
  if (pairs && position_mode(m)) qk::bench::set_rate(state, "pairs/s", clouds * position_pairs(m, seq));
  state.SetBytesProcessed(static_cast<int64_t>(clouds * cloud_bytes(m, seq)) * state.iterations());
}

// analyse_bo end to end on a host snapshot (cuda: includes the host->device copy).
void bm_analyse_bo(benchmark::State& state, ModelShape m, int64_t seq, std::string device, bool with_v) {
  if (device != "cpu" && skip_without_gpu(state)) return;
  const qk::Snapshot& snap = snapshot_for(m, seq, with_v);
  qk::BoOptions opts;
  opts.device = device;
  try {
    qk::BoResult r;
    if (device != "cpu") r = qk::analyse_bo(snap, opts);  // context and first-launch warm-up
    for (auto _ : state) {
      r = qk::analyse_bo(snap, opts);
      benchmark::DoNotOptimize(r.composite_exact);
    }
    state.SetLabel(r.backend + (r.gqa ? " position" : " multi-head") +
                   " composite=" + std::to_string(r.composite));
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  add_counters(state, m, seq, with_v ? 2.0 : 1.0, true);
}

void bm_position_cosine(benchmark::State& state, ModelShape m, int64_t seq) {
  const qk::Tensor4f& k = snapshot_for(m, seq, false).k;
  const int64_t count = static_cast<int64_t>(m.layers) * m.kv_heads;
  std::vector<double> sum_cos(count);
  std::vector<uint64_t> below(count);
  for (auto _ : state) {
    qk::position_cosine_cpu(k.data.data(), count, seq * m.head_dim, seq, m.head_dim, 1.0 - kLockThreshold,
                            sum_cos.data(), below.data());
    benchmark::DoNotOptimize(sum_cos.data());
    benchmark::DoNotOptimize(below.data());
  }
  add_counters(state, m, seq, 1.0, true);
}

void bm_magnitude_entropy(benchmark::State& state, ModelShape m, int64_t seq) {
  const qk::Tensor4f& k = snapshot_for(m, seq, false).k;
  const int64_t count = static_cast<int64_t>(m.layers) * m.kv_heads;
  std::vector<double> entropy(count);
  for (auto _ : state) {
    qk::magnitude_entropy_cpu(k.data.data(), count, seq * m.head_dim, seq, m.head_dim, entropy.data());
    benchmark::DoNotOptimize(entropy.data());
  }
  add_counters(state, m, seq, 1.0, false);
}

void bm_head_gram(benchmark::State& state, ModelShape m, int64_t seq) {
  const qk::Tensor4f& k = snapshot_for(m, seq, false).k;
  std::vector<double> gram(static_cast<size_t>(m.layers) * m.kv_heads * m.kv_heads);
  for (auto _ : state) {
    qk::head_gram_cpu(k.data.data(), m.layers, m.kv_heads, seq * m.head_dim, gram.data());
    benchmark::DoNotOptimize(gram.data());
  }
  add_counters(state, m, seq, 1.0, false);
}

void bm_layer_alignment(benchmark::State& state, ModelShape m, int64_t seq) {
  const qk::Tensor4f& k = snapshot_for(m, seq, false).k;
  std::vector<double> cos(std::max(1, m.layers - 1));
  for (auto _ : state) {
    qk::layer_alignment_cpu(k.data.data(), m.layers, m.kv_heads, seq * m.head_dim, false, cos.data());
    benchmark::DoNotOptimize(cos.data());
  }
  add_counters(state, m, seq, 1.0, false);
}

void bm_kv_cka(benchmark::State& state, ModelShape m, int64_t seq) {
  const qk::Snapshot& snap = snapshot_for(m, seq, true);
  const int64_t count = static_cast<int64_t>(m.layers) * m.kv_heads;
  std::vector<double> cka(count);
  for (auto _ : state) {
    qk::kv_cka_cpu(snap.k.data.data(), snap.v->data.data(), count, seq * m.head_dim, seq, m.head_dim,
                   cka.data());
    benchmark::DoNotOptimize(cka.data());
  }
  add_counters(state, m, seq, 2.0, false);
}

#if defined(QK_BENCH_KERNELS)
// H200 SXM peaks (datasheet, dense): HBM3e bytes/s; FP32 and FP64 on the CUDA cores;
// FP64 on the tensor cores (cuBLAS DGEMM). The kernel cases report against these.
constexpr double kHbmBytesPerS = 4.8e12;
constexpr double kFp32FlopPerS = 67e12;
constexpr double kFp64FlopPerS = 34e12;
constexpr double kFp64TensorFlopPerS = 67e12;

enum class Family { PositionCosine, HeadGram, MagnitudeEntropy, LayerAlignment, KvCka, AttentionStats };

constexpr Family kFamilies[] = {Family::PositionCosine, Family::HeadGram, Family::MagnitudeEntropy,
                                Family::LayerAlignment, Family::KvCka,    Family::AttentionStats};

const char* family_name(Family f) {
  switch (f) {
    case Family::PositionCosine:
      return "position_cosine";
    case Family::HeadGram:
      return "head_gram";
    case Family::MagnitudeEntropy:
      return "magnitude_entropy";
    case Family::LayerAlignment:
      return "layer_alignment";
    case Family::KvCka:
      return "kv_cka";
    case Family::AttentionStats:
      return "attention_stats";
  }
  return "?";
}

// The least work of a kernel (or of several run one after the other): bytes read from
// device memory (every input once), FLOPs of its defining arithmetic, and the lower bound
// on its time, the larger of bytes / HBM bandwidth and FLOPs / the peak of its units
// (summed over kernels run in turn).
struct KernelCost {
  double bytes = 0, flop = 0, bound_s = 0, peak = 0;  // peak: FLOP/s (0: a sum of kernels)
  KernelCost& operator+=(const KernelCost& o) {
    bytes += o.bytes;
    flop += o.flop;
    bound_s += o.bound_s;
    peak = 0;
    return *this;
  }
};

KernelCost cost(double bytes, double flop, double peak) {
  return {bytes, flop, std::max(bytes / kHbmBytesPerS, flop / peak), peak};
}

// Family f over every layer and KV head of m at seq (cloud: [layers][kv_heads][seq][dim]).
KernelCost family_cost(Family f, const ModelShape& m, int64_t seq) {
  const double s = static_cast<double>(seq), d = static_cast<double>(m.head_dim), layers = m.layers;
  const double heads = static_cast<double>(m.layers) * m.kv_heads, cloud = cloud_bytes(m, seq);
  switch (f) {
    case Family::PositionCosine:  // an fp32 dot product (2d FLOPs) per position pair i < j
      return cost(cloud, heads * s * (s - 1) * d, kFp32FlopPerS);
    case Family::HeadGram:  // kv_heads^2 fp64 products of length seq*dim per layer
      return cost(cloud, 2.0 * layers * m.kv_heads * m.kv_heads * s * d, kFp64FlopPerS);
    case Family::MagnitudeEntropy:  // a square-add per element (row norms, fp64)
      return cost(cloud, 2.0 * heads * s * d, kFp64FlopPerS);
    case Family::LayerAlignment:  // head-mean sums, then two dot products per layer pair
      return cost(cloud, heads * s * d + 4.0 * layers * s * d, kFp64FlopPerS);
    case Family::KvCka:  // K^T K, K^T V, V^T V: three dim x dim Grams over seq rows (DGEMM)
      return cost(2.0 * cloud, 3.0 * 2.0 * heads * s * d * d, kFp64TensorFlopPerS);
    case Family::AttentionStats:  // q.k (2d FLOPs) over the causal pairs j <= i, each q head
      return cost(layers * (m.q_heads + m.kv_heads) * s * d * sizeof(float),
                  layers * m.q_heads * s * (s + 1) / 2 * 2.0 * d, kFp32FlopPerS);
  }
  return {};
}

// One kernel of analyse_bo's default plan: its family and whether it reads the V cloud.
struct PlanStep {
  Family family;
  bool on_v;
};

// The default plan: position cosine and entropy (position mode) or head Gram, alignment and
// entropy (multi-head) on K, and with V its position cosine or head Gram and the K-V CKA.
std::vector<PlanStep> plan_steps(const ModelShape& m, bool with_v) {
  const Family pairwise = position_mode(m) ? Family::PositionCosine : Family::HeadGram;
  std::vector<PlanStep> steps = {{pairwise, false}, {Family::MagnitudeEntropy, false}};
  if (!position_mode(m)) steps.push_back({Family::LayerAlignment, false});
  if (with_v) {
    steps.push_back({pairwise, true});
    steps.push_back({Family::KvCka, false});
  }
  return steps;
}

KernelCost plan_cost(const ModelShape& m, int64_t seq, bool with_v) {
  KernelCost c;
  for (const PlanStep& step : plan_steps(m, with_v)) c += family_cost(step.family, m, seq);
  return c;
}

// Counters of `c` done once per `seconds` (the measured mean time of one iteration): its
// bytes and FLOPs, the rates GB/s and TFLOP/s, HBM% (of 4.8 TB/s), peak% (of its units'
// peak, single families), bound_ms (the lower bound) and bound% (bound / measured time).
void add_cost_counters(benchmark::State& state, const KernelCost& c, double seconds) {
  state.counters["GB"] = c.bytes / 1e9;
  state.counters["GFLOP"] = c.flop / 1e9;
  state.counters["bound_ms"] = 1e3 * c.bound_s;
  if (seconds <= 0) return;
  state.counters["GB/s"] = c.bytes / seconds / 1e9;
  state.counters["TFLOP/s"] = c.flop / seconds / 1e12;
  state.counters["HBM%"] = 100.0 * c.bytes / seconds / kHbmBytesPerS;
  if (c.peak > 0) state.counters["peak%"] = 100.0 * c.flop / seconds / c.peak;
  state.counters["bound%"] = 100.0 * c.bound_s / seconds;
}

// Runs `once` (queues work and waits for it) once untimed, then once per iteration;
// returns the mean wall seconds of one timed call.
template <typename Fn>
double timed_loop(benchmark::State& state, Fn once) {
  once();
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) once();
  const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
  return state.iterations() > 0 ? dt.count() / static_cast<double>(state.iterations()) : 0.0;
}

// Device outputs of one cloud's reductions in the default mode.
struct CloudOutputs {
  qk::DeviceBuffer<double> sum_cos, entropy, gram, align;
  qk::DeviceBuffer<uint64_t> below;
  CloudOutputs(const ModelShape& m, cudaStream_t stream)
      : sum_cos(static_cast<size_t>(m.layers) * m.kv_heads, stream),
        entropy(static_cast<size_t>(m.layers) * m.kv_heads, stream),
        gram(static_cast<size_t>(m.layers) * m.kv_heads * m.kv_heads, stream),
        align(static_cast<size_t>(std::max(1, m.layers - 1)), stream),
        below(static_cast<size_t>(m.layers) * m.kv_heads, stream) {}
};

// Device clouds of a case: k, v (with_v) and q (qn values: q_heads x seq x dim, the
// first values of k, one q shared by every layer), uploaded on `stream`.
struct DeviceInput {
  qk::DeviceBuffer<float> k, v, q;
};

DeviceInput upload_input(const qk::Snapshot& snap, bool with_v, size_t qn, cudaStream_t stream) {
  const size_t numel = static_cast<size_t>(snap.k.numel());
  if (qn > numel) throw std::invalid_argument("fewer k values than one layer's q");
  DeviceInput in{qk::DeviceBuffer<float>(numel, stream), qk::DeviceBuffer<float>(with_v ? numel : 0, stream),
                 qk::DeviceBuffer<float>(qn, stream)};
  in.k.upload(snap.k.data.data(), numel);
  if (with_v) in.v.upload(snap.v->data.data(), numel);
  if (qn > 0) in.q.upload(snap.k.data.data(), qn);
  return in;
}

// Queues family f over every layer on ctx's stream: the pairwise, entropy and alignment
// reductions of cloud x into o; K-V CKA of in.k and in.v, and attention statistics of in.q
// against in.k, into `stats` (3 x layers x q_heads doubles at least).
void launch_family(Family f, const ModelShape& m, int64_t seq, const float* x, const DeviceInput& in,
                   CloudOutputs& o, double* stats, qk::GpuContext& ctx) {
  const int64_t count = static_cast<int64_t>(m.layers) * m.kv_heads, n = seq * m.head_dim;
  const cudaStream_t s = ctx.stream();
  switch (f) {
    case Family::PositionCosine:
      qk::launch_position_cosine(x, count, n, seq, m.head_dim, 1.0 - kLockThreshold, o.sum_cos.data(),
                                 o.below.data(), s);
      return;
    case Family::HeadGram:
      qk::launch_head_gram(x, m.layers, m.kv_heads, n, o.gram.data(), s);
      return;
    case Family::MagnitudeEntropy:
      qk::launch_magnitude_entropy(x, count, n, seq, m.head_dim, o.entropy.data(), s);
      return;
    case Family::LayerAlignment:
      qk::launch_layer_alignment(x, m.layers, m.kv_heads, n, false, o.align.data(), s);
      return;
    case Family::KvCka:
      qk::launch_kv_cka(ctx.cublas(), in.k.data(), in.v.data(), count, n, seq, m.head_dim, stats, s);
      return;
    case Family::AttentionStats: {
      const int64_t hq = m.q_heads, all = static_cast<int64_t>(m.layers) * hq;
      const float scale = 1.0f / std::sqrt(static_cast<float>(m.head_dim));
      for (int l = 0; l < m.layers; ++l)
        qk::launch_attention_stats(in.q.data(), in.k.data() + l * m.kv_heads * n, m.q_heads, m.kv_heads, seq,
                                   m.head_dim, scale, qk::AttentionMask::Causal, 0, stats + l * hq,
                                   stats + all + l * hq, stats + 2 * all + l * hq, s);
      return;
    }
  }
}

// The kernels of the default plan (plan_steps) on input already resident on the device (no
// upload, no result download), synchronised once per iteration.
void bm_kernels(benchmark::State& state, ModelShape m, int64_t seq, bool with_v) {
  if (skip_without_gpu(state)) return;
  const qk::Snapshot& snap = snapshot_for(m, seq, with_v);
  double seconds = 0;
  try {
    qk::GpuContext ctx(0);
    const DeviceInput in = upload_input(snap, with_v, 0, ctx.stream());
    CloudOutputs ok(m, ctx.stream()), ov(m, ctx.stream());
    qk::DeviceBuffer<double> cka(static_cast<size_t>(m.layers) * m.kv_heads, ctx.stream());
    const std::vector<PlanStep> steps = plan_steps(m, with_v);
    seconds = timed_loop(state, [&] {
      for (const PlanStep& st : steps)
        launch_family(st.family, m, seq, st.on_v ? in.v.data() : in.k.data(), in, st.on_v ? ov : ok,
                      cka.data(), ctx);
      ctx.synchronize();
    });
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  add_counters(state, m, seq, with_v ? 2.0 : 1.0, true);
  add_cost_counters(state, plan_cost(m, seq, with_v), seconds);
}

// One kernel family over the whole device cloud of m at seq (input uploaded before the
// timing), with its cost counters (family_cost).
void bm_family(benchmark::State& state, ModelShape m, int64_t seq, Family f) {
  if (skip_without_gpu(state)) return;
  const bool with_v = f == Family::KvCka;
  const qk::Snapshot& snap = snapshot_for(m, seq, with_v);
  double seconds = 0;
  try {
    qk::GpuContext ctx(0);
    const size_t qn = f == Family::AttentionStats ? static_cast<size_t>(m.q_heads * seq * m.head_dim) : 0;
    const DeviceInput in = upload_input(snap, with_v, qn, ctx.stream());
    CloudOutputs o(m, ctx.stream());
    const size_t nstats = std::max<size_t>(static_cast<size_t>(m.layers) * m.kv_heads,
                                           3 * static_cast<size_t>(m.layers) * m.q_heads);
    qk::DeviceBuffer<double> stats(nstats, ctx.stream());
    seconds = timed_loop(state, [&] {
      launch_family(f, m, seq, in.k.data(), in, o, stats.data(), ctx);
      ctx.synchronize();
    });
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  add_cost_counters(state, family_cost(f, m, seq), seconds);
}
#endif

// Single-iteration policy for the cases that take seconds.
void size_policy(benchmark::internal::Benchmark* b, double seconds) {
  b->UseRealTime()->Unit(benchmark::kMillisecond);
  if (seconds > 2.0) b->Iterations(1);
}

void register_all() {
  for (const ModelShape& m : kShapes) {
    for (const int64_t seq : kSeqs) {
      const std::string c = case_name(m, seq);
      for (const bool with_v : {false, true}) {
        const std::string kv = with_v ? "kv" : "k";
        size_policy(benchmark::RegisterBenchmark(("bo/" + c + "/cpu/" + kv).c_str(), bm_analyse_bo, m, seq,
                                                 std::string("cpu"), with_v),
                    cpu_seconds_estimate(m, seq, with_v));
      }
      for (const bool with_v : {false, true}) {
        const std::string kv = with_v ? "kv" : "k";
        size_policy(benchmark::RegisterBenchmark(("bo/" + c + "/cuda/" + kv).c_str(), bm_analyse_bo, m, seq,
                                                 std::string("cuda"), with_v),
                    0.0);
#if defined(QK_BENCH_KERNELS)
        size_policy(benchmark::RegisterBenchmark(("kernels/" + c + "/cuda/" + kv).c_str(), bm_kernels, m, seq,
                                                 with_v),
                    0.0);
#endif
      }
#if defined(QK_BENCH_KERNELS)
      for (const Family f : kFamilies)
        size_policy(
            benchmark::RegisterBenchmark(
                ("kernel/" + std::string(family_name(f)) + "/" + c + "/cuda").c_str(), bm_family, m, seq, f),
            0.0);
#endif
      const double one = cpu_seconds_estimate(m, seq, false);
      if (position_mode(m)) {
        size_policy(
            benchmark::RegisterBenchmark(("op/position_cosine_cpu/" + c).c_str(), bm_position_cosine, m, seq),
            one);
      } else {
        size_policy(benchmark::RegisterBenchmark(("op/head_gram_cpu/" + c).c_str(), bm_head_gram, m, seq),
                    one);
        size_policy(
            benchmark::RegisterBenchmark(("op/layer_alignment_cpu/" + c).c_str(), bm_layer_alignment, m, seq),
            one);
      }
      size_policy(benchmark::RegisterBenchmark(("op/magnitude_entropy_cpu/" + c).c_str(),
                                               bm_magnitude_entropy, m, seq),
                  one);
      size_policy(benchmark::RegisterBenchmark(("op/kv_cka_cpu/" + c).c_str(), bm_kv_cka, m, seq), one);
    }
  }
}

}  // namespace

int main(int argc, char** argv) { return qk::bench::run_main(argc, argv, register_all); }
