#pragma once
// Simplex-volume statistics (issue 6; spec shared/seeds/mha-cv-pentachoron-prototype.py,
// definitions in docs/simplex.md): the coefficient of variation (CV) of the volumes of random
// 5-point simplices (pentachora) drawn from the rows of a matrix, beside a null baseline:
// the CV of isotropic Gaussian points of the same count and dimension under the same sampler.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace qk {

struct SimplexOptions {
  int64_t samples = 300;  // simplices drawn
  int64_t pool = 0;       // rows drawn from: the first `pool` rows; 0 = all (cm_compat: min(n, 512))
  uint64_t seed = 0;
  bool cm_compat = false;      // the seed exactly: torch.randperm sampler, fp32 Cayley-Menger
                               // determinant, volume^2 > 1e-20 cutoff, >= 10 valid, std/(mean+1e-8)
  int null_trials = 8;         // Gaussian clouds for the baseline (0: none)
  std::string device = "cpu";  // cpu | cuda | cuda:N | auto: where the volumes are computed
};

struct SimplexCv {
  std::optional<double> cv;                   // nullopt: fewer than 5 rows, or too few valid volumes
  int64_t valid = 0;                          // volumes kept
  std::optional<double> null_mean, null_std;  // the Gaussian baseline's CV over trials
  std::optional<double> z;                    // (cv - null_mean) / null_std
  std::string band;  // "degenerate" (cv <= 0.13), "band" (0.13 < cv < 0.30), "volatile" (>= 0.30), "n/a"
};

// rows: [n][dim] f32, row-major.
SimplexCv simplex_cv(const float* rows, int64_t n, int64_t dim, const SimplexOptions& opts);

// The parts of simplex_cv, for callers that share one baseline between matrices of one shape.
struct SimplexStat {
  std::optional<double> cv;
  int64_t valid = 0;
};
struct SimplexNull {
  std::optional<double> mean, std;  // over the trials that gave a CV (std: sample std, >= 2)
  int trials = 0;                   // trials that gave a CV
};
// The statistic alone (no baseline).
SimplexStat simplex_statistic(const float* rows, int64_t n, int64_t dim, const SimplexOptions& opts);
// The Gaussian baseline for n rows of `dim` (opts.null_trials clouds).
SimplexNull simplex_null(int64_t n, int64_t dim, const SimplexOptions& opts);
// Fills null_mean, null_std, z and band of `r` from r.cv and the baseline.
void simplex_finish(SimplexCv& r, const SimplexNull& null);
std::string simplex_band(const std::optional<double>& cv);

// Default sampler: [samples][5] distinct row indices in [0, pool), uniform, from
// std::mt19937_64(seed) (x -> x mod pool with rejection of the biased tail, then of repeats).
std::vector<int64_t> simplex_sample_indices(int64_t pool, int64_t samples, uint64_t seed);
// CV (sample std / mean, fp64) of the volumes > 0; nullopt when fewer than 10.
SimplexStat simplex_cv_of_volumes(const std::vector<double>& volumes);

}  // namespace qk
