// The GPU twins of layer_static_cpu and operator_gram_cpu (docs/static-geometry.md,
// "GPU path"): f32 weights uploaded and widened to fp64 on the device, every Gram and
// product by cuBLAS fp64 GEMMs, every symmetric eigenproblem by cusolverDnXsyevBatched
// (chunked so that n * lda * batch <= INT32_MAX), the block reductions by
// launch_block_product_sum (kernels/static_gram.cu). Only the small results come back;
// ordering and normalisation happen here. Compiled by the host C++ compiler (no nvcc).
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cusolverDn.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "cublas_settings.hpp"
#include "gpu_context.hpp"
#include "static_gpu.hpp"
#include "static_gram.cuh"

namespace qk {
namespace {

constexpr double kEps64 = 2.220446049250313e-16;  // 2^-52
constexpr int64_t kInt32Max = INT_MAX;

void check_dims(const StaticDims& s, const char* who, bool check_topk) {
  const std::string w(who);
  if (s.q_heads <= 0 || s.kv_heads <= 0 || s.head_dim <= 0 || s.hidden <= 0)
    throw std::invalid_argument(w + ": q_heads, kv_heads, head_dim and hidden must be > 0");
  if (s.q_heads % s.kv_heads != 0)
    throw std::invalid_argument(w + ": q_heads (" + std::to_string(s.q_heads) +
                                ") is not a multiple of kv_heads (" +
                                std::to_string(s.kv_heads) + ")");
  if (check_topk && (s.topk < 0 || s.topk > 2 * s.head_dim))
    throw std::invalid_argument(w + ": topk " + std::to_string(s.topk) + " outside [0, " +
                                std::to_string(2 * s.head_dim) + "]");
  // cuBLAS takes int sizes and batch counts; cuSOLVER's batched syev wants n*n <= INT32_MAX.
  if (s.hidden > kInt32Max || s.q_heads > kInt32Max || 2 * s.head_dim > 46340)
    throw std::invalid_argument(w + ": dimensions beyond the cuBLAS/cuSOLVER int range");
}

// C_c = alpha op(A_c) op(B_c) + beta C_c for c < batch (column-major, fp64).
void gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int64_t m, int64_t n,
          int64_t k, double alpha, const double* a, int64_t lda, int64_t stride_a,
          const double* b, int64_t ldb, int64_t stride_b, double beta, double* c, int64_t ldc,
          int64_t stride_c, int64_t batch) {
  if (m > kInt32Max || n > kInt32Max || k > kInt32Max || lda > kInt32Max || ldb > kInt32Max ||
      ldc > kInt32Max || batch > kInt32Max)
    throw std::invalid_argument("static GPU path: GEMM size beyond cuBLAS's int range");
  if (m == 0 || n == 0 || batch == 0) return;
  CUBLAS_CHECK(cublasDgemmStridedBatched(
      h, ta, tb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), &alpha, a,
      static_cast<int>(lda), stride_a, b, static_cast<int>(ldb), stride_b, &beta, c,
      static_cast<int>(ldc), stride_c, static_cast<int>(batch)));
}

// Batched symmetric eigensolver (lower triangle, eigenvalues ascending) on the context's
// cuSOLVER handle: cusolverDnXsyevBatched in chunks with n * n * chunk <= INT32_MAX.
// Throws when a matrix does not converge.
class SyevBatched {
 public:
  SyevBatched(cusolverDnHandle_t h, cudaStream_t stream) : h_(h), stream_(stream) {
    CUSOLVER_CHECK(cusolverDnCreateParams(&params_));
  }
  ~SyevBatched() {
    if (params_ != nullptr) CUSOLVER_CHECK_NOTHROW(cusolverDnDestroyParams(params_));
  }
  SyevBatched(const SyevBatched&) = delete;
  SyevBatched& operator=(const SyevBatched&) = delete;

  // a: device count n x n matrices (lda = n), overwritten (eigenvectors with `vectors`);
  // w: device count * n eigenvalues, ascending per matrix.
  void run(bool vectors, int64_t n, double* a, double* w, int64_t count, const char* what) {
    if (n <= 0 || count <= 0) return;
    const int64_t per = n * n;
    if (per > kInt32Max) throw std::invalid_argument("syevBatched: n * n beyond INT32_MAX");
    const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(count, kInt32Max / per));
    const cusolverEigMode_t jobz = vectors ? CUSOLVER_EIG_MODE_VECTOR : CUSOLVER_EIG_MODE_NOVECTOR;
    DeviceBuffer<int> info(static_cast<size_t>(chunk), stream_);
    DeviceBuffer<unsigned char> dwork;
    std::vector<unsigned char> hwork;
    std::vector<int> hinfo(static_cast<size_t>(chunk));
    for (int64_t c0 = 0; c0 < count; c0 += chunk) {
      const int64_t nc = std::min(chunk, count - c0);
      double* ac = a + c0 * per;
      double* wc = w + c0 * n;
      size_t dev_bytes = 0, host_bytes = 0;
      const cusolverStatus_t probe = cusolverDnXsyevBatched_bufferSize(
          h_, params_, jobz, CUBLAS_FILL_MODE_LOWER, n, CUDA_R_64F, ac, n, CUDA_R_64F, wc,
          CUDA_R_64F, &dev_bytes, &host_bytes, nc);
      if (probe == CUSOLVER_STATUS_NOT_SUPPORTED || probe == CUSOLVER_STATUS_INVALID_VALUE) {
        // This cuSOLVER refuses the batched routine for this size: one Xsyevd per matrix.
        run_one_by_one(jobz, n, ac, wc, nc, info, dwork, hwork, hinfo);
      } else {
        CUSOLVER_CHECK(probe);
        if (dev_bytes > dwork.size()) dwork = DeviceBuffer<unsigned char>(dev_bytes, stream_);
        if (host_bytes > hwork.size()) hwork.resize(host_bytes);
        CUSOLVER_CHECK(cusolverDnXsyevBatched(
            h_, params_, jobz, CUBLAS_FILL_MODE_LOWER, n, CUDA_R_64F, ac, n, CUDA_R_64F, wc,
            CUDA_R_64F, dwork.data(), dwork.size(), hwork.empty() ? nullptr : hwork.data(),
            hwork.size(), info.data(), nc));
        info.download(hinfo.data(), static_cast<size_t>(nc));  // waits: hwork stays valid
      }
      for (int64_t i = 0; i < nc; ++i)
        if (hinfo[static_cast<size_t>(i)] != 0)
          throw std::runtime_error(std::string("static GPU path: symmetric eigensolver (") +
                                   what + ", n = " + std::to_string(n) + ") failed on matrix " +
                                   std::to_string(c0 + i) + ", info = " +
                                   std::to_string(hinfo[static_cast<size_t>(i)]));
    }
  }

 private:
  // Matrices [0, nc) of ac/wc by cusolverDnXsyevd, their info codes in hinfo[0, nc).
  void run_one_by_one(cusolverEigMode_t jobz, int64_t n, double* ac, double* wc, int64_t nc,
                      DeviceBuffer<int>& info,
                      DeviceBuffer<unsigned char>& dwork, std::vector<unsigned char>& hwork,
                      std::vector<int>& hinfo) {
    size_t dev_bytes = 0, host_bytes = 0;
    CUSOLVER_CHECK(cusolverDnXsyevd_bufferSize(h_, params_, jobz, CUBLAS_FILL_MODE_LOWER, n,
                                               CUDA_R_64F, ac, n, CUDA_R_64F, wc, CUDA_R_64F,
                                               &dev_bytes, &host_bytes));
    if (dev_bytes > dwork.size()) dwork = DeviceBuffer<unsigned char>(dev_bytes, stream_);
    if (host_bytes > hwork.size()) hwork.resize(host_bytes);
    for (int64_t i = 0; i < nc; ++i) {
      CUSOLVER_CHECK(cusolverDnXsyevd(h_, params_, jobz, CUBLAS_FILL_MODE_LOWER, n, CUDA_R_64F,
                                      ac + i * n * n, n, CUDA_R_64F, wc + i * n, CUDA_R_64F,
                                      dwork.data(), dwork.size(),
                                      hwork.empty() ? nullptr : hwork.data(), hwork.size(),
                                      info.data() + i));
      // The host workspace is reused by the next call: wait for this one.
      if (!hwork.empty()) CUDA_CHECK(cudaStreamSynchronize(stream_));
    }
    info.download(hinfo.data(), static_cast<size_t>(nc));
  }

  cusolverDnHandle_t h_;
  cudaStream_t stream_;
  cusolverDnParams_t params_ = nullptr;
};

template <typename T>
std::vector<T> download(const DeviceBuffer<T>& buf, size_t n) {
  std::vector<T> h(n);
  buf.download(h.data(), n);
  return h;
}

// Per matrix c of `count` ascending eigenvalue lists of length n: sqrt(max(x, 0)), descending.
std::vector<double> sqrt_descending(const std::vector<double>& asc, int64_t n, int64_t count) {
  std::vector<double> out(static_cast<size_t>(n * count));
  for (int64_t c = 0; c < count; ++c) {
    for (int64_t i = 0; i < n; ++i)
      out[static_cast<size_t>(c * n + i)] =
          std::sqrt(std::max(asc[static_cast<size_t>(c * n + n - 1 - i)], 0.0));
    std::sort(out.begin() + c * n, out.begin() + (c + 1) * n, std::greater<double>());
  }
  return out;
}

}  // namespace

LayerStatic layer_static_gpu(const float* wq, const float* wk, const StaticDims& dims,
                             int device) {
  check_dims(dims, "layer_static_gpu", true);
  if (wq == nullptr || wk == nullptr)
    throw std::invalid_argument("layer_static_gpu: null weights");
  const int64_t hq = dims.q_heads, hkv = dims.kv_heads, grp = dims.group();
  const int64_t dh = dims.head_dim, hid = dims.hidden, n2 = 2 * dh, topk = dims.topk;
  const int64_t dd = dh * dh, nn = n2 * n2, qs = dh * hid;  // qs: one head's weights

  ScopedDevice on_device(device);
  GpuContext& ctx = thread_gpu_context(device);
  const cudaStream_t stream = ctx.stream();
  const cublasHandle_t cb = ctx.cublas();
  CublasSettings guard(cb, stream);
  SyevBatched syev(ctx.cusolver(), stream);
  const cublasOperation_t T = CUBLAS_OP_T, N = CUBLAS_OP_N;

  // Weights, widened: head h's Q^T is the hidden x d column-major matrix at xq + h * qs.
  const size_t nq = static_cast<size_t>(hq * qs), nk = static_cast<size_t>(hkv * qs);
  DeviceBuffer<double> xq(nq, stream), xk(nk, stream);
  {
    DeviceBuffer<float> stage(std::max(nq, nk), stream);
    stage.upload(wq, nq);
    launch_widen_f32_f64(stage.data(), static_cast<int64_t>(nq), xq.data(), stream);
    stage.upload(wk, nk);
    launch_widen_f32_f64(stage.data(), static_cast<int64_t>(nk), xk.data(), stream);
  }

  // G_K per group; M M^T = [[G_Q, Q K^T], [K Q^T, G_K]] per query head (2d x 2d).
  DeviceBuffer<double> gk(static_cast<size_t>(hkv * dd), stream);
  DeviceBuffer<double> mm(static_cast<size_t>(hq * nn), stream);
  gemm(cb, T, N, dh, dh, hid, 1.0, xk.data(), hid, qs, xk.data(), hid, qs, 0.0, gk.data(), dh,
       dd, hkv);
  // Query head h = g * grp + r: one strided batch over groups g per r.
  for (int64_t r = 0; r < grp; ++r) {
    const double* qh = xq.data() + r * qs;
    const int64_t sq = grp * qs, sm = grp * nn;
    double* m = mm.data() + r * nn;
    gemm(cb, T, N, dh, dh, hid, 1.0, qh, hid, sq, qh, hid, sq, 0.0, m, n2, sm, hkv);  // G_Q
    gemm(cb, T, N, dh, dh, hid, 1.0, xk.data(), hid, qs, qh, hid, sq, 0.0, m + dh, n2, sm,
         hkv);  // K Q^T
    gemm(cb, T, N, dh, dh, hid, 1.0, qh, hid, sq, xk.data(), hid, qs, 0.0, m + dh * n2, n2, sm,
         hkv);  // Q K^T
    gemm(cb, T, N, dh, dh, hid, 1.0, xk.data(), hid, qs, xk.data(), hid, qs, 0.0,
         m + dh * n2 + dh, n2, sm, hkv);  // G_K
  }

  // fro_sq = <G_Q, G_K>_F, fro_sq_shortcut = <P, P>_F with P = K Q^T.
  DeviceBuffer<double> fro(static_cast<size_t>(hq), stream), fro_sc(static_cast<size_t>(hq), stream);
  launch_block_product_sum(mm.data(), n2, nn, gk.data(), dh, dd, grp, hq, 1, dh, fro.data(), 1,
                           stream);
  launch_block_product_sum(mm.data() + dh, n2, nn, mm.data() + dh, n2, nn, 1, hq, 1, dh,
                           fro_sc.data(), 1, stream);

  // Shortcut: eigenvalues of P^T P (squared singular values of K Q^T).
  DeviceBuffer<double> ptp(static_cast<size_t>(hq * dd), stream);
  gemm(cb, T, N, dh, dh, dh, 1.0, mm.data() + dh, n2, nn, mm.data() + dh, n2, nn, 0.0,
       ptp.data(), dh, dd, hq);

  // Exact: G_K = U diag(e) U^T, L_K = U diag(sqrt e); eigenvalues of L_K^T G_Q L_K.
  DeviceBuffer<double> ek(static_cast<size_t>(hkv * dh), stream);
  DeviceBuffer<double> lk(static_cast<size_t>(hkv * dd), stream);
  syev.run(true, dh, gk.data(), ek.data(), hkv, "G_K");
  launch_sqrt_scale_columns(gk.data(), ek.data(), dh, hkv, 0.0, lk.data(), nullptr, stream);
  DeviceBuffer<double> tmp(static_cast<size_t>(hq * dd), stream), tm(static_cast<size_t>(hq * dd), stream);
  for (int64_t r = 0; r < grp; ++r) {
    gemm(cb, N, N, dh, dh, dh, 1.0, mm.data() + r * nn, n2, grp * nn, lk.data(), dh, dd, 0.0,
         tmp.data() + r * dd, dh, grp * dd, hkv);  // G_Q L_K
    gemm(cb, T, N, dh, dh, dh, 1.0, lk.data(), dh, dd, tmp.data() + r * dd, dh, grp * dd, 0.0,
         tm.data() + r * dd, dh, grp * dd, hkv);  // L_K^T G_Q L_K
  }
  DeviceBuffer<double> ex(static_cast<size_t>(hq * dh), stream), es(static_cast<size_t>(hq * dh), stream);
  syev.run(false, dh, tm.data(), ex.data(), hq, "L_K^T G_Q L_K");
  syev.run(false, dh, ptp.data(), es.data(), hq, "(K Q^T)^T (K Q^T)");

  // Symmetric part: M M^T = V diag(w) V^T, F = V diag(sqrt w), C = F^T J F / 2.
  DeviceBuffer<double> wm(static_cast<size_t>(hq * n2), stream), inv(static_cast<size_t>(hq * n2), stream);
  DeviceBuffer<double> f(static_cast<size_t>(hq * nn), stream), c(static_cast<size_t>(hq * nn), stream);
  DeviceBuffer<double> lam(static_cast<size_t>(hq * n2), stream);
  syev.run(true, n2, mm.data(), wm.data(), hq, "M M^T");  // mm now holds V
  // The CPU path's rank tolerance: w > 8 * 2d * DBL_EPSILON * max w is kept.
  launch_sqrt_scale_columns(mm.data(), wm.data(), n2, hq, 8.0 * static_cast<double>(n2) * kEps64,
                            f.data(), inv.data(), stream);
  gemm(cb, T, N, n2, n2, dh, 0.5, f.data(), n2, nn, f.data() + dh, n2, nn, 0.0, c.data(), n2,
       nn, hq);  // F_top^T F_bot / 2
  gemm(cb, T, N, n2, n2, dh, 0.5, f.data() + dh, n2, nn, f.data(), n2, nn, 1.0, c.data(), n2,
       nn, hq);  // + F_bot^T F_top / 2
  syev.run(topk > 0, n2, c.data(), lam.data(), hq, "F^T J F / 2");  // c holds Y with topk > 0

  LayerStatic out;
  const std::vector<double> lam_h = download(lam, static_cast<size_t>(hq * n2));
  out.sym_eig.resize(static_cast<size_t>(hq * n2));
  std::vector<int> order_all(static_cast<size_t>(hq * n2));
  for (int64_t h = 0; h < hq; ++h) {
    int* ord = order_all.data() + h * n2;
    const double* lh = lam_h.data() + h * n2;
    std::iota(ord, ord + n2, 0);
    // By magnitude, descending, stable over the ascending solver order (as the CPU path:
    // equal magnitudes keep the negative value first).
    std::stable_sort(ord, ord + n2, [lh](int a, int b) { return std::fabs(lh[a]) > std::fabs(lh[b]); });
    for (int64_t i = 0; i < n2; ++i) out.sym_eig[static_cast<size_t>(h * n2 + i)] = lh[ord[i]];
  }

  out.sym_vec.assign(static_cast<size_t>(hq * topk * hid), 0.0f);
  if (topk > 0) {
    std::vector<int> idx(static_cast<size_t>(hq * topk));
    for (int64_t h = 0; h < hq; ++h)
      for (int64_t j = 0; j < topk; ++j)
        idx[static_cast<size_t>(h * topk + j)] = order_all[static_cast<size_t>(h * n2 + j)];
    DeviceBuffer<int> didx(idx.size(), stream);
    didx.upload(idx.data(), idx.size());
    // Z = V diag(w^-1/2) Y_sel (2d x topk); hidden vectors H = Q^T Z_top + K^T Z_bot.
    const int64_t nk2 = n2 * topk, hk = hid * topk;
    DeviceBuffer<double> ysel(static_cast<size_t>(hq * nk2), stream), z(static_cast<size_t>(hq * nk2), stream);
    DeviceBuffer<double> hv(static_cast<size_t>(hq * hk), stream);
    launch_gather_scale_columns(c.data(), didx.data(), inv.data(), n2, topk, hq, ysel.data(),
                                stream);
    gemm(cb, N, N, n2, topk, n2, 1.0, mm.data(), n2, nn, ysel.data(), n2, nk2, 0.0, z.data(), n2,
         nk2, hq);
    for (int64_t r = 0; r < grp; ++r) {
      gemm(cb, N, N, hid, topk, dh, 1.0, xq.data() + r * qs, hid, grp * qs, z.data() + r * nk2,
           n2, grp * nk2, 0.0, hv.data() + r * hk, hid, grp * hk, hkv);
      gemm(cb, N, N, hid, topk, dh, 1.0, xk.data(), hid, qs, z.data() + r * nk2 + dh, n2,
           grp * nk2, 1.0, hv.data() + r * hk, hid, grp * hk, hkv);
    }
    const std::vector<double> hv_h = download(hv, static_cast<size_t>(hq * hk));
    for (int64_t v = 0; v < hq * topk; ++v) {  // [Hq][topk][hidden]: unit vectors, fp64 norm
      const double* src = hv_h.data() + v * hid;
      double ss = 0.0;
      for (int64_t p = 0; p < hid; ++p) ss += src[p] * src[p];
      const double scale = ss > 0.0 ? 1.0 / std::sqrt(ss) : 0.0;
      float* dst = out.sym_vec.data() + v * hid;
      for (int64_t p = 0; p < hid; ++p) dst[p] = static_cast<float>(src[p] * scale);
    }
  }

  out.exact_sv = sqrt_descending(download(ex, static_cast<size_t>(hq * dh)), dh, hq);
  out.shortcut_sv = sqrt_descending(download(es, static_cast<size_t>(hq * dh)), dh, hq);
  out.fro_sq = download(fro, static_cast<size_t>(hq));
  out.fro_sq_shortcut = download(fro_sc, static_cast<size_t>(hq));
  return out;
}

std::vector<double> operator_gram_gpu(const std::vector<const float*>& wq,
                                      const std::vector<const float*>& wk,
                                      const StaticDims& dims, int device) {
  check_dims(dims, "operator_gram_gpu", false);  // topk is not used here
  const int64_t nl = dims.layers;
  if (nl < 0 || static_cast<int64_t>(wq.size()) != nl || static_cast<int64_t>(wk.size()) != nl)
    throw std::invalid_argument("operator_gram_gpu: wq and wk must hold layers (" +
                                std::to_string(nl) + ") pointers each");
  for (int64_t l = 0; l < nl; ++l)
    if (wq[static_cast<size_t>(l)] == nullptr || wk[static_cast<size_t>(l)] == nullptr)
      throw std::invalid_argument("operator_gram_gpu: null weights for layer " +
                                  std::to_string(l));
  const int64_t hq = dims.q_heads, hkv = dims.kv_heads, grp = dims.group();
  const int64_t dh = dims.head_dim, hid = dims.hidden, qs = dh * hid, ld = nl * dh;
  if (nl == 0) return {};
  if (ld > kInt32Max || nl * nl > kInt32Max)
    throw std::invalid_argument("operator_gram_gpu: layers * head_dim beyond cuBLAS's int range");

  ScopedDevice on_device(device);
  GpuContext& ctx = thread_gpu_context(device);
  const cudaStream_t stream = ctx.stream();
  const cublasHandle_t cb = ctx.cublas();
  CublasSettings guard(cb, stream);

  // One stack at a time: rows of one head (or KV group) over all layers, [L][d][hidden],
  // i.e. the hidden x (L d) column-major matrix X with X^T X the stacked Gram.
  const size_t stack = static_cast<size_t>(nl * qs);
  DeviceBuffer<float> stage(stack, stream);
  DeviceBuffer<double> x(stack, stream);
  DeviceBuffer<double> a(static_cast<size_t>(ld * ld), stream), b(static_cast<size_t>(ld * ld), stream);
  DeviceBuffer<double> gram(static_cast<size_t>(nl * nl * hq), stream);
  const size_t head_bytes = static_cast<size_t>(qs) * sizeof(float);

  auto stacked_gram = [&](const std::vector<const float*>& w, int64_t head, double* out) {
    for (int64_t l = 0; l < nl; ++l)
      CUDA_CHECK(cudaMemcpyAsync(stage.data() + l * qs, w[static_cast<size_t>(l)] + head * qs,
                                 head_bytes, cudaMemcpyHostToDevice, stream));
    launch_widen_f32_f64(stage.data(), static_cast<int64_t>(stack), x.data(), stream);
    gemm(cb, CUBLAS_OP_T, CUBLAS_OP_N, ld, ld, hid, 1.0, x.data(), hid, 0, x.data(), hid, 0,
         0.0, out, ld, 0, 1);
  };

  for (int64_t g = 0; g < hkv; ++g) {
    stacked_gram(wk, g, b.data());  // the group's K stacked over layers
    for (int64_t r = 0; r < grp; ++r) {
      const int64_t h = g * grp + r;
      stacked_gram(wq, h, a.data());
      // gram[l][l'][h] = sum of the (l, l') d x d block of A .* B.
      launch_block_product_sum(a.data(), ld, 0, b.data(), ld, 0, 1, 1, nl, dh, gram.data() + h,
                               hq, stream);
    }
  }
  std::vector<double> out(static_cast<size_t>(nl * nl * hq));
  gram.download(out.data(), out.size());
  return out;
}

}  // namespace qk
