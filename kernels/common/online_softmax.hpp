#pragma once
// Per-query online softmax statistics shared by the attention-statistics kernel and
// its CPU twin (docs/metrics.md, "Attention statistics"): the softmax entropy from a
// running max m, l = sum e^(s-m) and w = sum e^(s-m)(s-m); the logit moments from
// running count / mean / M2 merged with Chan's formula. Nothing here stores more
// than one query's state, so no S x S matrix is ever formed.
//
// Non-finite logits propagate as in a direct softmax (HF eager): a NaN or +Inf logit
// makes the query's entropy, logit std and sink mass NaN; a -Inf logit gets probability
// 0 and adds nothing to the entropy (0 ln 0 = 0) but makes the logit std NaN. No
// comparison here may turn a NaN into a number (as a clamp `x > 0 ? x : 0` would).
#include <cstdint>

#include "attention_mask.hpp"
#include "hd.hpp"
#include "hd_math.hpp"

namespace qk {

// Softmax-entropy state of one query over the logits seen so far: m the largest
// logit, l = sum e^(s-m), w = sum e^(s-m)(s-m). Empty: l = 0 (m is then unused).
template <typename T>
struct SoftmaxEntropyState {
  T m = 0;
  T l = 0;
  T w = 0;
};

// Logit moments of one query: count n, mean and M2 = sum (s - mean)^2.
template <typename T>
struct RunningMoments {
  T n = 0;
  T mean = 0;
  T m2 = 0;
};

// Moves the reference of a non-empty state to m_new >= st.m: with a = e^(m - m_new),
// w' = a (w + l (m - m_new)), l' = a l. An empty state just takes m_new.
template <typename T>
QK_HD void softmax_entropy_rescale(SoftmaxEntropyState<T>& st, T m_new) {
  if (st.l == T(0)) {
    st.m = m_new;
    return;
  }
  if (!(m_new > st.m)) return;
  const T delta = st.m - m_new;
  const T a = hd::exp(delta);
  st.w = a * (st.w + st.l * delta);
  st.l = a * st.l;
  st.m = m_new;
}

// Adds one logit s.
template <typename T>
QK_HD void softmax_entropy_push(SoftmaxEntropyState<T>& st, T s) {
  if (st.l == T(0) || s > st.m) softmax_entropy_rescale(st, s);
  const T d = s - st.m;
  const T p = hd::exp(d);
  st.l += p;
  st.w += p == T(0) ? T(0) : p * d;
}

// a <- the state of the union of a's and b's logits.
template <typename T>
QK_HD void softmax_entropy_merge(SoftmaxEntropyState<T>& a, const SoftmaxEntropyState<T>& b) {
  if (b.l == T(0)) return;
  if (a.l == T(0)) {
    a = b;
    return;
  }
  SoftmaxEntropyState<T> c = b;
  const T m = a.m > b.m ? a.m : b.m;
  softmax_entropy_rescale(a, m);
  softmax_entropy_rescale(c, m);
  a.l += c.l;
  a.w += c.w;
}

// Entropy in nats of the softmax of the logits seen: H = ln l - w / l (0 when empty;
// rounding below 0 reads 0; NaN stays NaN).
template <typename T>
QK_HD T softmax_entropy_value(const SoftmaxEntropyState<T>& st) {
  if (st.l == T(0)) return T(0);
  const T h = static_cast<T>(hd::log(static_cast<double>(st.l))) - st.w / st.l;
  return h < T(0) ? T(0) : h;
}

// Softmax probability of logit s among those seen: e^(s - m) / l.
template <typename T>
QK_HD T softmax_probability(const SoftmaxEntropyState<T>& st, T s) {
  return st.l == T(0) ? T(0) : hd::exp(s - st.m) / st.l;
}

// Softmax probability of a key the mask hides from this query: 0, or NaN when the
// query's logits hold a NaN (HF adds the mask to the logits, so a NaN row stays NaN).
template <typename T>
QK_HD T softmax_masked_probability(const SoftmaxEntropyState<T>& st) {
  return st.l - st.l;
}

// a <- the moments of the union (Chan et al.): n = na + nb, delta = mean_b - mean_a,
// mean = mean_a + delta nb / n, M2 = M2a + M2b + delta^2 na nb / n.
template <typename T>
QK_HD void moments_merge(RunningMoments<T>& a, const RunningMoments<T>& b) {
  if (b.n == T(0)) return;
  if (a.n == T(0)) {
    a = b;
    return;
  }
  const T n = a.n + b.n;
  const T delta = b.mean - a.mean;
  a.mean += delta * (b.n / n);
  a.m2 += b.m2 + delta * delta * (a.n * b.n / n);
  a.n = n;
}

// Population standard deviation sqrt(M2 / n): 0 for no value, for one finite value and
// for M2 <= 0; NaN when a logit was NaN or infinite (mean - mean is then NaN).
template <typename T>
QK_HD T moments_population_std(const RunningMoments<T>& m) {
  if (m.n == T(0)) return T(0);
  if (m.n < T(2)) return m.mean - m.mean;
  if (m.m2 <= T(0)) return T(0);
  return static_cast<T>(hd::sqrt(static_cast<double>(m.m2 / m.n)));
}

// Key-distance buckets of the attention mass (docs/metrics.md, "Attention by distance"):
// bucket 0 holds distance 0, bucket b >= 1 distances [2^(b-1), 2^b - 1], the last one
// (15) every distance >= 2^14 = 16384.
constexpr int kDistanceBuckets = 16;

// The bucket of key distance d >= 0.
QK_HD int distance_bucket(int64_t d) {
  if (d <= 0) return 0;
#if defined(__CUDA_ARCH__)
  const int b = 64 - __clzll(static_cast<long long>(d));
#else
  const int b = 64 - __builtin_clzll(static_cast<unsigned long long>(d));
#endif
  return b < kDistanceBuckets - 1 ? b : kDistanceBuckets - 1;
}

// The end (exclusive, at most `end`) of the run of keys from j on that share key j's
// distance bucket from query i: a bucket is a range of |i - j|, so a run stops where the
// distance passes a power of two or 0.
QK_HD int64_t distance_bucket_run_end(int64_t i, int64_t j, int64_t end) {
  const int64_t d = i - j;
  int64_t stop = end;
  if (d > 0) {  // |i - j| falls to the bucket's least distance 2^(b-1) at key i - 2^(b-1)
    stop = i - (int64_t{1} << (distance_bucket(d) - 1)) + 1;
  } else if (d == 0) {
    stop = j + 1;
  } else if (distance_bucket(-d) < kDistanceBuckets - 1) {  // rises to 2^b - 1 at key i + 2^b - 1
    stop = i + (int64_t{1} << distance_bucket(-d));
  }
  return stop < end ? stop : end;
}

// Softmax numerators of one query summed per distance bucket: e[b] = sum e^(s - m) over
// the keys seen in bucket b, m the reference of the query's SoftmaxEntropyState.
template <typename T>
struct DistanceMass {
  T e[kDistanceBuckets] = {};
};

// Softmax mass of bucket b for a state kept at st's reference: e[b] / l (0 when empty;
// NaN when the query's logits hold a NaN or +Inf, as l is then NaN).
template <typename T>
QK_HD T distance_mass_value(const DistanceMass<T>& dm, int b, const SoftmaxEntropyState<T>& st) {
  return st.l == T(0) ? T(0) : dm.e[b] / st.l;
}

// A tile's sums over its logits x (in U): l = sum e^(x-m), w = sum e^(x-m)(x-m), and
// m2 = sum (x - mean)^2.
template <typename U>
struct TileSums {
  U l = 0, w = 0, m2 = 0;
};

// Adds logits x[c0..c1) (reference m, tile mean `mean`) to t, in key order; with kMass,
// each e^(x-m) is also added, in key order, to *mass (held in a register meanwhile).
template <bool kMass, typename T, typename U>
QK_HD void tile_terms(const U* x, int c0, int c1, U m, U mean, TileSums<U>& t, T* mass) {
  T acc = kMass ? *mass : T(0);
  for (int c = c0; c < c1; ++c) {
    const U d = x[c] - m;
    const U p = hd::exp(d);
    t.l += p;
    t.w += p == U(0) ? U(0) : p * d;  // 0 ln 0 = 0 for a -Inf logit; NaN passes
    const U dm2 = x[c] - mean;
    t.m2 += dm2 * dm2;
    if (kMass) acc += static_cast<T>(p);
  }
  if (kMass) *mass = acc;
}

// Adds a tile of n > 0 logits x[0..n) (stride 1) of one query: the tile's max moves
// the reference once, then the tile sums of e^(x-m) and e^(x-m)(x-m) (in U) join l
// and w (in T); the tile's mean and M2 (two passes, in U) are merged with Chan's
// formula. U is the tile arithmetic (float on the GPU), T the running state. With dm,
// each e^(x-m) also joins the bucket of its key's distance from query i (keys j0 ..
// j0 + n - 1; |i - j|), after dm is rescaled with the reference: one run of keys per
// bucket (distance_bucket_run_end), each summed into its bucket in key order.
template <typename T, typename U>
QK_HD void attention_row_tile(SoftmaxEntropyState<T>& st, RunningMoments<T>& mom, const U* x, int n,
                              DistanceMass<T>* dm = nullptr, int64_t i = 0, int64_t j0 = 0) {
  U tmax = x[0];
  U sum = 0;
  for (int c = 0; c < n; ++c) {
    tmax = x[c] > tmax ? x[c] : tmax;
    sum += x[c];
  }
  const T m_old = st.m;
  const bool was_empty = st.l == T(0);
  softmax_entropy_rescale(st, static_cast<T>(tmax));
  if (dm && !was_empty && st.m != m_old) {
    const T a = hd::exp(m_old - st.m);
    for (int b = 0; b < kDistanceBuckets; ++b) dm->e[b] *= a;
  }
  const U m = static_cast<U>(st.m);
  const U mean = sum / static_cast<U>(n);
  TileSums<U> t;
  if (!dm) {
    tile_terms<false>(x, 0, n, m, mean, t, static_cast<T*>(nullptr));
  } else {
    for (int c = 0; c < n;) {
      const int64_t dist = i - (j0 + c);
      const int b = distance_bucket(dist < 0 ? -dist : dist);
      const int run_end = static_cast<int>(distance_bucket_run_end(i, j0 + c, j0 + n) - j0);
      tile_terms<true>(x, c, run_end, m, mean, t, &dm->e[b]);
      c = run_end;
    }
  }
  st.l += static_cast<T>(t.l);
  st.w += static_cast<T>(t.w);
  RunningMoments<T> tile;
  tile.n = static_cast<T>(n);
  tile.mean = static_cast<T>(mean);
  tile.m2 = static_cast<T>(t.m2);
  moments_merge(mom, tile);
}

// Keys [lo, hi) that query i of a sequence of `seq` may attend to under `mask`
// (window >= 1 for SlidingWindow: i - j < window).
QK_HD void attention_allowed_keys(AttentionMask mask, int64_t i, int64_t seq, int64_t window, int64_t* lo,
                                  int64_t* hi) {
  *lo = 0;
  *hi = mask == AttentionMask::Full ? seq : i + 1;
  if (mask == AttentionMask::SlidingWindow && i - window + 1 > 0) *lo = i - window + 1;
}

}  // namespace qk
