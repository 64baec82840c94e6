#include "ops/layer_alignment_cpu.hpp"

#include <algorithm>
#include <vector>

#include "ops/head_mean_chunk.hpp"
#include "seed_math.hpp"

namespace qk {

namespace {
constexpr int64_t kChunk = 8192;  // elements of the head-mean per partial sum
}

void layer_alignment_cpu(const float* x, int layers, int heads, int64_t n, bool seed_f32_mean, double* cos) {
  if (layers < 2) return;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  // Per chunk: dot(mean_l, mean_{l+1}) for l < layers-1, then |mean_l|^2 for all l.
  const int width = 2 * layers - 1;
  std::vector<double> partial(static_cast<size_t>(chunks) * width, 0.0);
#pragma omp parallel
  {
    std::vector<double> prev(kChunk), cur(kChunk);
#pragma omp for schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t e0 = c * kChunk, len = std::min(kChunk, n - e0);
      double* out = partial.data() + c * width;
      for (int l = 0; l < layers; ++l) {
        const float* base = x + static_cast<int64_t>(l) * heads * n + e0;
        out[layers - 1 + l] =
            head_mean_chunk(base, heads, n, len, seed_f32_mean, l > 0 ? prev.data() : nullptr, cur.data(),
                            &out[l > 0 ? l - 1 : 0]);
        std::swap(prev, cur);
      }
    }
  }
  std::vector<double> total(width, 0.0);
  for (int64_t c = 0; c < chunks; ++c)
    for (int w = 0; w < width; ++w) total[w] += partial[c * width + w];
  for (int l = 0; l + 1 < layers; ++l)
    cos[l] = cosine_from_gram(total[l], total[layers - 1 + l], total[layers + l]);
}

}  // namespace qk
