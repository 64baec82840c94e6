// GPU/CPU parity of every kernel family and of the cloud-stats dispatch: the same
// fixed-seed inputs through the CPU twin and the CUDA launcher, sums compared within
// atol + rtol*|ref| scaled with the reduction length, counts compared exactly (also
// against a brute-force count on the seed's cosine); the on-device and queued entry points
// against the upload path on clouds a slow producer stream writes. Skips without a CUDA
// device (the head Gram's CPU twin past 64 heads runs everywhere).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "attention_stats.cuh"
#include "attn/attention_stats_gpu.hpp"
#include "bo/cloud_stats.hpp"
#include "bo/gpu_stats.hpp"
#include "gpu_context.hpp"
#include "kernels/gpu_parity.hpp"
#include "head_gram.cuh"
#include "kv_cka.cuh"
#include "layer_alignment.cuh"
#include "magnitude_entropy.cuh"
#include "online_softmax.hpp"
#include "ops/attention_stats_cpu.hpp"
#include "ops/head_gram_cpu.hpp"
#include "ops/kv_cka_cpu.hpp"
#include "ops/layer_alignment_cpu.hpp"
#include "ops/magnitude_entropy_cpu.hpp"
#include "ops/multi_head_pass_cpu.hpp"
#include "ops/position_cosine_cpu.hpp"
#include "position_cosine.cuh"
#include "require_gpu.hpp"
#include "seed_math.hpp"
#include "kernels/slow_producer.hpp"
#include "test_random.hpp"

namespace qk {
namespace {

constexpr double kEps64 = 1.1102230246251565e-16;  // 2^-53

const int64_t kSeqs[] = {1, 2, 3, 7, 8, 9, 33, 64, 65, 130, 513};
const int64_t kDims[] = {1, 3, 64, 128, 256};

// n normal floats (mean `offset`, sd 1) from a fixed seed; every `zero_every`-th row of
// `row` elements (when both > 0) is set to zero.
std::vector<float> random_floats(size_t n, uint32_t seed, float offset = 0.0f, int64_t row = 0,
                                 int64_t zero_every = 0) {
  std::vector<float> v = normals<float>(n, seed, 1.0f, offset);
  if (row > 0 && zero_every > 0)
    for (size_t r = 0; r * row < n; r += static_cast<size_t>(zero_every))
      for (int64_t d = 0; d < row && r * row + d < n; ++d) v[r * row + d] = 0.0f;
  return v;
}

// Pairs i < j of matrix m [seq][dim] with seed_cosine < threshold (brute force).
uint64_t brute_force_below(const float* m, int64_t seq, int64_t dim, double threshold) {
  uint64_t n = 0;
  for (int64_t i = 0; i < seq; ++i)
    for (int64_t j = i + 1; j < seq; ++j) n += seed_cosine(m + i * dim, m + j * dim, dim) < threshold ? 1 : 0;
  return n;
}

// Gram entries (i, j) of [layers][heads][heads] within the fp64 summation bound
// 4 (n + 2) eps |x_i| |x_j| (|x_i|^2 from the CPU diagonal); symmetric, finite.
void expect_gram_close(const std::vector<double>& gpu, const std::vector<double>& cpu, int layers, int heads,
                       int64_t n, const std::string& what) {
  ASSERT_EQ(gpu.size(), cpu.size()) << what;
  for (int l = 0; l < layers; ++l)
    for (int i = 0; i < heads; ++i)
      for (int j = 0; j < heads; ++j) {
        const size_t base = static_cast<size_t>(l) * heads * heads;
        const double scale = std::sqrt(cpu[base + i * heads + i] * cpu[base + j * heads + j]);
        const double tol = 4.0 * static_cast<double>(n + 2) * kEps64 * scale + 1e-300;
        const double g = gpu[base + i * heads + j], c = cpu[base + i * heads + j];
        ASSERT_TRUE(std::isfinite(g)) << what;
        ASSERT_LE(std::fabs(g - c), tol) << what << " (" << l << "," << i << "," << j << ")";
        ASSERT_EQ(g, gpu[base + j * heads + i]) << what << " not symmetric";
      }
}

class GpuParity : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!gpu_available(&why)) GTEST_SKIP() << "no CUDA device: " << why;
    ctx_ = std::make_unique<GpuContext>(0);
  }
  cudaStream_t stream() const { return ctx_->stream(); }
  std::unique_ptr<GpuContext> ctx_;
};

TEST_F(GpuParity, HeadGram) {
  QK_REQUIRE_GPU();
  int idx = 0;
  for (int64_t seq : kSeqs)
    for (int64_t dim : kDims) {
      const int layers = 1 + idx % 4, heads = 1 + idx % 9;
      ++idx;
      const int64_t n = seq * dim;
      const auto x = random_floats(static_cast<size_t>(layers) * heads * n, 100 + idx, 0.5f, dim, 5);
      const auto dx = to_device(x, stream());
      const CpuGpu r = run_cpu_gpu(
          static_cast<size_t>(layers) * heads * heads,
          [&](double* g) { head_gram_cpu(x.data(), layers, heads, n, g); },
          [&](double* g) { launch_head_gram(dx.data(), layers, heads, n, g, stream()); }, stream());
      expect_gram_close(r.gpu, r.cpu, layers, heads, n,
                        "head_gram seq " + std::to_string(seq) + " dim " + std::to_string(dim) + " layers " +
                            std::to_string(layers) + " heads " + std::to_string(heads));
    }
}

// Head counts around the kernel's 32-head tiles, past the former 64-head limit, with odd
// element counts (tails of the 32-element chunks) and layers.
struct ManyHeads {
  int layers, heads;
  int64_t n;
};
const ManyHeads kManyHeads[] = {{2, 64, 33 * 3}, {1, 65, 7},    {3, 96, 129},
                                {2, 100, 1},     {1, 129, 255}, {1, 200, 33}};

// gram [layers][heads][heads] as the sums of products of x [layers][heads][n] in long
// double, written out here (independent of both twins).
std::vector<double> brute_force_gram(const std::vector<float>& x, int layers, int heads, int64_t n) {
  std::vector<double> g(static_cast<size_t>(layers) * heads * heads);
  for (int l = 0; l < layers; ++l)
    for (int i = 0; i < heads; ++i)
      for (int j = 0; j < heads; ++j) {
        const float* a = x.data() + (static_cast<int64_t>(l) * heads + i) * n;
        const float* b = x.data() + (static_cast<int64_t>(l) * heads + j) * n;
        long double s = 0;
        for (int64_t e = 0; e < n; ++e) s += static_cast<long double>(a[e]) * b[e];
        g[(static_cast<size_t>(l) * heads + i) * heads + j] = static_cast<double>(s);
      }
  return g;
}

// The CPU twin (the path a machine without a GPU runs) for more than 64 heads against the
// brute-force sums; runs without a device.
TEST(HeadGramCpuTwin, ManyHeadsEqualBruteForce) {
  for (const ManyHeads& c : kManyHeads) {
    const auto x = random_floats(static_cast<size_t>(c.layers) * c.heads * c.n, 600 + c.heads, 0.5f);
    std::vector<double> cpu(static_cast<size_t>(c.layers) * c.heads * c.heads);
    head_gram_cpu(x.data(), c.layers, c.heads, c.n, cpu.data());
    expect_gram_close(cpu, brute_force_gram(x, c.layers, c.heads, c.n), c.layers, c.heads, c.n,
                      "head_gram_cpu " + std::to_string(c.heads) + " heads");
  }
}

// The multi-head BO mode's CPU pass (compute_cloud_stats_cpu with head Gram, alignment and
// every head's entropy: the fused multi_head_pass_cpu) past 64 heads: its Gram against
// the brute-force sums; runs without a device.
TEST(HeadGramCpuTwin, MultiHeadPlanPastSixtyFourHeads) {
  for (const CloudDims& d : {CloudDims{2, 70, 9, 7}, CloudDims{1, 129, 5, 51}}) {
    StatsPlan plan;
    plan.head_gram = true;
    plan.layer_alignment = true;
    plan.entropy_heads = d.heads;
    const auto x = random_floats(static_cast<size_t>(d.layers) * d.heads * d.head_elems(), 700 + d.heads);
    const CloudStats s = compute_cloud_stats_cpu(x.data(), d, plan);
    expect_gram_close(s.head_gram, brute_force_gram(x, d.layers, d.heads, d.head_elems()), d.layers, d.heads,
                      d.head_elems(), "multi-head plan " + std::to_string(d.heads) + " heads");
    EXPECT_EQ(s.entropy.size(), static_cast<size_t>(d.layers) * d.heads);
  }
}

TEST_F(GpuParity, HeadGramManyHeads) {
  QK_REQUIRE_GPU();
  for (const ManyHeads& c : kManyHeads) {
    const auto x = random_floats(static_cast<size_t>(c.layers) * c.heads * c.n, 600 + c.heads, 0.5f);
    const auto dx = to_device(x, stream());
    const CpuGpu r = run_cpu_gpu(
        static_cast<size_t>(c.layers) * c.heads * c.heads,
        [&](double* g) { head_gram_cpu(x.data(), c.layers, c.heads, c.n, g); },
        [&](double* g) { launch_head_gram(dx.data(), c.layers, c.heads, c.n, g, stream()); }, stream());
    expect_gram_close(r.gpu, r.cpu, c.layers, c.heads, c.n,
                      "head_gram " + std::to_string(c.heads) + " heads");
  }
}

TEST_F(GpuParity, HeadGramManyHeadsDeterministic) {
  QK_REQUIRE_GPU();
  const int layers = 2, heads = 130;
  const int64_t n = 65 * 128 + 3;
  const auto x = random_floats(static_cast<size_t>(layers) * heads * n, 13);
  const auto dx = to_device(x, stream());
  expect_gpu_deterministic(
      static_cast<size_t>(layers) * heads * heads, stream(),
      [&](double* g) { launch_head_gram(dx.data(), layers, heads, n, g, stream()); }, "head_gram 130 heads");
}

TEST_F(GpuParity, HeadGramArgumentChecks) {
  QK_REQUIRE_GPU();
  DeviceBuffer<double> g(4, stream());
  DeviceBuffer<float> x(8, stream());
  EXPECT_THROW(launch_head_gram(x.data(), -1, 2, 2, g.data(), stream()), std::invalid_argument);
  EXPECT_THROW(launch_head_gram(x.data(), 1, -2, 2, g.data(), stream()), std::invalid_argument);
  EXPECT_THROW(launch_head_gram(x.data(), 1, 2, -2, g.data(), stream()), std::invalid_argument);
  EXPECT_THROW(launch_head_gram(nullptr, 1, 2, 4, g.data(), stream()), std::invalid_argument);
  EXPECT_THROW(launch_head_gram(x.data(), 1, 2, 4, nullptr, stream()), std::invalid_argument);
  EXPECT_THROW(launch_head_gram(x.data(), 1, 800000, 1, g.data(), stream()), std::invalid_argument);
  EXPECT_NO_THROW(launch_head_gram(nullptr, 0, 2, 4, nullptr, stream()));
  // n = 0: a zero Gram, written.
  EXPECT_EQ(gpu_outputs(4, stream(), [&](double* out) { launch_head_gram(nullptr, 1, 2, 0, out, stream()); }),
            std::vector<double>(4, 0.0));
}

TEST_F(GpuParity, HeadGramDeterministic) {
  QK_REQUIRE_GPU();
  const int layers = 3, heads = 9;
  const int64_t n = 513 * 128;
  const auto x = random_floats(static_cast<size_t>(layers) * heads * n, 11);
  const auto dx = to_device(x, stream());
  expect_gpu_deterministic(
      static_cast<size_t>(layers) * heads * heads, stream(),
      [&](double* g) { launch_head_gram(dx.data(), layers, heads, n, g, stream()); }, "head_gram");
}

// Runs position_cosine on both sides for `count` matrices at `stride` and checks sums,
// exact counts, and the counts against a brute-force seed count.
void check_position_cosine(cudaStream_t stream, const std::vector<float>& x, int64_t count, int64_t stride,
                           int64_t seq, int64_t dim, double threshold, const std::string& what) {
  std::vector<double> cpu_sum(static_cast<size_t>(count));
  std::vector<uint64_t> cpu_below(static_cast<size_t>(count));
  position_cosine_cpu(x.data(), count, stride, seq, dim, threshold, cpu_sum.data(), cpu_below.data());
  auto dx = to_device(x, stream);
  DeviceBuffer<double> dsum(static_cast<size_t>(count), stream);
  DeviceBuffer<uint64_t> dbelow(static_cast<size_t>(count), stream);
  launch_position_cosine(dx.data(), count, stride, seq, dim, threshold, dsum.data(), dbelow.data(), stream);
  const auto gpu_sum = to_host(dsum, static_cast<size_t>(count));
  const auto gpu_below = to_host(dbelow, static_cast<size_t>(count));
  // |sum_i u_i|^2 reaches seq^2 and is formed over seq * dim terms.
  const double atol = 64.0 * kEps64 * static_cast<double>(seq) * seq * std::sqrt(dim + 1.0);
  expect_close(gpu_sum, cpu_sum, {atol + 1e-12, 1e-12}, what + " sum_cos");
  for (int64_t c = 0; c < count; ++c) {
    EXPECT_EQ(gpu_below[c], cpu_below[c]) << what << " below, matrix " << c;
    EXPECT_EQ(gpu_below[c], brute_force_below(x.data() + c * stride, seq, dim, threshold))
        << what << " below vs brute force, matrix " << c;
  }
}

TEST_F(GpuParity, PositionCosineGrid) {
  QK_REQUIRE_GPU();
  int idx = 0;
  for (int64_t seq : kSeqs)
    for (int64_t dim : kDims) {
      const int64_t count = 1 + idx % 9;
      ++idx;
      // Every third grid point uses a stride larger than one matrix (a head subset).
      const int64_t stride = seq * dim * (idx % 3 == 0 ? 2 : 1);
      const auto x =
          random_floats(static_cast<size_t>(count * stride), 200 + idx, idx % 2 ? 0.3f : 0.0f, dim, 7);
      const std::string what =
          "seq " + std::to_string(seq) + " dim " + std::to_string(dim) + " count " + std::to_string(count);
      check_position_cosine(stream(), x, count, stride, seq, dim, 0.3, what);
      if (idx % 4 == 0)
        check_position_cosine(stream(), x, count, stride, seq, dim, 1.0 - 0.7, what + " 1-0.7");
    }
}

// Rows whose pairwise cosines sit within ~1e-7 of 0.3: x_i = r_i (c_i e_0 + s_i w_i)
// with c_i = sqrt(0.3) (1 + eps_i), |eps_i| <= 2e-7, s_i = sqrt(1 - c_i^2), w_i one of
// dim-1 orthonormal directions orthogonal to e_0 (rows sharing a direction are nearly
// parallel), every 17th row zero; then two Householder reflections mix all coordinates
// (fp64) before rounding to f32.
std::vector<float> near_threshold_rows(int64_t seq, int64_t dim, uint32_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> eps(-2e-7, 2e-7), scale(0.5, 2.0), gauss(-1.0, 1.0);
  std::vector<double> rows(static_cast<size_t>(seq * dim), 0.0);
  for (int64_t i = 0; i < seq; ++i) {
    if (i % 17 == 16) continue;
    const double c = std::sqrt(0.3) * (1.0 + eps(gen));
    const double s = std::sqrt(1.0 - c * c), r = scale(gen);
    rows[i * dim] = r * c;
    rows[i * dim + 1 + i % (dim - 1)] = r * s;
  }
  for (int reflection = 0; reflection < 2; ++reflection) {
    std::vector<double> v(static_cast<size_t>(dim));
    double nn = 0.0;
    for (double& e : v) {
      e = gauss(gen);
      nn += e * e;
    }
    for (double& e : v) e /= std::sqrt(nn);
    for (int64_t i = 0; i < seq; ++i) {
      double dot = 0.0;
      for (int64_t d = 0; d < dim; ++d) dot += rows[i * dim + d] * v[d];
      for (int64_t d = 0; d < dim; ++d) rows[i * dim + d] -= 2.0 * dot * v[d];
    }
  }
  std::vector<float> out(rows.size());
  for (size_t k = 0; k < rows.size(); ++k) out[k] = static_cast<float>(rows[k]);
  return out;
}

TEST_F(GpuParity, PositionCosineNearThreshold) {
  QK_REQUIRE_GPU();
  struct Case {
    int64_t seq, dim;
  };
  for (const Case& cs : {Case{200, 256}, Case{130, 131}, Case{513, 64}, Case{65, 3}}) {
    const auto x = near_threshold_rows(cs.seq, cs.dim, 4242 + cs.seq);
    uint64_t near = 0;
    const double margin = fp32_unit_dot_error_bound(cs.dim);
    for (int64_t i = 0; i < cs.seq; ++i)
      for (int64_t j = i + 1; j < cs.seq; ++j)
        near += std::fabs(seed_cosine(x.data() + i * cs.dim, x.data() + j * cs.dim, cs.dim) - 0.3) <= margin
                    ? 1
                    : 0;
    if (cs.dim > 3) {
      EXPECT_GT(near, 1000u) << "construction should put many pairs near 0.3";
    }
    const std::string what =
        "near-threshold seq " + std::to_string(cs.seq) + " dim " + std::to_string(cs.dim);
    check_position_cosine(stream(), x, 1, cs.seq * cs.dim, cs.seq, cs.dim, 0.3, what);
    check_position_cosine(stream(), x, 1, cs.seq * cs.dim, cs.seq, cs.dim, 1.0 - 0.7, what + " 1-0.7");
  }
}

TEST_F(GpuParity, PositionCosineZeroRowsAndZeroThreshold) {
  QK_REQUIRE_GPU();
  // Half the rows zero: their cosine is exactly 0, so a threshold of 0 counts none of
  // those pairs and a tiny positive threshold counts all of them.
  const int64_t seq = 130, dim = 64;
  auto x = random_floats(static_cast<size_t>(seq * dim), 31, 0.0f, dim, 2);
  for (double thr : {0.0, 1e-30, -1e-30, 0.3, 1.0})
    check_position_cosine(stream(), x, 1, seq * dim, seq, dim, thr, "zero rows thr " + std::to_string(thr));
  const std::vector<float> zeros(static_cast<size_t>(3 * seq * dim), 0.0f);
  check_position_cosine(stream(), zeros, 3, seq * dim, seq, dim, 0.3, "all zero");
}

TEST_F(GpuParity, PositionCosineDeterministic) {
  QK_REQUIRE_GPU();
  const int64_t seq = 513, dim = 128, count = 4;
  const auto x = random_floats(static_cast<size_t>(count * seq * dim), 77, 0.2f);
  const auto dx = to_device(x, stream());
  DeviceBuffer<uint64_t> dbelow(count, stream());
  expect_gpu_deterministic(
      count, stream(),
      [&](double* sum) {
        launch_position_cosine(dx.data(), count, seq * dim, seq, dim, 0.3, sum, dbelow.data(), stream());
      },
      "position_cosine sum_cos");
}

TEST_F(GpuParity, MagnitudeEntropy) {
  QK_REQUIRE_GPU();
  int idx = 0;
  for (int64_t seq : kSeqs)
    for (int64_t dim : kDims) {
      const int64_t count = 1 + idx % 9;
      ++idx;
      const int64_t stride = seq * dim * (idx % 3 == 0 ? 3 : 1);
      const auto x =
          random_floats(static_cast<size_t>(count * stride), 300 + idx, 0.1f, dim, idx % 2 ? 4 : 0);
      const auto dx = to_device(x, stream());
      expect_cpu_gpu_parity(
          count, [&](double* e) { magnitude_entropy_cpu(x.data(), count, stride, seq, dim, e); },
          [&](double* e) { launch_magnitude_entropy(dx.data(), count, stride, seq, dim, e, stream()); },
          {1e-13 + 64.0 * kEps64 * (seq + dim), 1e-12},
          "entropy seq " + std::to_string(seq) + " dim " + std::to_string(dim), stream());
    }
  // A cloud of zero rows and a single row: entropy 0.
  const std::vector<float> zeros(64 * 8, 0.0f);
  const auto dz = to_device(zeros, stream());
  EXPECT_EQ(
      gpu_outputs(2, stream(),
                  [&](double* e) { launch_magnitude_entropy(dz.data(), 2, 64 * 4, 64, 4, e, stream()); }),
      (std::vector<double>{0.0, 0.0}));
}

TEST_F(GpuParity, LayerAlignment) {
  QK_REQUIRE_GPU();
  int idx = 0;
  for (int64_t seq : kSeqs)
    for (int64_t dim : kDims) {
      const int layers = 1 + idx % 4, heads = 1 + idx % 9;
      ++idx;
      const int64_t n = seq * dim;
      const auto x = random_floats(static_cast<size_t>(layers) * heads * n, 400 + idx, idx % 2 ? 0.5f : 0.0f);
      if (layers < 2) continue;
      const auto dx = to_device(x, stream());
      for (bool f32 : {true, false})
        expect_cpu_gpu_parity(
            static_cast<size_t>(layers - 1),
            [&](double* c) { layer_alignment_cpu(x.data(), layers, heads, n, f32, c); },
            [&](double* c) { launch_layer_alignment(dx.data(), layers, heads, n, f32, c, stream()); },
            {1e-13 + 16.0 * kEps64 * n, 1e-12},
            "layer_alignment seq " + std::to_string(seq) + " dim " + std::to_string(dim) +
                (f32 ? " f32 mean" : " f64 mean"),
            stream());
    }
}

// The alignment of two layers read where they lie (no stacking copy): bitwise what
// launch_layer_alignment gives for the two stacked, and within the stacked tolerance of
// the CPU twin of the pair; cur placed before prev in one buffer as well as apart.
TEST_F(GpuParity, LayerAlignmentPairInPlace) {
  QK_REQUIRE_GPU();
  struct Case {
    int heads;
    int64_t seq, dim;
  };
  for (const Case& c : {Case{1, 1, 1}, Case{7, 33, 3}, Case{70, 65, 64}, Case{8, 513, 128}})
    for (bool f32 : {true, false}) {
      const int64_t n = c.seq * c.dim, layer = static_cast<int64_t>(c.heads) * n;
      const auto both = random_floats(static_cast<size_t>(2 * layer), 700 + c.heads, f32 ? 0.5f : 0.0f);
      const std::vector<float> prev(both.begin(), both.begin() + layer),
          cur(both.begin() + layer, both.end());
      std::vector<float> swapped(cur);  // [cur][prev] in one buffer
      swapped.insert(swapped.end(), prev.begin(), prev.end());
      const auto dboth = to_device(both, stream()), dprev = to_device(prev, stream()),
                 dcur = to_device(cur, stream()), dswapped = to_device(swapped, stream());
      const std::string what =
          std::to_string(c.heads) + " heads n " + std::to_string(n) + (f32 ? " f32" : " f64");
      const auto stacked = gpu_outputs(1, stream(), [&](double* o) {
        launch_layer_alignment(dboth.data(), 2, c.heads, n, f32, o, stream());
      });
      const auto apart = gpu_outputs(1, stream(), [&](double* o) {
        launch_layer_alignment_pair(dprev.data(), dcur.data(), c.heads, n, f32, o, stream());
      });
      const auto reversed = gpu_outputs(1, stream(), [&](double* o) {
        launch_layer_alignment_pair(dswapped.data() + layer, dswapped.data(), c.heads, n, f32, o, stream());
      });
      EXPECT_EQ(apart, stacked) << what;
      EXPECT_EQ(reversed, stacked) << what;
      const std::vector<double> cpu{
          multi_head_alignment_pair_cpu(prev.data(), cur.data(), c.heads, c.seq, c.dim, f32)};
      expect_close(apart, cpu, {1e-13 + 16.0 * kEps64 * n, 1e-12}, "alignment pair " + what);
    }
  DeviceBuffer<double> out(1, stream());
  DeviceBuffer<float> x(4, stream());
  EXPECT_THROW(launch_layer_alignment_pair(x.data(), nullptr, 1, 4, true, out.data(), stream()),
               std::invalid_argument);
  EXPECT_THROW(launch_layer_alignment_pair(x.data(), x.data(), -1, 4, true, out.data(), stream()),
               std::invalid_argument);
  EXPECT_THROW(launch_layer_alignment_pair(x.data(), x.data(), 1, 4, true, nullptr, stream()),
               std::invalid_argument);
  EXPECT_EQ(
      gpu_outputs(1, stream(),
                  [&](double* o) { launch_layer_alignment_pair(nullptr, nullptr, 0, 4, true, o, stream()); }),
      std::vector<double>{0.0});
}

TEST_F(GpuParity, KvCka) {
  QK_REQUIRE_GPU();
  int idx = 0;
  for (int64_t seq : kSeqs)
    for (int64_t dim : kDims) {
      const int64_t count = 1 + idx % 9;
      ++idx;
      const int64_t stride = seq * dim * (idx % 3 == 0 ? 2 : 1);
      const size_t total = static_cast<size_t>(count * stride);
      const auto k = random_floats(total, 500 + idx, idx % 2 ? 2.0f : 0.0f);
      auto v = random_floats(total, 900 + idx);
      for (size_t e = 0; e < total; ++e) v[e] += 0.5f * k[e];  // correlated clouds
      const auto dk = to_device(k, stream()), dv = to_device(v, stream());
      // Both sides form fp64 Grams over seq terms.
      expect_cpu_gpu_parity(
          count, [&](double* c) { kv_cka_cpu(k.data(), v.data(), count, stride, seq, dim, c); },
          [&](double* c) {
            launch_kv_cka(ctx_->cublas(), dk.data(), dv.data(), count, stride, seq, dim, c, stream());
          },
          {1e-12 * (1 + seq), 1e-10}, "kv_cka seq " + std::to_string(seq) + " dim " + std::to_string(dim),
          stream());
    }
}

TEST_F(GpuParity, KvCkaConstantCloudIsZero) {
  QK_REQUIRE_GPU();
  const int64_t seq = 33, dim = 8;
  std::vector<float> k(static_cast<size_t>(seq * dim));
  for (int64_t i = 0; i < seq; ++i)
    for (int64_t d = 0; d < dim; ++d) k[i * dim + d] = 0.25f * static_cast<float>(d + 1);
  const auto v = random_floats(k.size(), 5);
  const auto dk = to_device(k, stream()), dv = to_device(v, stream());
  EXPECT_EQ(gpu_outputs(1, stream(),
                        [&](double* c) {
                          launch_kv_cka(ctx_->cublas(), dk.data(), dv.data(), 1, seq * dim, seq, dim, c,
                                        stream());
                        })[0],
            0.0);
}

// compute_cloud_stats_gpu against compute_cloud_stats_cpu on full plans.
void check_cloud_stats(const CloudDims& d, const StatsPlan& plan, uint32_t seed) {
  const auto x =
      random_floats(static_cast<size_t>(d.layers) * d.heads * d.head_elems(), seed, 0.2f, d.head_dim, 11);
  const CloudStats cpu = compute_cloud_stats_cpu(x.data(), d, plan);
  const CloudStats gpu = compute_cloud_stats_gpu(x.data(), d, plan, 0);
  const double seq = static_cast<double>(d.seq);
  expect_gram_close(gpu.head_gram, cpu.head_gram, d.layers, d.heads, d.head_elems(), "cloud head_gram");
  expect_close(gpu.pos_sum_cos, cpu.pos_sum_cos,
               {1e-12 + 64.0 * kEps64 * seq * seq * std::sqrt(d.head_dim + 1.0), 1e-12}, "cloud pos_sum_cos");
  EXPECT_EQ(gpu.pos_below, cpu.pos_below);
  expect_close(gpu.entropy, cpu.entropy, {1e-13 + 64.0 * kEps64 * (seq + d.head_dim), 1e-12},
               "cloud entropy");
  const double n = static_cast<double>(d.head_elems());
  expect_close(gpu.layer_align, cpu.layer_align, {1e-13 + 16.0 * kEps64 * n, 1e-12}, "cloud layer_align");
}

TEST_F(GpuParity, CloudStatsFullPlan) {
  QK_REQUIRE_GPU();
  CloudDims d;
  d.layers = 3;
  d.heads = 6;
  d.seq = 65;
  d.head_dim = 64;
  StatsPlan subset;  // position heads and entropy heads fewer than heads
  subset.head_gram = true;
  subset.position_heads = 2;
  subset.below_threshold = 0.3;
  subset.entropy_heads = 1;
  subset.layer_alignment = true;
  subset.seed_f32_mean = true;
  check_cloud_stats(d, subset, 1);
  StatsPlan all = subset;  // every head
  all.position_heads = d.heads;
  all.entropy_heads = d.heads;
  all.seed_f32_mean = false;
  check_cloud_stats(d, all, 2);
  CloudDims one_layer = d;
  one_layer.layers = 1;
  check_cloud_stats(one_layer, all, 3);
  CloudDims many_heads = d;  // the multi-head BO mode past the former 64-head limit
  many_heads.heads = 70;
  many_heads.seq = 9;
  many_heads.head_dim = 3;
  StatsPlan many = subset;
  many.position_heads = 5;
  many.entropy_heads = 70;
  check_cloud_stats(many_heads, many, 4);
}

TEST_F(GpuParity, CloudKvCka) {
  QK_REQUIRE_GPU();
  CloudDims d;
  d.layers = 2;
  d.heads = 3;
  d.seq = 130;
  d.head_dim = 64;
  const size_t total = static_cast<size_t>(d.layers) * d.heads * d.head_elems();
  const auto k = random_floats(total, 61);
  auto v = random_floats(total, 62);
  for (size_t e = 0; e < total; ++e) v[e] -= 0.3f * k[e];
  expect_close(compute_kv_cka_gpu(k.data(), v.data(), d, 0), compute_kv_cka_cpu(k.data(), v.data(), d),
               {1e-12 * (1 + d.seq), 1e-10}, "cloud kv_cka");
}

// Attention statistics of one layer, logits soft-capped at `cap` (Gemma 2; 0: none):
// entropy, logit std, sink mass [3][q_heads] and, when `distance`, the distance masses
// [q_heads][kDistanceBuckets] after them, from the CPU twin and the GPU.
CpuGpu attention_stats_both(const std::vector<float>& q, const std::vector<float>& k, int hq, int hkv,
                            int64_t seq, int64_t dim, float scale, AttentionMask mask, int64_t window,
                            float cap, bool distance, cudaStream_t stream) {
  const auto dq = to_device(q, stream), dk = to_device(k, stream);
  const size_t n = static_cast<size_t>((3 + (distance ? kDistanceBuckets : 0)) * hq);
  return run_cpu_gpu(
      n,
      [&](double* o) {
        attention_stats_cpu(q.data(), k.data(), hq, hkv, seq, dim, scale, mask, window, o, o + hq, o + 2 * hq,
                            cap, distance ? o + 3 * hq : nullptr);
      },
      [&](double* o) {
        launch_attention_stats(dq.data(), dk.data(), hq, hkv, seq, dim, scale, mask, window, o, o + hq,
                               o + 2 * hq, stream, cap, distance ? o + 3 * hq : nullptr);
      },
      stream);
}

// Soft-capped logits: the GPU equals the CPU twin within the documented attention
// tolerance (tanh has slope <= 1, so capping does not widen it) plus tanhf's few ulps of
// the cap; a cap of 1 moves the entropy of these large logits measurably.
TEST_F(GpuParity, AttentionStatsSoftcap) {
  const int hq = 4, hkv = 2;
  for (int64_t seq : {int64_t{1}, int64_t{65}, int64_t{300}})
    for (int64_t dim : {int64_t{64}, int64_t{128}})
      for (float cap : {1.0f, 50.0f})
        for (AttentionMask mask : {AttentionMask::Causal, AttentionMask::SlidingWindow}) {
          const int64_t window = mask == AttentionMask::SlidingWindow ? 7 : 0;
          const auto q = random_floats(static_cast<size_t>(hq * seq * dim), 71, 0.5f);
          const auto k = random_floats(static_cast<size_t>(hkv * seq * dim), 72, 0.5f);
          const float scale = 4.0f / std::sqrt(static_cast<float>(dim));
          const CpuGpu r =
              attention_stats_both(q, k, hq, hkv, seq, dim, scale, mask, window, cap, false, stream());
          const double delta = logit_error_bound(q, k, dim, scale);
          expect_close(r.gpu, r.cpu, {4 * delta + 1e-5 + 8 * 1.1920929e-07 * cap, 1e-5},
                       "softcap " + std::to_string(cap) + " seq " + std::to_string(seq) + " dim " +
                           std::to_string(dim));
          if (cap != 1.0f || seq < 65) continue;
          const CpuGpu plain =
              attention_stats_both(q, k, hq, hkv, seq, dim, scale, mask, window, 0.0f, false, stream());
          EXPECT_GT(std::fabs(plain.cpu[0] - r.cpu[0]), 0.05) << "the cap does not move the entropy";
        }
}

// Attention mass per distance bucket: the GPU equals the CPU twin within the sink mass's
// tolerance (4 delta |ref| + 1e-6, probabilities) for GQA, every mask, a soft-cap, and
// lengths past one key tile and one bucket edge (1100 > 1024); each head sums to 1.
TEST_F(GpuParity, AttentionDistanceMass) {
  QK_REQUIRE_GPU();
  const int hq = 4, hkv = 2;
  const int64_t dim = 64;
  for (int64_t seq : {int64_t{1}, int64_t{70}, int64_t{1100}})
    for (AttentionMask mask : {AttentionMask::Causal, AttentionMask::Full, AttentionMask::SlidingWindow})
      for (float cap : {0.0f, 5.0f}) {
        const int64_t window = mask == AttentionMask::SlidingWindow ? 100 : 0;
        const auto q = random_floats(static_cast<size_t>(hq * seq * dim), 81, 0.5f);
        const auto k = random_floats(static_cast<size_t>(hkv * seq * dim), 82, 0.5f);
        const float scale = 2.0f / std::sqrt(static_cast<float>(dim));
        const CpuGpu r =
            attention_stats_both(q, k, hq, hkv, seq, dim, scale, mask, window, cap, true, stream());
        const std::vector<double> cpu(r.cpu.begin() + 3 * hq, r.cpu.end()),
            gpu(r.gpu.begin() + 3 * hq, r.gpu.end());
        const double delta = logit_error_bound(q, k, dim, scale);
        const std::string what = "distance seq " + std::to_string(seq) + " mask " +
                                 std::to_string(static_cast<int>(mask)) + " cap " + std::to_string(cap);
        expect_close(gpu, cpu, {1e-6, 4 * delta}, what);
        for (int h = 0; h < hq; ++h) {
          double sum = 0;
          for (int b = 0; b < kDistanceBuckets; ++b) sum += gpu[h * kDistanceBuckets + b];
          EXPECT_NEAR(sum, 1.0, 1e-5) << what << " head " << h;
        }
      }
}

// The on-device entry points read clouds that a producer stream (torch's, in the sweep) is
// still writing: each must wait for it. Their results then equal bitwise those of the
// upload path (the same kernels on the same values); without the wait they read zeros.
struct ProducerCase {
  CloudDims d{2, 6, 65, 64};
  StatsPlan plan;
  std::vector<float> x, v, q, k;  // x, v: clouds of d; q [2][4][65][64], k [2][2][65][64]
  std::vector<AttentionMask> masks{AttentionMask::Causal, AttentionMask::SlidingWindow};
  std::vector<int64_t> windows{0, 20};
  ProducerCase() {
    plan.head_gram = true;
    plan.position_heads = d.heads;
    plan.entropy_heads = d.heads;
    plan.layer_alignment = true;
    const size_t total = static_cast<size_t>(d.layers) * d.heads * d.head_elems();
    x = random_floats(total, 91, 0.3f);
    v = random_floats(total, 92);
    q = random_floats(static_cast<size_t>(2 * 4 * 65 * 64), 93, 0.5f);
    k = random_floats(static_cast<size_t>(2 * 2 * 65 * 64), 94, 0.5f);
  }
  int64_t layer() const { return d.heads * d.head_elems(); }
  HostCloud4 qc(const float* p) const { return {p, {2, 4, 65, 64}}; }
  HostCloud4 kc(const float* p) const { return {p, {2, 2, 65, 64}}; }
};

void expect_same_stats(const CloudStats& got, const CloudStats& want, const std::string& what) {
  EXPECT_EQ(got.head_gram, want.head_gram) << what;
  EXPECT_EQ(got.pos_sum_cos, want.pos_sum_cos) << what;
  EXPECT_EQ(got.pos_below, want.pos_below) << what;
  EXPECT_EQ(got.entropy, want.entropy) << what;
  EXPECT_EQ(got.layer_align, want.layer_align) << what;
}

// entropy, logit std, sink [8] and distance masses [8][kDistanceBuckets] of c's 2 layers x
// 4 query heads in one array, written by fill(entropy, logit_std, sink, distance).
template <typename Fill>
std::vector<double> attention_outputs(Fill&& fill) {
  const size_t n = 8;
  std::vector<double> o(n * (3 + kDistanceBuckets), std::nan(""));
  fill(o.data(), o.data() + n, o.data() + 2 * n, o.data() + 3 * n);
  return o;
}

std::vector<double> attention_uploaded(const ProducerCase& c) {
  return attention_outputs([&](double* e, double* s, double* k0, double* dm) {
    attention_stats_gpu(c.qc(c.q.data()), c.kc(c.k.data()), 0.125f, 0.0f, c.masks, c.windows, 0, e, s, k0,
                        dm);
  });
}

TEST_F(GpuParity, OnDeviceEntryPointsWaitForTheProducer) {
  QK_REQUIRE_GPU();
  const ProducerCase c;
  const CloudStats want = compute_cloud_stats_gpu(c.x.data(), c.d, c.plan, 0);
  {
    SlowProducer p;
    const float* dx = p.stage(c.x);
    p.start();
    ASSERT_TRUE(p.busy()) << "the producer's busy work ended before the first read";
    expect_same_stats(compute_cloud_stats_on_device(dx, c.d, c.plan, 0, p.handle()), want,
                      "compute_cloud_stats_on_device");
  }
  {
    SlowProducer p;
    const float *dk = p.stage(c.x), *dv = p.stage(c.v);
    p.start();
    EXPECT_EQ(compute_kv_cka_on_device(dk, dv, c.d, 0, p.handle()),
              compute_kv_cka_gpu(c.x.data(), c.v.data(), c.d, 0));
  }
  {
    SlowProducer p;
    const float* dx = p.stage(c.x);
    p.start();
    EXPECT_EQ(
        layer_alignment_pair_on_device(dx, dx + c.layer(), c.d.heads, c.d.head_elems(), false, 0, p.handle()),
        want.layer_align.at(0));
  }
  SlowProducer p;
  const float *dq = p.stage(c.q), *dk = p.stage(c.k);
  p.start();
  EXPECT_EQ(attention_outputs([&](double* e, double* s, double* k0, double* dm) {
              attention_stats_on_device(c.qc(dq), c.kc(dk), 0.125f, 0.0f, c.masks, c.windows, 0, p.handle(),
                                        e, s, k0, dm);
            }),
            attention_uploaded(c))
      << "attention_stats_on_device";
}

// The batch path: one DeviceResults after the producer, every queued reduction read after
// one wait, each equal bitwise to the upload path.
TEST_F(GpuParity, QueuedEntryPointsWaitForTheProducer) {
  QK_REQUIRE_GPU();
  const ProducerCase c;
  const CloudStats want = compute_cloud_stats_gpu(c.x.data(), c.d, c.plan, 0);
  const std::vector<double> want_cka = compute_kv_cka_gpu(c.x.data(), c.v.data(), c.d, 0);
  const std::vector<double> want_attention = attention_uploaded(c);
  SlowProducer p;
  const float *dx = p.stage(c.x), *dv = p.stage(c.v), *dq = p.stage(c.q), *dk = p.stage(c.k);
  DeviceResults results(0);
  p.start();
  ASSERT_TRUE(p.busy()) << "the producer's busy work ended before the reads were queued";
  results.after(p.handle());
  const auto stats = queue_cloud_stats_on_device(dx, c.d, c.plan, results);
  const auto cka = queue_kv_cka_on_device(dx, dv, c.d, results);
  const auto pair =
      queue_layer_alignment_pair(dx, dx + c.layer(), c.d.heads, c.d.head_elems(), false, results);
  const auto attention =
      queue_attention_stats_on_device(c.qc(dq), c.kc(dk), 0.125f, 0.0f, c.masks, c.windows, results);
  results.wait();
  expect_same_stats(stats(), want, "queue_cloud_stats_on_device");
  EXPECT_EQ(cka(), want_cka);
  EXPECT_EQ(pair(), want.layer_align.at(0));
  EXPECT_EQ(attention_outputs(attention), want_attention) << "queue_attention_stats_on_device";
}

TEST(GpuDispatch, RejectsBadPlan) {
  std::string why;
  if (!gpu_available(&why)) GTEST_SKIP() << "no CUDA device: " << why;
  CloudDims d;
  d.layers = 1;
  d.heads = 2;
  d.seq = 4;
  d.head_dim = 2;
  std::vector<float> x(16, 1.0f);
  StatsPlan plan;
  plan.position_heads = 3;
  EXPECT_THROW(compute_cloud_stats_gpu(x.data(), d, plan, 0), std::invalid_argument);
}

}  // namespace
}  // namespace qk
