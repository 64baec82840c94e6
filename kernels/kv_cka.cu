// Linear CKA between key and value clouds. Per chunk of matrices: column means in
// fp64 (fixed order), rows centred into fp64 scratch, the three dim x dim Grams
// Kc^T Vc, Kc^T Kc, Vc^T Vc by cublasDgemmStridedBatched (fp64, as the CPU twin's
// dgemm), their squared Frobenius norms in fp64 (fixed order), then
// cka = |Kc^T Vc|^2 / (|Kc^T Kc| |Vc^T Vc|), 0 on a zero denominator.
#include "kv_cka.cuh"

#include <algorithm>
#include <climits>
#include <stdexcept>

#include "block_reduce.cuh"
#include "cublas_settings.hpp"
#include "cuda_check.hpp"
#include "gpu_context.hpp"

namespace qk {
namespace {

constexpr size_t kScratchBudget = size_t{512} << 20;  // bytes of scratch per chunk
constexpr int64_t kMaxGridY = 65535;
constexpr int kColX = 32;  // column means: 32 columns x 8 row lanes
constexpr int kColY = 8;
constexpr int kThreads = 256;
constexpr int64_t kMaxCentreBlocks = int64_t{1} << 20;

// mean[cl][d] = (1/seq) sum_i m[i][d] in fp64 for matrix c0 + cl (row lanes ty,
// ty + kColY, ... then the lanes in order).
__global__ void __launch_bounds__(kColX* kColY)
    column_means(const float* __restrict__ src, int64_t stride, int64_t seq, int64_t dim, int64_t c0,
                 double* __restrict__ mean) {
  __shared__ double part[kColY][kColX];
  const int tx = threadIdx.x % kColX, ty = threadIdx.x / kColX;
  const int64_t d = static_cast<int64_t>(blockIdx.x) * kColX + tx;
  const int64_t cl = blockIdx.y;
  const float* m = src + (c0 + cl) * stride;
  double s = 0.0;
  if (d < dim) {
    for (int64_t i = ty; i < seq; i += kColY) s += static_cast<double>(m[i * dim + d]);
  }
  part[ty][tx] = s;
  __syncthreads();
  if (ty == 0 && d < dim) {
    double t = 0.0;
    for (int y = 0; y < kColY; ++y) t += part[y][tx];
    mean[cl * dim + d] = t / static_cast<double>(seq);
  }
}

// out[cl][i][d] = m[i][d] - mean[cl][d] in fp64 for the `nc` matrices from c0.
__global__ void __launch_bounds__(kThreads)
    centre_rows(const float* __restrict__ src, int64_t stride, int64_t seq, int64_t dim, int64_t c0,
                int64_t nc, const double* __restrict__ mean, double* __restrict__ out) {
  const int64_t per = seq * dim, total = nc * per;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * kThreads) {
    const int64_t cl = e / per, r = e % per, d = r % dim;
    out[e] = static_cast<double>(src[(c0 + cl) * stride + r]) - mean[cl * dim + d];
  }
}

// fro[w][cl] = sum of squares (fp64) of Gram w (w = blockIdx.y) of matrix cl = blockIdx.x;
// grams: [3][nc][dim*dim] f64.
__global__ void __launch_bounds__(kThreads)
    gram_fro_sq(const double* __restrict__ grams, int64_t nc, int64_t dd, double* __restrict__ fro) {
  __shared__ double scratch[kThreads / dev::kWarp];
  const int64_t cl = blockIdx.x, w = blockIdx.y;
  const double* g = grams + (w * nc + cl) * dd;
  double s = 0.0;
  for (int64_t e = threadIdx.x; e < dd; e += kThreads) {
    const double v = g[e];
    s += v * v;
  }
  s = dev::block_sum<kThreads>(s, scratch);
  if (threadIdx.x == 0) fro[w * nc + cl] = s;
}

// cka[c0 + cl] = fro[0][cl] / (sqrt(fro[1][cl]) sqrt(fro[2][cl])), 0 on a zero denominator.
__global__ void cka_finalize(const double* __restrict__ fro, int64_t nc, int64_t c0,
                             double* __restrict__ cka) {
  const int64_t cl = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (cl >= nc) return;
  const double kv = fro[cl], kk = fro[nc + cl], vv = fro[2 * nc + cl];
  const double denom = sqrt(kk) * sqrt(vv);
  cka[c0 + cl] = denom > 0.0 ? fmin(1.0, kv / denom) : 0.0;  // <= 1 up to rounding
}

}  // namespace

void launch_kv_cka(cublasHandle_t cublas, const float* k, const float* v, int64_t count, int64_t stride,
                   int64_t seq, int64_t dim, double* cka, cudaStream_t stream) {
  if (count < 0 || stride < 0 || seq < 0 || dim < 0)
    throw std::invalid_argument("launch_kv_cka: negative size");
  if (count == 0) return;
  if (cka == nullptr || cublas == nullptr || (seq > 0 && dim > 0 && (k == nullptr || v == nullptr)))
    throw std::invalid_argument("launch_kv_cka: null pointer or handle");
  if (seq > INT_MAX || dim > INT_MAX)
    throw std::invalid_argument("launch_kv_cka: seq or dim beyond cuBLAS's int range");
  if (seq == 0 || dim == 0) {  // no centred values: every Gram is 0
    CUDA_CHECK(cudaMemsetAsync(cka, 0, static_cast<size_t>(count) * sizeof(double), stream));
    return;
  }

  // Scratch per matrix: two centred clouds, three Grams, two mean vectors, three norms.
  const int64_t per_elems = seq * dim, dd = dim * dim;
  const size_t per_matrix = 2 * static_cast<size_t>(per_elems) * sizeof(double) +
                            3 * static_cast<size_t>(dd) * sizeof(double) +
                            2 * static_cast<size_t>(dim) * sizeof(double) + 3 * sizeof(double);
  const int64_t chunk = std::max<int64_t>(
      1, std::min<int64_t>({count, kMaxGridY, static_cast<int64_t>(kScratchBudget / per_matrix)}));
  DeviceBuffer<double> kc(static_cast<size_t>(chunk * per_elems), stream);
  DeviceBuffer<double> vc(static_cast<size_t>(chunk * per_elems), stream);
  DeviceBuffer<double> grams(static_cast<size_t>(3 * chunk * dd), stream);
  DeviceBuffer<double> kmean(static_cast<size_t>(chunk * dim), stream);
  DeviceBuffer<double> vmean(static_cast<size_t>(chunk * dim), stream);
  DeviceBuffer<double> fro(static_cast<size_t>(3 * chunk), stream);

  CublasSettings settings(cublas, stream);
  const double one = 1.0, zero = 0.0;
  const int n_dim = static_cast<int>(dim), n_seq = static_cast<int>(seq);

  for (int64_t c0 = 0; c0 < count; c0 += chunk) {
    const int64_t nc = std::min(chunk, count - c0);
    const dim3 col_grid(static_cast<unsigned>((dim + kColX - 1) / kColX), static_cast<unsigned>(nc));
    column_means<<<col_grid, kColX * kColY, 0, stream>>>(k, stride, seq, dim, c0, kmean.data());
    QK_LAUNCH_CHECK();
    column_means<<<col_grid, kColX * kColY, 0, stream>>>(v, stride, seq, dim, c0, vmean.data());
    QK_LAUNCH_CHECK();
    const int centre_blocks =
        static_cast<int>(std::min<int64_t>((nc * per_elems + kThreads - 1) / kThreads, kMaxCentreBlocks));
    centre_rows<<<centre_blocks, kThreads, 0, stream>>>(k, stride, seq, dim, c0, nc, kmean.data(), kc.data());
    QK_LAUNCH_CHECK();
    centre_rows<<<centre_blocks, kThreads, 0, stream>>>(v, stride, seq, dim, c0, nc, vmean.data(), vc.data());
    QK_LAUNCH_CHECK();

    // Row-major [seq][dim] is column-major dim x seq (A = X^T, lda = dim), so the
    // Gram X^T Y is A_X * A_Y^T: op N on the first operand, op T on the second.
    const double* lhs[3] = {kc.data(), kc.data(), vc.data()};
    const double* rhs[3] = {vc.data(), kc.data(), vc.data()};
    for (int w = 0; w < 3; ++w) {
      CUBLAS_CHECK(cublasDgemmStridedBatched(cublas, CUBLAS_OP_N, CUBLAS_OP_T, n_dim, n_dim, n_seq, &one,
                                             lhs[w], n_dim, per_elems, rhs[w], n_dim, per_elems, &zero,
                                             grams.data() + w * nc * dd, n_dim, dd, static_cast<int>(nc)));
    }

    const dim3 fro_grid(static_cast<unsigned>(nc), 3u);
    gram_fro_sq<<<fro_grid, kThreads, 0, stream>>>(grams.data(), nc, dd, fro.data());
    QK_LAUNCH_CHECK();
    const int fin_threads = 128;
    const int fin_blocks = static_cast<int>((nc + fin_threads - 1) / fin_threads);
    cka_finalize<<<fin_blocks, fin_threads, 0, stream>>>(fro.data(), nc, c0, cka);
    QK_LAUNCH_CHECK();
  }
}

}  // namespace qk
