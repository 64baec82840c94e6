#include "ops/head_gram_cpu.hpp"

#include <algorithm>
#include <vector>

#include "ops/dot_f64.hpp"

namespace qk {

namespace {

constexpr int64_t kChunk = 4096;  // elements per partial sum: rows of a chunk stay in L2

}  // namespace

void head_gram_cpu(const float* x, int layers, int heads, int64_t n, double* gram) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  const int pairs = heads * (heads + 1) / 2;
  // partial[l][chunk][pair], summed over chunks in a fixed order (deterministic).
  std::vector<double> partial(static_cast<size_t>(layers) * chunks * pairs);
#pragma omp parallel for schedule(static) collapse(2)
  for (int l = 0; l < layers; ++l)
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t e0 = c * kChunk, len = std::min(kChunk, n - e0);
      const float* base = x + static_cast<int64_t>(l) * heads * n + e0;
      double* out = partial.data() + (static_cast<size_t>(l) * chunks + c) * pairs;
      int p = 0;
      for (int i = 0; i < heads; ++i)
        for (int j = i; j < heads; ++j) out[p++] = dot_f64(base + i * n, base + j * n, len);
    }
  for (int l = 0; l < layers; ++l) {
    double* g = gram + static_cast<size_t>(l) * heads * heads;
    int p = 0;
    for (int i = 0; i < heads; ++i)
      for (int j = i; j < heads; ++j, ++p) {
        double s = 0.0;
        for (int64_t c = 0; c < chunks; ++c) s += partial[(static_cast<size_t>(l) * chunks + c) * pairs + p];
        g[i * heads + j] = g[j * heads + i] = s;
      }
  }
}

}  // namespace qk
