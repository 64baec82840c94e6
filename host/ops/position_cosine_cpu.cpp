#include "ops/position_cosine_cpu.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/blas_threads.hpp"
#include "seed_math.hpp"

namespace qk {

namespace {

constexpr int64_t kTile = 256;  // rows per tile; a 256 x 256 fp32 tile is 256 KiB

struct TileTask {
  int64_t matrix, row0, col0;
};

// Counts pairs (i, j), i < j, of the tile rows [r0, r0+nr) x cols [c0, c0+nc) whose
// cosine is below `threshold`. g holds the fp32 unit-vector dots (nr x nc, row-major);
// pairs within `margin` of the threshold are decided on the seed's fp64 cosine of
// the raw rows x.
uint64_t count_tile(const float* g, int64_t r0, int64_t nr, int64_t c0, int64_t nc, const float* x,
                    int64_t dim, double threshold, double margin) {
  const float lo = static_cast<float>(threshold - margin);
  const float hi = static_cast<float>(threshold + margin);
  uint64_t below = 0;
  for (int64_t a = 0; a < nr; ++a) {
    const int64_t i = r0 + a;
    const int64_t b0 = std::max<int64_t>(0, i + 1 - c0);
    const float* row = g + a * nc;
    for (int64_t b = b0; b < nc; ++b) {
      const float v = row[b];
      if (v < lo) {
        ++below;
      } else if (v <= hi) {
        const int64_t j = c0 + b;
        below += seed_cosine(x + i * dim, x + j * dim, dim) < threshold ? 1 : 0;
      }
    }
  }
  return below;
}

}  // namespace

void position_cosine_cpu(const float* x, int64_t count, int64_t stride, int64_t seq, int64_t dim,
                         double threshold, double* sum_cos, uint64_t* below) {
  use_single_threaded_blas();
  // Unit rows in fp32 for the tiles; sum_cos from fp64 unit rows via
  // sum_{i<j} u_i.u_j = (|sum_i u_i|^2 - sum_i |u_i|^2) / 2.
  std::vector<float> unit(static_cast<size_t>(count * seq * dim));
#pragma omp parallel for schedule(dynamic)
  for (int64_t c = 0; c < count; ++c) {
    const float* m = x + c * stride;
    float* u = unit.data() + c * seq * dim;
    std::vector<double> total(static_cast<size_t>(dim), 0.0);
    double self = 0.0;
    for (int64_t i = 0; i < seq; ++i) {
      double ss = 0.0;
      for (int64_t d = 0; d < dim; ++d) ss += static_cast<double>(m[i * dim + d]) * m[i * dim + d];
      const double inv = ss > 0.0 ? 1.0 / std::sqrt(ss) : 0.0;
      double us = 0.0;
      for (int64_t d = 0; d < dim; ++d) {
        const double ud = m[i * dim + d] * inv;
        total[d] += ud;
        us += ud * ud;
        u[i * dim + d] = static_cast<float>(ud);
      }
      self += us;
    }
    double tt = 0.0;
    for (double t : total) tt += t * t;
    sum_cos[c] = 0.5 * (tt - self);
  }

  std::vector<TileTask> tasks;
  for (int64_t c = 0; c < count; ++c)
    for (int64_t r = 0; r < seq; r += kTile)
      for (int64_t col = r; col < seq; col += kTile) tasks.push_back({c, r, col});
  std::vector<uint64_t> counts(static_cast<size_t>(count), 0);
  const double margin = fp32_unit_dot_error_bound(dim);
#pragma omp parallel
  {
    std::vector<float> g(static_cast<size_t>(kTile * kTile));
    std::vector<uint64_t> mine(static_cast<size_t>(count), 0);
#pragma omp for schedule(dynamic)
    for (size_t t = 0; t < tasks.size(); ++t) {
      const TileTask& tk = tasks[t];
      const int64_t nr = std::min(kTile, seq - tk.row0), nc = std::min(kTile, seq - tk.col0);
      const float* u = unit.data() + tk.matrix * seq * dim;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(nr), static_cast<int>(nc),
                  static_cast<int>(dim), 1.0f, u + tk.row0 * dim, static_cast<int>(dim), u + tk.col0 * dim,
                  static_cast<int>(dim), 0.0f, g.data(), static_cast<int>(nc));
      mine[static_cast<size_t>(tk.matrix)] +=
          count_tile(g.data(), tk.row0, nr, tk.col0, nc, x + tk.matrix * stride, dim, threshold, margin);
    }
#pragma omp critical
    for (int64_t c = 0; c < count; ++c) counts[static_cast<size_t>(c)] += mine[static_cast<size_t>(c)];
  }
  for (int64_t c = 0; c < count; ++c) below[c] = counts[static_cast<size_t>(c)];
}

}  // namespace qk
