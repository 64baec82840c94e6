#include "cusolver_dense.hpp"

#include <algorithm>
#include <climits>
#include <stdexcept>
#include <string>

namespace qk {

namespace {

constexpr int64_t kInt32Max = INT_MAX;

void require_int(int64_t v, const char* what) {
  if (v < 0 || v > kInt32Max)
    throw std::invalid_argument(std::string("static GPU path: ") + what + " beyond cuSOLVER's int range");
}

}  // namespace

DenseSolver::DenseSolver(cusolverDnHandle_t h, cudaStream_t stream) : h_(h), stream_(stream) {
  CUSOLVER_CHECK(cusolverDnCreateParams(&params_));
}

DenseSolver::~DenseSolver() {
  if (params_ != nullptr) CUSOLVER_CHECK_NOTHROW(cusolverDnDestroyParams(params_));
}

void DenseSolver::reserve(size_t device_bytes, size_t host_bytes) {
  if (device_bytes > dwork_.size()) dwork_ = DeviceBuffer<unsigned char>(device_bytes, stream_);
  if (host_bytes > hwork_.size()) hwork_.resize(host_bytes);
}

// Downloads info[0, count) (waits for the stream) and throws on the first nonzero one,
// numbered from `first`.
void DenseSolver::check_info(const DeviceBuffer<int>& info, int64_t count, int64_t first, const char* what,
                             int64_t n) const {
  std::vector<int> h(static_cast<size_t>(count));
  info.download(h.data(), h.size());
  for (int64_t i = 0; i < count; ++i)
    if (h[static_cast<size_t>(i)] != 0)
      throw std::runtime_error(std::string("static GPU path: ") + what + " (n = " + std::to_string(n) +
                               ") failed on matrix " + std::to_string(first + i) +
                               ", info = " + std::to_string(h[static_cast<size_t>(i)]));
}

void DenseSolver::syev(bool vectors, int64_t n, double* a, double* w, int64_t count, const char* what) {
  if (n <= 0 || count <= 0) return;
  const int64_t per = n * n;
  if (per > kInt32Max) throw std::invalid_argument("syevBatched: n * n beyond INT32_MAX");
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(count, kInt32Max / per));
  const cusolverEigMode_t jobz = vectors ? CUSOLVER_EIG_MODE_VECTOR : CUSOLVER_EIG_MODE_NOVECTOR;
  const cublasFillMode_t lo = CUBLAS_FILL_MODE_LOWER;
  DeviceBuffer<int> info(static_cast<size_t>(chunk), stream_);
  for (int64_t c0 = 0; c0 < count; c0 += chunk) {
    const int64_t nc = std::min(chunk, count - c0);
    double* ac = a + c0 * per;
    double* wc = w + c0 * n;
    size_t db = 0, hb = 0;
    const cusolverStatus_t probe = cusolverDnXsyevBatched_bufferSize(
        h_, params_, jobz, lo, n, CUDA_R_64F, ac, n, CUDA_R_64F, wc, CUDA_R_64F, &db, &hb, nc);
    if (probe == CUSOLVER_STATUS_NOT_SUPPORTED || probe == CUSOLVER_STATUS_INVALID_VALUE) {
      // This cuSOLVER refuses the batched routine for this size: one Xsyevd per matrix.
      CUSOLVER_CHECK(cusolverDnXsyevd_bufferSize(h_, params_, jobz, lo, n, CUDA_R_64F, ac, n, CUDA_R_64F, wc,
                                                 CUDA_R_64F, &db, &hb));
      reserve(db, hb);
      for (int64_t i = 0; i < nc; ++i) {
        CUSOLVER_CHECK(cusolverDnXsyevd(h_, params_, jobz, lo, n, CUDA_R_64F, ac + i * per, n, CUDA_R_64F,
                                        wc + i * n, CUDA_R_64F, dwork_.data(), db,
                                        hwork_.empty() ? nullptr : hwork_.data(), hb, info.data() + i));
        if (hb > 0) CUDA_CHECK(cudaStreamSynchronize(stream_));  // the host workspace is reused
      }
    } else {
      CUSOLVER_CHECK(probe);
      reserve(db, hb);
      CUSOLVER_CHECK(cusolverDnXsyevBatched(h_, params_, jobz, lo, n, CUDA_R_64F, ac, n, CUDA_R_64F, wc,
                                            CUDA_R_64F, dwork_.data(), db,
                                            hwork_.empty() ? nullptr : hwork_.data(), hb, info.data(), nc));
    }
    check_info(info, nc, c0, what, n);  // waits: the host workspace stays valid
  }
}

void DenseSolver::geqrf(int64_t m, int64_t n, double* a, int64_t stride, double* tau, int64_t count) {
  if (m <= 0 || n <= 0 || count <= 0) return;
  const int64_t k = std::min(m, n);
  size_t db = 0, hb = 0;
  CUSOLVER_CHECK(cusolverDnXgeqrf_bufferSize(h_, params_, m, n, CUDA_R_64F, a, m, CUDA_R_64F, tau, CUDA_R_64F,
                                             &db, &hb));
  reserve(db, hb);
  DeviceBuffer<int> info(static_cast<size_t>(count), stream_);
  for (int64_t c = 0; c < count; ++c) {
    CUSOLVER_CHECK(cusolverDnXgeqrf(h_, params_, m, n, CUDA_R_64F, a + c * stride, m, CUDA_R_64F, tau + c * k,
                                    CUDA_R_64F, dwork_.data(), db, hwork_.empty() ? nullptr : hwork_.data(),
                                    hb, info.data() + c));
    if (hb > 0) CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  check_info(info, count, 0, "Householder QR (geqrf)", n);
}

void DenseSolver::apply_q(int64_t m, int64_t n, int64_t k, const double* a, int64_t stride_a,
                          const double* tau, double* x, int64_t stride_x, int64_t count) {
  if (m <= 0 || n <= 0 || count <= 0) return;
  require_int(m, "ormqr rows");
  require_int(n, "ormqr columns");
  require_int(k, "ormqr reflectors");
  const int im = static_cast<int>(m), in = static_cast<int>(n), ik = static_cast<int>(k);
  int lwork = 0;
  CUSOLVER_CHECK(
      cusolverDnDormqr_bufferSize(h_, CUBLAS_SIDE_LEFT, CUBLAS_OP_N, im, in, ik, a, im, tau, x, im, &lwork));
  reserve(static_cast<size_t>(lwork) * sizeof(double), 0);
  DeviceBuffer<int> info(static_cast<size_t>(count), stream_);
  for (int64_t c = 0; c < count; ++c)
    CUSOLVER_CHECK(cusolverDnDormqr(h_, CUBLAS_SIDE_LEFT, CUBLAS_OP_N, im, in, ik, a + c * stride_a, im,
                                    tau + c * k, x + c * stride_x, im,
                                    reinterpret_cast<double*>(dwork_.data()), lwork, info.data() + c));
  check_info(info, count, 0, "applying Q (ormqr)", m);
}

void DenseSolver::singular_values(int64_t m, int64_t n, double* a, int64_t stride, double* s, int64_t count) {
  if (m <= 0 || n <= 0 || count <= 0) return;
  if (m < n) throw std::invalid_argument("static GPU path: gesvd needs rows >= columns");
  size_t db = 0, hb = 0;  // U and V^T are not computed; ldu = m, ldvt = n satisfy every check
  CUSOLVER_CHECK(cusolverDnXgesvd_bufferSize(h_, params_, 'N', 'N', m, n, CUDA_R_64F, a, m, CUDA_R_64F, s,
                                             CUDA_R_64F, nullptr, m, CUDA_R_64F, nullptr, n, CUDA_R_64F, &db,
                                             &hb));
  reserve(db, hb);
  DeviceBuffer<int> info(static_cast<size_t>(count), stream_);
  for (int64_t c = 0; c < count; ++c) {
    CUSOLVER_CHECK(cusolverDnXgesvd(h_, params_, 'N', 'N', m, n, CUDA_R_64F, a + c * stride, m, CUDA_R_64F,
                                    s + c * n, CUDA_R_64F, nullptr, m, CUDA_R_64F, nullptr, n, CUDA_R_64F,
                                    dwork_.data(), db, hwork_.empty() ? nullptr : hwork_.data(), hb,
                                    info.data() + c));
    if (hb > 0) CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  check_info(info, count, 0, "singular values (gesvd)", n);
}

}  // namespace qk
