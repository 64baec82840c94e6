// Simplex CV (docs/simplex.md): the default statistic (own sampler, Gram determinants in fp64)
// and the Gaussian baseline; the seed's cv_metric (--cm-compat) is in simplex_cm_compat.cpp.
#include "simplex_cv.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>
#include <unordered_map>

#include "bo/backend.hpp"
#include "simplex_cm_compat.hpp"
#include "simplex_volume.hpp"
#include "simplex_volume_cpu.hpp"
#include "simplex_volume_gpu.hpp"

namespace qk {
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

double unit_open(std::mt19937_64& g) {  // (0, 1]
  return (static_cast<double>(g() >> 11) + 1.0) * 0x1.0p-53;
}

// Row `row` of Gaussian cloud `trial`: N(0, 1) f32 entries by Box-Muller, from its own stream.
void gaussian_row(uint64_t seed, int trial, int64_t row, int64_t dim, float* out) {
  std::mt19937_64 g(splitmix64(splitmix64(seed) ^ splitmix64(static_cast<uint64_t>(trial) + 1)) ^
                    splitmix64(static_cast<uint64_t>(row) + 0x51ed270b27a1d3c5ULL));
  constexpr double kTwoPi = 6.283185307179586;
  for (int64_t d = 0; d < dim; d += 2) {
    const double r = std::sqrt(-2.0 * std::log(unit_open(g))), a = kTwoPi * unit_open(g);
    out[d] = static_cast<float>(r * std::cos(a));
    if (d + 1 < dim) out[d + 1] = static_cast<float>(r * std::sin(a));
  }
}

int64_t default_pool(int64_t n, const SimplexOptions& o) { return o.pool > 0 ? std::min(n, o.pool) : n; }

// Volumes of the simplices `idx` over `rows`, on the device chosen by `o.device`.
std::vector<double> volumes(const float* rows, int64_t n, int64_t dim, const std::vector<int64_t>& idx,
                            const SimplexOptions& o) {
  const int64_t count = static_cast<int64_t>(idx.size()) / simplex::kVerts;
  std::vector<double> vol(static_cast<size_t>(count));
  const Backend b = choose_backend(o.device);
  if (b.gpu)
    simplex_volumes_gpu(rows, n, dim, idx.data(), count, vol.data(), b.device);
  else
    simplex_volumes_cpu(rows, n, dim, idx.data(), count, vol.data());
  return vol;
}

// The rows the indices touch, compacted (first-use order), and the indices remapped onto them.
std::vector<int64_t> compact(const std::vector<int64_t>& idx, std::vector<int64_t>* local) {
  std::unordered_map<int64_t, int64_t> at;
  std::vector<int64_t> used;
  local->resize(idx.size());
  for (size_t i = 0; i < idx.size(); ++i) {
    auto [it, fresh] = at.emplace(idx[i], static_cast<int64_t>(used.size()));
    if (fresh) used.push_back(idx[i]);
    (*local)[i] = it->second;
  }
  return used;
}

SimplexStat default_statistic(const float* rows, int64_t n, int64_t dim, const SimplexOptions& o) {
  const int64_t pool = default_pool(n, o);
  if (pool < simplex::kVerts) return {};
  const std::vector<int64_t> idx = simplex_sample_indices(pool, o.samples, o.seed);
  std::vector<int64_t> local;
  const std::vector<int64_t> used = compact(idx, &local);
  std::vector<float> sub(used.size() * static_cast<size_t>(dim));
  for (size_t r = 0; r < used.size(); ++r)
    std::copy_n(rows + used[r] * dim, dim, sub.begin() + static_cast<int64_t>(r) * dim);
  return simplex_cv_of_volumes(volumes(sub.data(), static_cast<int64_t>(used.size()), dim, local, o));
}

}  // namespace

std::vector<int64_t> simplex_sample_indices(int64_t pool, int64_t samples, uint64_t seed) {
  if (pool < simplex::kVerts) throw std::invalid_argument("simplex pool needs at least 5 rows");
  if (samples < 0) throw std::invalid_argument("simplex samples must be >= 0");
  std::mt19937_64 g(seed);
  const uint64_t p = static_cast<uint64_t>(pool);
  const uint64_t limit = std::mt19937_64::max() - (std::mt19937_64::max() % p + 1) % p;
  std::vector<int64_t> idx;
  idx.reserve(static_cast<size_t>(samples) * simplex::kVerts);
  for (int64_t s = 0; s < samples; ++s) {
    int have = 0;
    while (have < simplex::kVerts) {
      uint64_t x = g();
      if (x > limit) continue;
      const int64_t v = static_cast<int64_t>(x % p);
      bool dup = false;
      for (int i = 0; i < have; ++i) dup = dup || idx[idx.size() - have + i] == v;
      if (dup) continue;
      idx.push_back(v);
      ++have;
    }
  }
  return idx;
}

SimplexStat simplex_cv_of_volumes(const std::vector<double>& v) {
  SimplexStat r;
  double sum = 0.0;
  for (double x : v)
    if (x > 0.0 && std::isfinite(x)) {
      sum += x;
      ++r.valid;
    }
  if (r.valid < kMinValid) return r;
  const double mean = sum / static_cast<double>(r.valid);
  double ss = 0.0;
  for (double x : v)
    if (x > 0.0 && std::isfinite(x)) ss += (x - mean) * (x - mean);
  r.cv = std::sqrt(ss / static_cast<double>(r.valid - 1)) / mean;
  return r;
}

SimplexStat simplex_statistic(const float* rows, int64_t n, int64_t dim, const SimplexOptions& o) {
  if (dim < 1) throw std::invalid_argument("simplex rows need dim >= 1");
  return o.cm_compat ? cm_statistic(rows, n, dim, o) : default_statistic(rows, n, dim, o);
}

SimplexNull simplex_null(int64_t n, int64_t dim, const SimplexOptions& o) {
  SimplexNull r;
  const int64_t pool = o.cm_compat ? std::min(n, kCmPool) : default_pool(n, o);
  if (o.null_trials <= 0 || pool < simplex::kVerts || dim < 1) return r;
  std::vector<double> cvs;
  std::vector<float> cloud;
  for (int t = 0; t < o.null_trials; ++t) {
    SimplexStat s;
    if (o.cm_compat) {
      cloud.resize(static_cast<size_t>(pool * dim));
      for (int64_t i = 0; i < pool; ++i) gaussian_row(o.seed, t, i, dim, cloud.data() + i * dim);
      s = cm_statistic(cloud.data(), pool, dim, o);
    } else {
      const std::vector<int64_t> idx = simplex_sample_indices(pool, o.samples, o.seed);
      std::vector<int64_t> local;
      const std::vector<int64_t> used = compact(idx, &local);
      cloud.resize(used.size() * static_cast<size_t>(dim));
      for (size_t i = 0; i < used.size(); ++i)
        gaussian_row(o.seed, t, used[i], dim, cloud.data() + static_cast<int64_t>(i) * dim);
      s = simplex_cv_of_volumes(volumes(cloud.data(), static_cast<int64_t>(used.size()), dim, local, o));
    }
    if (s.cv) cvs.push_back(*s.cv);
  }
  r.trials = static_cast<int>(cvs.size());
  if (cvs.empty()) return r;
  double sum = 0.0;
  for (double c : cvs) sum += c;
  r.mean = sum / static_cast<double>(cvs.size());
  if (cvs.size() >= 2) {
    double ss = 0.0;
    for (double c : cvs) ss += (c - *r.mean) * (c - *r.mean);
    r.std = std::sqrt(ss / static_cast<double>(cvs.size() - 1));
  }
  return r;
}

std::string simplex_band(const std::optional<double>& cv) {
  if (!cv) return "n/a";
  if (*cv <= 0.13) return "degenerate";
  if (*cv < 0.30) return "band";
  return "volatile";
}

void simplex_finish(SimplexCv& r, const SimplexNull& null) {
  r.null_mean = null.mean;
  r.null_std = null.std;
  r.z.reset();
  if (r.cv && null.mean && null.std && *null.std > 0.0) r.z = (*r.cv - *null.mean) / *null.std;
  r.band = simplex_band(r.cv);
}

SimplexCv simplex_cv(const float* rows, int64_t n, int64_t dim, const SimplexOptions& opts) {
  const SimplexStat s = simplex_statistic(rows, n, dim, opts);
  SimplexCv r;
  r.cv = s.cv;
  r.valid = s.valid;
  simplex_finish(r, simplex_null(n, dim, opts));
  return r;
}

}  // namespace qk
