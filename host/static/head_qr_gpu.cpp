// The device side of head_qr.hpp (head_qr_gpu.hpp): B^T of every query head on the device,
// its Householder QR, and the fp64 GEMM wrapper of the static GPU twins.
#include "head_qr_gpu.hpp"

#include <algorithm>
#include <climits>
#include <stdexcept>
#include <string>

#include "cublas_settings.hpp"
#include "static_gram.cuh"

namespace qk {
namespace sgpu {

namespace {

constexpr int64_t kInt32Max = INT_MAX;

// Uploads the f32 weights, widens them to fp64 and lays out every query head's B^T.
void upload_heads(LayerGpu& s, const float* wq, const float* wk, int64_t hkv) {
  const int64_t qs = s.dh * s.hid, grp = s.hq / hkv;  // qs: one head's weights
  const size_t nq = static_cast<size_t>(s.hq * qs), nk = static_cast<size_t>(hkv * qs);
  DeviceBuffer<double> xq(nq, s.stream), xk(nk, s.stream);
  {
    DeviceBuffer<float> stage(std::max(nq, nk), s.stream);
    stage.upload(wq, nq);
    launch_widen_f32_f64(stage.data(), static_cast<int64_t>(nq), xq.data(), s.stream);
    stage.upload(wk, nk);
    launch_widen_f32_f64(stage.data(), static_cast<int64_t>(nk), xk.data(), s.stream);
  }
  const size_t bytes = static_cast<size_t>(qs) * sizeof(double);
  for (int64_t h = 0; h < s.hq; ++h) {  // head h's Q^T, then its group's K^T
    double* dst = s.bt.data() + h * 2 * qs;
    CUDA_CHECK(cudaMemcpyAsync(dst, xq.data() + h * qs, bytes, cudaMemcpyDeviceToDevice, s.stream));
    CUDA_CHECK(
        cudaMemcpyAsync(dst + qs, xk.data() + (h / grp) * qs, bytes, cudaMemcpyDeviceToDevice, s.stream));
  }
}

}  // namespace

void check_dims(const StaticDims& s, const char* who, bool check_topk) {
  const std::string w(who);
  if (s.q_heads <= 0 || s.kv_heads <= 0 || s.head_dim <= 0 || s.hidden <= 0)
    throw std::invalid_argument(w + ": q_heads, kv_heads, head_dim and hidden must be > 0");
  if (s.q_heads % s.kv_heads != 0)
    throw std::invalid_argument(w + ": q_heads (" + std::to_string(s.q_heads) +
                                ") is not a multiple of kv_heads (" + std::to_string(s.kv_heads) + ")");
  if (check_topk && (s.topk < 0 || s.topk > 2 * s.head_dim))
    throw std::invalid_argument(w + ": topk " + std::to_string(s.topk) + " outside [0, " +
                                std::to_string(2 * s.head_dim) + "]");
  // cuBLAS takes int sizes and batch counts; cuSOLVER's batched syev wants n*n <= INT32_MAX.
  if (s.hidden > kInt32Max || s.q_heads > kInt32Max || 2 * s.head_dim > 46340)
    throw std::invalid_argument(w + ": dimensions beyond the cuBLAS/cuSOLVER int range");
}

// C_c = alpha op(A_c) op(B_c) + beta C_c for c < batch (column-major, fp64).
void gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int64_t m, int64_t n, int64_t k,
          double alpha, const double* a, int64_t lda, int64_t stride_a, const double* b, int64_t ldb,
          int64_t stride_b, double beta, double* c, int64_t ldc, int64_t stride_c, int64_t batch) {
  if (m > kInt32Max || n > kInt32Max || k > kInt32Max || lda > kInt32Max || ldb > kInt32Max ||
      ldc > kInt32Max || batch > kInt32Max)
    throw std::invalid_argument("static GPU path: GEMM size beyond cuBLAS's int range");
  if (m == 0 || n == 0 || batch == 0) return;
  CUBLAS_CHECK(cublasDgemmStridedBatched(h, ta, tb, static_cast<int>(m), static_cast<int>(n),
                                         static_cast<int>(k), &alpha, a, static_cast<int>(lda), stride_a, b,
                                         static_cast<int>(ldb), stride_b, &beta, c, static_cast<int>(ldc),
                                         stride_c, static_cast<int>(batch)));
}

void with_layer_gpu(const float* wq, const float* wk, const StaticDims& dims, int device,
                    const std::function<void(LayerGpu&)>& fn) {
  const int64_t hq = dims.q_heads, dh = dims.head_dim, hid = dims.hidden, n2 = 2 * dh;
  const int64_t p = std::min(hid, n2);  // rows of R
  ScopedDevice on_device(device);
  GpuContext& ctx = thread_gpu_context(device);
  const cudaStream_t stream = ctx.stream();
  CublasSettings guard(ctx.cublas(), stream);
  DenseSolver solver(ctx.cusolver(), stream);
  LayerGpu s{ctx.cublas(),
             solver,
             stream,
             hq,
             dh,
             hid,
             n2,
             p,
             DeviceBuffer<double>(static_cast<size_t>(hq * hid * n2), stream),
             DeviceBuffer<double>(static_cast<size_t>(hq * p), stream),
             DeviceBuffer<double>(static_cast<size_t>(hq * p * n2), stream)};
  upload_heads(s, wq, wk, dims.kv_heads);
  fn(s);
}

// Householder QR of every B^T, and R copied out densely.
void factor_heads(LayerGpu& s) {
  s.solver.geqrf(s.hid, s.n2, s.bt.data(), s.hid * s.n2, s.tau.data(), s.hq);
  launch_upper_trapezoid(s.bt.data(), s.hid, s.hid * s.n2, s.p, s.n2, s.hq, s.r.data(), s.stream);
}

}  // namespace sgpu
}  // namespace qk
