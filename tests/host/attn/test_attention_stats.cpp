// Attention statistics: the shared online-softmax header, the CPU twin against a direct
// softmax written out here in long double (all masks, GQA ratios 1/2/4, small sizes),
// hand cases with known answers, and GPU/CPU parity of launch_attention_stats (skipped
// without a CUDA device).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "require_gpu.hpp"
#include "test_random.hpp"
#include "attention_mask.hpp"
#include "online_softmax.hpp"
#include "ops/attention_stats_cpu.hpp"

#if defined(QKGEOM_WITH_CUDA)
#include "attention_stats.cuh"
#include "bo/gpu_stats.hpp"
#include "gpu_context.hpp"
#include "kernels/gpu_parity.hpp"
#endif

namespace qk {
namespace {

struct Stats {
  std::vector<double> entropy, logit_std, sink;
};

struct Case {
  AttentionMask mask;
  int64_t window;
  const char* name;
};

const Case kMasks[] = {{AttentionMask::Causal, 0, "causal"},
                       {AttentionMask::Full, 0, "full"},
                       {AttentionMask::SlidingWindow, 1, "sliding1"},
                       {AttentionMask::SlidingWindow, 3, "sliding3"},
                       {AttentionMask::SlidingWindow, 50, "sliding50"}};

bool allowed(AttentionMask mask, int64_t i, int64_t j, int64_t window) {
  if (mask == AttentionMask::Full) return true;
  if (j > i) return false;
  return mask == AttentionMask::Causal || i - j < window;
}

// The definition, directly: per query, all allowed logits, max-shifted softmax, in
// long double.
Stats direct(const std::vector<float>& q, const std::vector<float>& k, int hq, int hkv, int64_t seq,
             int64_t dim, double scale, AttentionMask mask, int64_t window) {
  Stats r{std::vector<double>(hq), std::vector<double>(hq), std::vector<double>(hq)};
  const int group = hq / hkv;
  for (int h = 0; h < hq; ++h) {
    long double se = 0, ss = 0, sp = 0;
    for (int64_t i = 0; i < seq; ++i) {
      std::vector<long double> s;
      for (int64_t j = 0; j < seq; ++j) {
        if (!allowed(mask, i, j, window)) continue;
        long double dot = 0;
        for (int64_t d = 0; d < dim; ++d)
          dot += static_cast<long double>(q[(h * seq + i) * dim + d]) * k[((h / group) * seq + j) * dim + d];
        s.push_back(static_cast<long double>(static_cast<float>(scale)) * dot);
      }
      long double m = s[0], mean = 0;
      for (long double x : s) {
        m = std::max(m, x);
        mean += x;
      }
      mean /= s.size();
      long double z = 0, var = 0;
      for (long double x : s) {
        z += std::exp(x - m);
        var += (x - mean) * (x - mean);
      }
      long double hent = 0;
      for (long double x : s) {
        const long double p = std::exp(x - m) / z;
        if (p > 0) hent -= p * std::log(p);
      }
      se += hent;
      ss += std::sqrt(var / s.size());
      if (allowed(mask, i, 0, window)) sp += std::exp(s[0] - m) / z;
    }
    r.entropy[h] = static_cast<double>(se / seq);
    r.logit_std[h] = static_cast<double>(ss / seq);
    r.sink[h] = static_cast<double>(sp / seq);
  }
  return r;
}

Stats run_cpu(const std::vector<float>& q, const std::vector<float>& k, int hq, int hkv, int64_t seq,
              int64_t dim, float scale, AttentionMask mask, int64_t window) {
  Stats r{std::vector<double>(hq), std::vector<double>(hq), std::vector<double>(hq)};
  attention_stats_cpu(q.data(), k.data(), hq, hkv, seq, dim, scale, mask, window, r.entropy.data(),
                      r.logit_std.data(), r.sink.data());
  return r;
}

void expect_close(const Stats& a, const Stats& b, double rtol, double atol, const std::string& what) {
  for (size_t h = 0; h < a.entropy.size(); ++h) {
    EXPECT_NEAR(a.entropy[h], b.entropy[h], atol + rtol * std::fabs(b.entropy[h]))
        << what << " entropy head " << h;
    EXPECT_NEAR(a.logit_std[h], b.logit_std[h], atol + rtol * std::fabs(b.logit_std[h]))
        << what << " logit_std head " << h;
    EXPECT_NEAR(a.sink[h], b.sink[h], atol + rtol * std::fabs(b.sink[h])) << what << " sink head " << h;
  }
}

TEST(OnlineSoftmax, PushAndMergeMatchTheDirectSums) {
  const std::vector<float> xs = normals<float>(97, 11);
  SoftmaxEntropyState<double> all, left, right;
  RunningMoments<double> mall, mleft, mright;
  for (size_t i = 0; i < xs.size(); ++i) {
    softmax_entropy_push(all, 3.0 * static_cast<double>(xs[i]));
    auto& half = i < 40 ? left : right;
    softmax_entropy_push(half, 3.0 * static_cast<double>(xs[i]));
    RunningMoments<double> one;
    one.n = 1;
    one.mean = 3.0 * xs[i];
    moments_merge(mall, one);
    moments_merge(i < 40 ? mleft : mright, one);
  }
  softmax_entropy_merge(right, left);
  moments_merge(mright, mleft);
  long double m = -1e300L, z = 0, mean = 0, var = 0, h = 0;
  for (float x : xs) m = std::max(m, 3.0L * x);
  for (float x : xs) {
    z += std::exp(3.0L * x - m);
    mean += 3.0L * x;
  }
  mean /= xs.size();
  for (float x : xs) {
    const long double p = std::exp(3.0L * x - m) / z;
    h -= p * std::log(p);
    var += (3.0L * x - mean) * (3.0L * x - mean);
  }
  const double sd = static_cast<double>(std::sqrt(var / xs.size()));
  EXPECT_NEAR(softmax_entropy_value(all), static_cast<double>(h), 1e-13);
  EXPECT_NEAR(softmax_entropy_value(right), static_cast<double>(h), 1e-13);
  EXPECT_NEAR(moments_population_std(mall), sd, 1e-13);
  EXPECT_NEAR(moments_population_std(mright), sd, 1e-13);
  EXPECT_NEAR(softmax_probability(right, 3.0 * xs[0]), static_cast<double>(std::exp(3.0L * xs[0] - m) / z),
              1e-15);
}

TEST(OnlineSoftmax, EmptyStateIsZero) {
  SoftmaxEntropyState<double> st;
  RunningMoments<double> mo;
  EXPECT_EQ(softmax_entropy_value(st), 0.0);
  EXPECT_EQ(softmax_probability(st, 1.0), 0.0);
  EXPECT_EQ(moments_population_std(mo), 0.0);
  softmax_entropy_push(st, -5.0);
  EXPECT_EQ(softmax_entropy_value(st), 0.0);
  EXPECT_DOUBLE_EQ(softmax_probability(st, -5.0), 1.0);
}

TEST(OnlineSoftmax, AllowedKeys) {
  int64_t lo, hi;
  attention_allowed_keys(AttentionMask::Causal, 5, 10, 0, &lo, &hi);
  EXPECT_EQ(lo, 0);
  EXPECT_EQ(hi, 6);
  attention_allowed_keys(AttentionMask::Full, 5, 10, 0, &lo, &hi);
  EXPECT_EQ(lo, 0);
  EXPECT_EQ(hi, 10);
  attention_allowed_keys(AttentionMask::SlidingWindow, 5, 10, 3, &lo, &hi);
  EXPECT_EQ(lo, 3);  // i - j < 3: j in {3, 4, 5}
  EXPECT_EQ(hi, 6);
  attention_allowed_keys(AttentionMask::SlidingWindow, 1, 10, 3, &lo, &hi);
  EXPECT_EQ(lo, 0);
  EXPECT_EQ(hi, 2);
}

// A run of keys from j ends exactly where the bucket of |i - j| (counted here with a loop
// over powers of two) changes: queries near 0, near the 2^14 edge of the last bucket and
// past it, keys on both sides of the query.
TEST(OnlineSoftmax, DistanceBucketRunsEndWhereTheBucketChanges) {
  auto bucket = [](int64_t d) {
    int b = 0;
    while (b < kDistanceBuckets - 1 && d >= (int64_t{1} << b)) ++b;
    return b;
  };
  for (int64_t i :
       {int64_t{0}, int64_t{1}, int64_t{5}, int64_t{70}, int64_t{16383}, int64_t{16390}, int64_t{40000}}) {
    const int64_t end = i + 20000;
    for (int64_t j = i > 20000 ? i - 20000 : 0; j < end; j += j % 97 == 0 ? 1 : 13) {
      const int64_t run = distance_bucket_run_end(i, j, end);
      ASSERT_GT(run, j) << "i " << i << " j " << j;
      const int b = bucket(j > i ? j - i : i - j);
      ASSERT_EQ(distance_bucket(j > i ? j - i : i - j), b);
      ASSERT_EQ(bucket(run - 1 > i ? run - 1 - i : i - run + 1), b) << "i " << i << " j " << j;
      if (run < end) {
        ASSERT_NE(bucket(run > i ? run - i : i - run), b) << "i " << i << " j " << j;
      }
    }
  }
}

// A tile's distance masses equal, bitwise, the masses summed key by key in key order
// (each e^(x - m) added to its bucket as it comes), for tiles on both sides of the query.
TEST(OnlineSoftmax, DistanceMassOfATileEqualsTheKeyByKeySums) {
  const std::vector<float> f = normals<float>(600, 61);
  const std::vector<double> x(f.begin(), f.end());
  for (int64_t i : {int64_t{0}, int64_t{37}, int64_t{300}, int64_t{599}}) {
    SoftmaxEntropyState<double> st;
    RunningMoments<double> mo;
    DistanceMass<double> dm;
    attention_row_tile(st, mo, x.data(), static_cast<int>(x.size()), &dm, i, 0);
    double want[kDistanceBuckets] = {};
    for (int64_t j = 0; j < static_cast<int64_t>(x.size()); ++j)
      want[distance_bucket(j > i ? j - i : i - j)] += std::exp(x[j] - st.m);
    for (int b = 0; b < kDistanceBuckets; ++b)
      EXPECT_EQ(dm.e[b], want[b]) << "query " << i << " bucket " << b;
  }
}

TEST(AttentionStatsCpu, MatchesDirectSoftmax) {
  const int64_t seqs[] = {1, 2, 3, 7, 33, 130, 300};
  const int64_t dims[] = {1, 8, 64};
  const int ratios[] = {1, 2, 4};
  uint32_t seed = 1;
  for (const Case& c : kMasks)
    for (int ratio : ratios)
      for (int64_t seq : seqs)
        for (int64_t dim : dims) {
          if (seq == 300 && dim != 8) continue;
          const int hkv = 2, hq = hkv * ratio;
          const auto q = normals<float>(static_cast<size_t>(hq * seq * dim), seed++);
          const auto k = normals<float>(static_cast<size_t>(hkv * seq * dim), seed++);
          const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(dim)));
          const Stats got = run_cpu(q, k, hq, hkv, seq, dim, scale, c.mask, c.window);
          const Stats want = direct(q, k, hq, hkv, seq, dim, scale, c.mask, c.window);
          expect_close(got, want, 1e-11, 1e-13,
                       std::string(c.name) + " ratio " + std::to_string(ratio) + " seq " +
                           std::to_string(seq) + " dim " + std::to_string(dim));
        }
}

TEST(AttentionStatsCpu, LargeLogitsStayFinite) {
  const int64_t seq = 70, dim = 16;
  const auto q = normals<float>(static_cast<size_t>(2 * seq * dim), 77);
  const auto k = normals<float>(static_cast<size_t>(1 * seq * dim), 78);
  for (const Case& c : kMasks) {
    const Stats got = run_cpu(q, k, 2, 1, seq, dim, 40.0f, c.mask, c.window);
    const Stats want = direct(q, k, 2, 1, seq, dim, 40.0, c.mask, c.window);
    expect_close(got, want, 1e-10, 1e-12, c.name);
  }
}

// q = 0: every logit is 0, so p is uniform over the n_i allowed keys: H_i = ln n_i,
// std_i = 0, p_i0 = 1 / n_i where key 0 is allowed.
TEST(AttentionStatsCpu, UniformLogits) {
  const int64_t seq = 300, dim = 4, window = 5;
  const std::vector<float> q(static_cast<size_t>(seq * dim), 0.0f);
  const auto k = normals<float>(static_cast<size_t>(seq * dim), 5);
  for (const Case& c : {Case{AttentionMask::Causal, 0, "causal"}, Case{AttentionMask::Full, 0, "full"},
                        Case{AttentionMask::SlidingWindow, window, "sliding"}}) {
    long double he = 0, hp = 0;
    for (int64_t i = 0; i < seq; ++i) {
      int64_t n = 0;
      for (int64_t j = 0; j < seq; ++j) n += allowed(c.mask, i, j, c.window) ? 1 : 0;
      he += std::log(static_cast<long double>(n));
      if (allowed(c.mask, i, 0, c.window)) hp += 1.0L / n;
    }
    const Stats got = run_cpu(q, k, 1, 1, seq, dim, 0.5f, c.mask, c.window);
    EXPECT_NEAR(got.entropy[0], static_cast<double>(he / seq), 1e-13) << c.name;
    EXPECT_EQ(got.logit_std[0], 0.0) << c.name;
    EXPECT_NEAR(got.sink[0], static_cast<double>(hp / seq), 1e-15) << c.name;
  }
}

// Key 0 dominates every query (logit 200 against 0): entropy ~ 0, sink mass ~ 1,
// logit std of {200, 0, ..., 0} over n_i keys = 200 sqrt(n_i - 1) / n_i.
TEST(AttentionStatsCpu, OneDominantKey) {
  const int64_t seq = 40;
  const std::vector<float> q(seq, 1.0f);
  std::vector<float> k(seq, 0.0f);
  k[0] = 200.0f;
  const Stats got = run_cpu(q, k, 1, 1, seq, 1, 1.0f, AttentionMask::Causal, 0);
  double sd = 0;
  for (int64_t i = 0; i < seq; ++i) sd += 200.0 * std::sqrt(static_cast<double>(i)) / (i + 1);
  EXPECT_LT(got.entropy[0], 1e-80);
  EXPECT_NEAR(got.sink[0], 1.0, 1e-15);
  EXPECT_NEAR(got.logit_std[0], sd / seq, 1e-12);
}

TEST(AttentionStatsCpu, SinkIsOneForTheFirstQuery) {
  const auto q = normals<float>(8, 3), k = normals<float>(8, 4);
  const Stats got = run_cpu(q, k, 1, 1, 1, 8, 0.3f, AttentionMask::Causal, 0);
  EXPECT_DOUBLE_EQ(got.sink[0], 1.0);
  EXPECT_EQ(got.entropy[0], 0.0);
  EXPECT_EQ(got.logit_std[0], 0.0);
}

// Under a window of 2, queries i >= 2 cannot see key 0: their sink mass is 0.
TEST(AttentionStatsCpu, SlidingWindowDropsKeyZero) {
  const int64_t seq = 5;
  const std::vector<float> q(seq, 0.0f), k(seq, 1.0f);
  const Stats got = run_cpu(q, k, 1, 1, seq, 1, 1.0f, AttentionMask::SlidingWindow, 2);
  EXPECT_NEAR(got.sink[0], (1.0 + 0.5) / 5.0, 1e-15);
  EXPECT_NEAR(got.entropy[0], 4.0 * std::log(2.0) / 5.0, 1e-15);
}

// NaN propagates through the online state as through a direct softmax: a NaN logit
// makes entropy, std and the probabilities NaN, never 0; a -Inf logit has probability 0
// and adds 0 ln 0 = 0 to the entropy (torch.softmax gives it 0), its std is NaN.
TEST(OnlineSoftmax, NonFiniteLogitsPropagate) {
  const double nan = std::nan(""), inf = INFINITY;
  for (double bad : {nan, inf}) {
    SoftmaxEntropyState<double> st;
    RunningMoments<double> mo;
    const double x[] = {0.5, bad, -1.0};
    attention_row_tile(st, mo, x, 3);
    EXPECT_TRUE(std::isnan(softmax_entropy_value(st))) << bad;
    EXPECT_TRUE(std::isnan(moments_population_std(mo))) << bad;
    EXPECT_TRUE(std::isnan(softmax_probability(st, 0.5))) << bad;
    SoftmaxEntropyState<double> one;  // pushed one at a time, NaN first
    softmax_entropy_push(one, bad);
    softmax_entropy_push(one, 2.0);
    EXPECT_TRUE(std::isnan(softmax_entropy_value(one))) << bad;
    SoftmaxEntropyState<double> fine;  // merged into a finite state, either side
    softmax_entropy_push(fine, 1.0);
    SoftmaxEntropyState<double> a = fine, b = one;
    softmax_entropy_merge(a, one);
    softmax_entropy_merge(b, fine);
    EXPECT_TRUE(std::isnan(softmax_entropy_value(a)) && std::isnan(softmax_entropy_value(b))) << bad;
  }
  RunningMoments<double> single;
  single.n = 1;
  single.mean = nan;
  EXPECT_TRUE(std::isnan(moments_population_std(single)));
  single.mean = -3.0;
  EXPECT_EQ(moments_population_std(single), 0.0);
  SoftmaxEntropyState<double> st;
  RunningMoments<double> mo;
  const double x[] = {0.0, -inf, 0.0};
  attention_row_tile(st, mo, x, 3);
  EXPECT_NEAR(softmax_entropy_value(st), std::log(2.0), 1e-15);
  EXPECT_EQ(softmax_probability(st, -inf), 0.0);
  EXPECT_TRUE(std::isnan(moments_population_std(mo)));
}

// Heads whose logits hold a NaN are NaN (all three statistics); the other heads equal
// the direct softmax. A NaN in k of KV head 0 at position 5 reaches the query heads
// that read it (0 and 1 with GQA 2); a NaN in q of head 3 at position 2 only head 3.
std::vector<float> with_nan(std::vector<float> x, size_t at) {
  x[at] = std::nanf("");
  return x;
}

TEST(AttentionStatsCpu, NanReachesExactlyTheHeadsThatReadIt) {
  const int hq = 4, hkv = 2;
  const int64_t seq = 9, dim = 8;
  const auto q = normals<float>(static_cast<size_t>(hq * seq * dim), 41);
  const auto k = normals<float>(static_cast<size_t>(hkv * seq * dim), 42);
  for (const Case& c : kMasks) {
    const Stats clean = direct(q, k, hq, hkv, seq, dim, 0.3, c.mask, c.window);
    const Stats kn =
        run_cpu(q, with_nan(k, static_cast<size_t>(5 * dim + 3)), hq, hkv, seq, dim, 0.3f, c.mask, c.window);
    const Stats qn = run_cpu(with_nan(q, static_cast<size_t>((3 * seq + 2) * dim)), k, hq, hkv, seq, dim,
                             0.3f, c.mask, c.window);
    for (int h = 0; h < hq; ++h) {
      const bool k_hit = h < 2, q_hit = h == 3;
      for (const auto& [got, hit] : {std::make_pair(&kn, k_hit), std::make_pair(&qn, q_hit)}) {
        const double vals[] = {got->entropy[h], got->logit_std[h], got->sink[h]};
        const double want[] = {clean.entropy[h], clean.logit_std[h], clean.sink[h]};
        for (int s = 0; s < 3; ++s) {
          if (hit)
            EXPECT_TRUE(std::isnan(vals[s])) << c.name << " head " << h << " stat " << s;
          else
            EXPECT_NEAR(vals[s], want[s], 1e-12 + 1e-11 * std::fabs(want[s])) << c.name << " head " << h;
        }
      }
    }
  }
}

// Distance masses [hq][kDistanceBuckets] of the CPU twin.
std::vector<double> cpu_distance(const std::vector<float>& q, const std::vector<float>& k, int hq, int hkv,
                                 int64_t seq, int64_t dim, float scale, AttentionMask mask, int64_t window) {
  std::vector<double> e(hq), sd(hq), sk(hq), dist(static_cast<size_t>(hq) * kDistanceBuckets);
  attention_stats_cpu(q.data(), k.data(), hq, hkv, seq, dim, scale, mask, window, e.data(), sd.data(),
                      sk.data(), 0.0f, dist.data());
  return dist;
}

// Distance masses: NaN in every bucket of the heads whose logits hold a NaN (KV head 0
// feeds query heads 0, 1), buckets summing to 1 elsewhere; with seq 9 no distance reaches
// bucket 5 (16 .. 31), and a sliding window of 1 puts all mass in bucket 0.
TEST(AttentionStatsCpu, DistanceMassNanAndSums) {
  const int hq = 4, hkv = 2;
  const int64_t seq = 9, dim = 8;
  const auto q = normals<float>(static_cast<size_t>(hq * seq * dim), 43);
  const auto k =
      with_nan(normals<float>(static_cast<size_t>(hkv * seq * dim), 44), static_cast<size_t>(5 * dim));
  for (const Case& c : kMasks) {
    const auto d = cpu_distance(q, k, hq, hkv, seq, dim, 0.3f, c.mask, c.window);
    for (int h = 0; h < hq; ++h) {
      double sum = 0;
      for (int b = 0; b < kDistanceBuckets; ++b) {
        const double v = d[h * kDistanceBuckets + b];
        if (h < 2) {
          EXPECT_TRUE(std::isnan(v)) << c.name << " head " << h << " bucket " << b;
        } else if (b >= 5) {
          EXPECT_EQ(v, 0.0) << c.name << " head " << h << " bucket " << b;
        }
        sum += v;
      }
      if (h >= 2) {
        EXPECT_NEAR(sum, 1.0, 1e-14) << c.name << " head " << h;
      }
    }
  }
  const auto one = cpu_distance(q, q, hq, hq, seq, dim, 0.3f, AttentionMask::SlidingWindow, 1);
  for (int h = 0; h < hq; ++h) EXPECT_NEAR(one[h * kDistanceBuckets], 1.0, 1e-15) << "window 1, head " << h;
}

TEST(AttentionStatsCpu, RejectsBadArguments) {
  std::vector<double> o(4);
  const std::vector<float> x(64, 1.0f);
  EXPECT_THROW(attention_stats_cpu(x.data(), x.data(), 3, 2, 4, 4, 1.0f, AttentionMask::Causal, 0, o.data(),
                                   o.data(), o.data()),
               std::invalid_argument);
  EXPECT_THROW(attention_stats_cpu(x.data(), x.data(), 2, 2, 4, 4, 1.0f, AttentionMask::SlidingWindow, 0,
                                   o.data(), o.data(), o.data()),
               std::invalid_argument);
  EXPECT_THROW(attention_stats_cpu(x.data(), x.data(), 2, 2, 4, 0, 1.0f, AttentionMask::Causal, 0, o.data(),
                                   o.data(), o.data()),
               std::invalid_argument);
  EXPECT_THROW(attention_stats_cpu(x.data(), x.data(), 2, 2, 4, 4, 1.0f, AttentionMask::Causal, 0, o.data(),
                                   o.data(), o.data(), -1.0f),
               std::invalid_argument);
}

// Soft-capped logits lie in (-cap, cap): two keys with logits 0 and 100 give, capped at
// 1, probabilities in the ratio 1 : e^tanh(100) (not a one-hot row), and a std of
// tanh(100) / 2.
TEST(AttentionStatsCpu, SoftcapBendsLargeLogits) {
  const std::vector<float> q = {1.0f, 1.0f}, k = {0.0f, 100.0f};  // one head, seq 2, dim 1
  std::vector<double> e(1), sd(1), sink(1);
  attention_stats_cpu(q.data(), k.data(), 1, 1, 2, 1, 1.0f, AttentionMask::Full, 0, e.data(), sd.data(),
                      sink.data(), 1.0f);
  const double t = std::tanh(100.0), p0 = 1.0 / (1.0 + std::exp(t));
  EXPECT_NEAR(sink[0], p0, 1e-15);
  EXPECT_NEAR(e[0], -(p0 * std::log(p0) + (1 - p0) * std::log(1 - p0)), 1e-14);
  EXPECT_NEAR(sd[0], t / 2, 1e-15);
}

#if defined(QKGEOM_WITH_CUDA)

Stats run_gpu(const std::vector<float>& q, const std::vector<float>& k, int hq, int hkv, int64_t seq,
              int64_t dim, float scale, AttentionMask mask, int64_t window) {
  const cudaStream_t stream = thread_gpu_context(0).stream();
  const auto dq = to_device(q, stream), dk = to_device(k, stream);
  const std::vector<double> all = gpu_outputs(static_cast<size_t>(3 * hq), stream, [&](double* o) {
    launch_attention_stats(dq.data(), dk.data(), hq, hkv, seq, dim, scale, mask, window, o, o + hq,
                           o + 2 * hq, stream);
  });
  Stats r;
  r.entropy.assign(all.begin(), all.begin() + hq);
  r.logit_std.assign(all.begin() + hq, all.begin() + 2 * hq);
  r.sink.assign(all.begin() + 2 * hq, all.end());
  return r;
}

// The documented GPU tolerance (docs/metrics.md): logits carry fp32 dot-product error
// delta = d 2^-24 scale max|q| max|k|; entropy and std within 4 delta + 1e-5 (1 + |ref|),
// sink within 4 delta |ref| + 1e-6.
void expect_gpu_close(const Stats& gpu, const Stats& cpu, const std::vector<float>& q,
                      const std::vector<float>& k, int64_t dim, float scale, const std::string& what) {
  const double delta = logit_error_bound(q, k, dim, scale);
  for (size_t h = 0; h < cpu.entropy.size(); ++h) {
    EXPECT_NEAR(gpu.entropy[h], cpu.entropy[h], 4 * delta + 1e-5 * (1 + std::fabs(cpu.entropy[h])))
        << what << " entropy head " << h;
    EXPECT_NEAR(gpu.logit_std[h], cpu.logit_std[h], 4 * delta + 1e-5 * (1 + std::fabs(cpu.logit_std[h])))
        << what << " logit_std head " << h;
    EXPECT_NEAR(gpu.sink[h], cpu.sink[h], 4 * delta * std::fabs(cpu.sink[h]) + 1e-6)
        << what << " sink head " << h;
  }
}

TEST(AttentionStatsGpu, MatchesCpuTwin) {
  QK_REQUIRE_GPU();
  const int64_t seqs[] = {1, 2, 3, 7, 63, 64, 65, 130, 513};
  const int64_t dims[] = {1, 8, 33, 64, 128, 256};
  const int ratios[] = {1, 2, 4};
  uint32_t seed = 100;
  for (const Case& c : kMasks)
    for (int ratio : ratios)
      for (int64_t seq : seqs)
        for (int64_t dim : dims) {
          const int hkv = 2, hq = hkv * ratio;
          const auto q = normals<float>(static_cast<size_t>(hq * seq * dim), seed++);
          const auto k = normals<float>(static_cast<size_t>(hkv * seq * dim), seed++);
          const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(dim)));
          const Stats cpu = run_cpu(q, k, hq, hkv, seq, dim, scale, c.mask, c.window);
          const Stats gpu = run_gpu(q, k, hq, hkv, seq, dim, scale, c.mask, c.window);
          expect_gpu_close(gpu, cpu, q, k, dim, scale,
                           std::string(c.name) + " ratio " + std::to_string(ratio) + " seq " +
                               std::to_string(seq) + " dim " + std::to_string(dim));
        }
}

TEST(AttentionStatsGpu, LongSequence) {
  QK_REQUIRE_GPU();
  const int64_t seq = 8192, dim = 128;
  const int hq = 4, hkv = 1;
  const auto q = normals<float>(static_cast<size_t>(hq * seq * dim), 9);
  const auto k = normals<float>(static_cast<size_t>(hkv * seq * dim), 10);
  const float scale = static_cast<float>(1.0 / std::sqrt(128.0));
  for (const Case& c :
       {Case{AttentionMask::Causal, 0, "causal"}, Case{AttentionMask::SlidingWindow, 1024, "sliding1024"}}) {
    const Stats cpu = run_cpu(q, k, hq, hkv, seq, dim, scale, c.mask, c.window);
    const Stats gpu = run_gpu(q, k, hq, hkv, seq, dim, scale, c.mask, c.window);
    expect_gpu_close(gpu, cpu, q, k, dim, scale, c.name);
  }
}

// The GPU twin gives NaN on exactly the heads the CPU twin does (NaN in k and in q,
// across key-tile and query-tile boundaries), and the CPU's values elsewhere.
TEST(AttentionStatsGpu, NanOnTheSameHeadsAsTheCpu) {
  QK_REQUIRE_GPU();
  const int hq = 8, hkv = 2;
  const int64_t seq = 130, dim = 64;
  const auto q = normals<float>(static_cast<size_t>(hq * seq * dim), 51);
  const auto k = normals<float>(static_cast<size_t>(hkv * seq * dim), 52);
  const float scale = 0.125f;
  const std::vector<std::pair<std::vector<float>, std::vector<float>>> inputs = {
      {q, with_nan(k, static_cast<size_t>((1 * seq + 100) * dim + 7))},
      {with_nan(q, static_cast<size_t>((6 * seq + 64) * dim)), k},
      {with_nan(q, 5), with_nan(k, static_cast<size_t>(seq * dim - 1))}};
  for (const Case& c : kMasks)
    for (const auto& [qi, ki] : inputs) {
      const Stats cpu = run_cpu(qi, ki, hq, hkv, seq, dim, scale, c.mask, c.window);
      const Stats gpu = run_gpu(qi, ki, hq, hkv, seq, dim, scale, c.mask, c.window);
      Stats cpu_f = cpu, gpu_f = gpu;
      for (int h = 0; h < hq; ++h) {
        EXPECT_EQ(std::isnan(cpu.entropy[h]), std::isnan(gpu.entropy[h])) << c.name << " head " << h;
        EXPECT_EQ(std::isnan(cpu.logit_std[h]), std::isnan(gpu.logit_std[h])) << c.name << " head " << h;
        EXPECT_EQ(std::isnan(cpu.sink[h]), std::isnan(gpu.sink[h])) << c.name << " head " << h;
        if (std::isnan(cpu.entropy[h])) cpu_f.entropy[h] = gpu_f.entropy[h] = 0;
        if (std::isnan(cpu.logit_std[h])) cpu_f.logit_std[h] = gpu_f.logit_std[h] = 0;
        if (std::isnan(cpu.sink[h])) cpu_f.sink[h] = gpu_f.sink[h] = 0;
      }
      expect_gpu_close(gpu_f, cpu_f, q, k, dim, scale, c.name);
    }
}

TEST(AttentionStatsGpu, Deterministic) {
  QK_REQUIRE_GPU();
  const int64_t seq = 777, dim = 64;
  const auto q = normals<float>(static_cast<size_t>(8 * seq * dim), 21);
  const auto k = normals<float>(static_cast<size_t>(2 * seq * dim), 22);
  const Stats a = run_gpu(q, k, 8, 2, seq, dim, 0.125f, AttentionMask::Causal, 0);
  const Stats b = run_gpu(q, k, 8, 2, seq, dim, 0.125f, AttentionMask::Causal, 0);
  EXPECT_EQ(a.entropy, b.entropy);
  EXPECT_EQ(a.logit_std, b.logit_std);
  EXPECT_EQ(a.sink, b.sink);
}

// The GPU's distance masses are NaN on exactly the heads the CPU's are, and within the
// sink mass's tolerance elsewhere (NaN in k across a key-tile boundary).
TEST(AttentionStatsGpu, DistanceMassNanOnTheSameHeads) {
  QK_REQUIRE_GPU();
  const int hq = 8, hkv = 2;
  const int64_t seq = 130, dim = 64;
  const auto q = normals<float>(static_cast<size_t>(hq * seq * dim), 53);
  const auto k = with_nan(normals<float>(static_cast<size_t>(hkv * seq * dim), 54),
                          static_cast<size_t>((1 * seq + 100) * dim + 7));
  const cudaStream_t stream = thread_gpu_context(0).stream();
  const auto dq = to_device(q, stream), dk = to_device(k, stream);
  for (const Case& c : kMasks) {
    const auto cpu = cpu_distance(q, k, hq, hkv, seq, dim, 0.125f, c.mask, c.window);
    const std::vector<double> all =
        gpu_outputs(static_cast<size_t>((3 + kDistanceBuckets) * hq), stream, [&](double* o) {
          launch_attention_stats(dq.data(), dk.data(), hq, hkv, seq, dim, 0.125f, c.mask, c.window, o, o + hq,
                                 o + 2 * hq, stream, 0.0f, o + 3 * hq);
        });
    for (size_t i = 0; i < cpu.size(); ++i) {
      const double g = all[3 * hq + i];
      EXPECT_EQ(std::isnan(g), std::isnan(cpu[i])) << c.name << " entry " << i;
      if (!std::isnan(cpu[i])) {
        EXPECT_NEAR(g, cpu[i], 1e-5) << c.name << " entry " << i;
      }
    }
  }
}

#endif  // QKGEOM_WITH_CUDA

}  // namespace
}  // namespace qk
