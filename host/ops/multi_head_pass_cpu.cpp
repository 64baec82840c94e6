#include "ops/multi_head_pass_cpu.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/dot_f64.hpp"
#include "ops/head_mean_chunk.hpp"
#include "seed_math.hpp"

namespace qk {

namespace {
constexpr int64_t kChunkElems = 4096;  // target elements per head and chunk (fits L2 with all heads)
}

void multi_head_pass_cpu(const float* x, int layers, int heads, int64_t seq, int64_t dim, bool seed_f32_mean,
                         double* gram, double* entropy, double* cos) {
  const int64_t n = seq * dim;
  const int64_t rows = std::max<int64_t>(1, kChunkElems / dim);  // positions per chunk
  const int64_t chunks = (seq + rows - 1) / rows;
  const int pairs = heads * (heads + 1) / 2;
  // Per chunk c: [layers][pairs] Gram partials, [layers][heads][2] entropy sums,
  // [2*layers-1] alignment sums (dots of adjacent means, then squared norms).
  const int64_t width = static_cast<int64_t>(layers) * pairs + 2LL * layers * heads + 2 * layers - 1;
  std::vector<double> partial(static_cast<size_t>(chunks * width), 0.0);
#pragma omp parallel
  {
    std::vector<double> prev(static_cast<size_t>(rows * dim)), cur(prev.size());
#pragma omp for schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t r0 = c * rows, nr = std::min(rows, seq - r0), len = nr * dim;
      double* out = partial.data() + c * width;
      double* g_out = out;
      double* e_out = out + static_cast<int64_t>(layers) * pairs;
      double* a_out = e_out + 2LL * layers * heads;
      for (int l = 0; l < layers; ++l) {
        const float* base = x + static_cast<int64_t>(l) * heads * n + r0 * dim;
        int p = 0;
        for (int i = 0; i < heads; ++i)
          for (int j = i; j < heads; ++j) g_out[l * pairs + p++] = dot_f64(base + i * n, base + j * n, len);
        for (int h = 0; h < heads; ++h) {
          double total = 0.0, mlogm = 0.0;
          for (int64_t r = 0; r < nr; ++r) {
            const double mag = std::sqrt(dot_f64(base + h * n + r * dim, base + h * n + r * dim, dim));
            total += mag;
            if (mag > 0.0) mlogm += mag * std::log(mag);
          }
          e_out[2 * (l * heads + h)] = total;
          e_out[2 * (l * heads + h) + 1] = mlogm;
        }
        a_out[layers - 1 + l] =
            head_mean_chunk(base, heads, n, len, seed_f32_mean, l > 0 ? prev.data() : nullptr, cur.data(),
                            &a_out[l > 0 ? l - 1 : 0]);
        std::swap(prev, cur);
      }
    }
  }
  std::vector<double> total(static_cast<size_t>(width), 0.0);
  for (int64_t c = 0; c < chunks; ++c)
    for (int64_t w = 0; w < width; ++w) total[w] += partial[c * width + w];
  const double* g_tot = total.data();
  const double* e_tot = g_tot + static_cast<int64_t>(layers) * pairs;
  const double* a_tot = e_tot + 2LL * layers * heads;
  for (int l = 0; l < layers; ++l) {
    double* g = gram + static_cast<int64_t>(l) * heads * heads;
    int p = 0;
    for (int i = 0; i < heads; ++i)
      for (int j = i; j < heads; ++j, ++p) g[i * heads + j] = g[j * heads + i] = g_tot[l * pairs + p];
    for (int h = 0; h < heads; ++h)
      entropy[l * heads + h] =
          normalized_entropy_from_sums(e_tot[2 * (l * heads + h)], e_tot[2 * (l * heads + h) + 1], seq);
  }
  for (int l = 0; l + 1 < layers; ++l)
    cos[l] = cosine_from_gram(a_tot[l], a_tot[layers - 1 + l], a_tot[layers + l]);
}

double multi_head_alignment_pair_cpu(const float* prev, const float* cur, int heads, int64_t seq, int64_t dim,
                                     bool seed_f32_mean) {
  const int64_t n = seq * dim;
  const int64_t rows = std::max<int64_t>(1, kChunkElems / dim);
  const int64_t chunks = (seq + rows - 1) / rows;
  // Per chunk: dot of the two head means, |mean_prev|^2, |mean_cur|^2.
  std::vector<double> partial(static_cast<size_t>(chunks * 3), 0.0);
#pragma omp parallel
  {
    std::vector<double> a(static_cast<size_t>(rows * dim)), b(a.size());
#pragma omp for schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t r0 = c * rows, len = std::min(rows, seq - r0) * dim;
      double* out = partial.data() + c * 3;
      out[1] = head_mean_chunk(prev + r0 * dim, heads, n, len, seed_f32_mean, nullptr, a.data(), nullptr);
      out[2] = head_mean_chunk(cur + r0 * dim, heads, n, len, seed_f32_mean, a.data(), b.data(), &out[0]);
    }
  }
  double total[3] = {0.0, 0.0, 0.0};
  for (int64_t c = 0; c < chunks; ++c)
    for (int w = 0; w < 3; ++w) total[w] += partial[c * 3 + w];
  return cosine_from_gram(total[0], total[1], total[2]);
}

}  // namespace qk
