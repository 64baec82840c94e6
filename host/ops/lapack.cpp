#include "lapack.hpp"

#include <algorithm>
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "internal_error.hpp"

// The Fortran entry points (gfortran ABI: every argument by pointer, then the hidden
// lengths of the character arguments).
extern "C" {
void dgeqrf_(const int* m, const int* n, double* a, const int* lda, double* tau, double* work,
             const int* lwork, int* info);
void dormqr_(const char* side, const char* trans, const int* m, const int* n, const int* k, const double* a,
             const int* lda, const double* tau, double* c, const int* ldc, double* work, const int* lwork,
             int* info, size_t side_len, size_t trans_len);
void dorgqr_(const int* m, const int* n, const int* k, double* a, const int* lda, const double* tau,
             double* work, const int* lwork, int* info);
void dgesdd_(const char* jobz, const int* m, const int* n, double* a, const int* lda, double* s, double* u,
             const int* ldu, double* vt, const int* ldvt, double* work, const int* lwork, int* iwork,
             int* info, size_t jobz_len);
void dsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w,
             double* work, const int* lwork, int* iwork, const int* liwork, int* info, size_t jobz_len,
             size_t uplo_len);
void dgelsd_(const int* m, const int* n, const int* nrhs, double* a, const int* lda, double* b,
             const int* ldb, double* s, const double* rcond, int* rank, double* work, const int* lwork,
             int* iwork, int* info);
}

namespace qk::lapack {

namespace {

// A dimension as LAPACK's 32-bit integer; InternalError past INT_MAX.
int dim(int64_t v, const char* routine) {
  if (v < 0 || v > INT_MAX)
    throw InternalError(std::string(routine) + ": dimension " + std::to_string(v) + " out of LAPACK's range");
  return static_cast<int>(v);
}

// The workspace length a query (lwork = -1) returned in `w`.
int work_size(double w) { return std::max(1, static_cast<int>(std::ceil(w))); }

// Throws for info != 0: a bad argument is a bug, info > 0 a failure to converge.
void check(int info, const char* routine) {
  if (info < 0)
    throw InternalError(std::string(routine) + ": argument " + std::to_string(-info) + " is invalid");
  if (info > 0)
    throw std::runtime_error(std::string(routine) + " did not converge (info " + std::to_string(info) + ")");
}

}  // namespace

void geqrf(int64_t m, int64_t n, double* a, int64_t lda, double* tau) {
  const int M = dim(m, "dgeqrf"), N = dim(n, "dgeqrf"), LDA = dim(std::max<int64_t>(lda, 1), "dgeqrf");
  int info = 0, query = -1;
  double w = 0;
  dgeqrf_(&M, &N, a, &LDA, tau, &w, &query, &info);
  check(info, "dgeqrf");
  const int lwork = work_size(w);
  std::vector<double> work(static_cast<size_t>(lwork));
  dgeqrf_(&M, &N, a, &LDA, tau, work.data(), &lwork, &info);
  check(info, "dgeqrf");
}

void apply_q(int64_t m, int64_t nc, int64_t k, const double* a, int64_t lda, const double* tau, double* c,
             int64_t ldc) {
  const int M = dim(m, "dormqr"), N = dim(nc, "dormqr"), K = dim(k, "dormqr");
  const int LDA = dim(std::max<int64_t>(lda, 1), "dormqr"), LDC = dim(std::max<int64_t>(ldc, 1), "dormqr");
  int info = 0, query = -1;
  double w = 0;
  dormqr_("L", "N", &M, &N, &K, a, &LDA, tau, c, &LDC, &w, &query, &info, 1, 1);
  check(info, "dormqr");
  const int lwork = work_size(w);
  std::vector<double> work(static_cast<size_t>(lwork));
  dormqr_("L", "N", &M, &N, &K, a, &LDA, tau, c, &LDC, work.data(), &lwork, &info, 1, 1);
  check(info, "dormqr");
}

void form_q(int64_t m, int64_t n, int64_t k, double* a, int64_t lda, const double* tau) {
  const int M = dim(m, "dorgqr"), N = dim(n, "dorgqr"), K = dim(k, "dorgqr");
  const int LDA = dim(std::max<int64_t>(lda, 1), "dorgqr");
  int info = 0, query = -1;
  double w = 0;
  dorgqr_(&M, &N, &K, a, &LDA, tau, &w, &query, &info);
  check(info, "dorgqr");
  const int lwork = work_size(w);
  std::vector<double> work(static_cast<size_t>(lwork));
  dorgqr_(&M, &N, &K, a, &LDA, tau, work.data(), &lwork, &info);
  check(info, "dorgqr");
}

void singular_values(int64_t m, int64_t n, double* a, int64_t lda, double* s) {
  const int M = dim(m, "dgesdd"), N = dim(n, "dgesdd"), LDA = dim(std::max<int64_t>(lda, 1), "dgesdd");
  if (M == 0 || N == 0) return;
  const int one = 1;
  int info = 0, query = -1;
  double w = 0;
  std::vector<int> iwork(static_cast<size_t>(8 * std::min(M, N)));
  dgesdd_("N", &M, &N, a, &LDA, s, nullptr, &one, nullptr, &one, &w, &query, iwork.data(), &info, 1);
  check(info, "dgesdd");
  const int lwork = work_size(w);
  std::vector<double> work(static_cast<size_t>(lwork));
  dgesdd_("N", &M, &N, a, &LDA, s, nullptr, &one, nullptr, &one, work.data(), &lwork, iwork.data(), &info, 1);
  check(info, "dgesdd");
}

void symmetric_eigen(int64_t n, double* a, int64_t lda, double* w) {
  const int N = dim(n, "dsyevd"), LDA = dim(std::max<int64_t>(lda, 1), "dsyevd");
  if (N == 0) return;
  int info = 0, query = -1, iw = 0;
  double wq = 0;
  dsyevd_("V", "L", &N, a, &LDA, w, &wq, &query, &iw, &query, &info, 1, 1);
  check(info, "dsyevd");
  const int lwork = work_size(wq), liwork = std::max(1, iw);
  std::vector<double> work(static_cast<size_t>(lwork));
  std::vector<int> iwork(static_cast<size_t>(liwork));
  dsyevd_("V", "L", &N, a, &LDA, w, work.data(), &lwork, iwork.data(), &liwork, &info, 1, 1);
  check(info, "dsyevd");
}

int64_t least_squares(int64_t m, int64_t n, int64_t nrhs, double* a, int64_t lda, double* b, int64_t ldb,
                      double rcond) {
  const int M = dim(m, "dgelsd"), N = dim(n, "dgelsd"), R = dim(nrhs, "dgelsd");
  const int LDA = dim(std::max<int64_t>(lda, 1), "dgelsd"), LDB = dim(std::max<int64_t>(ldb, 1), "dgelsd");
  if (rcond < 0) rcond = DBL_EPSILON * static_cast<double>(std::max(M, N));
  std::vector<double> s(static_cast<size_t>(std::max(1, std::min(M, N))));
  int info = 0, rank = 0, query = -1, iw = 0;
  double w = 0;
  dgelsd_(&M, &N, &R, a, &LDA, b, &LDB, s.data(), &rcond, &rank, &w, &query, &iw, &info);
  check(info, "dgelsd");
  const int lwork = work_size(w);
  std::vector<double> work(static_cast<size_t>(lwork));
  std::vector<int> iwork(static_cast<size_t>(std::max(1, iw)));
  dgelsd_(&M, &N, &R, a, &LDA, b, &LDB, s.data(), &rcond, &rank, work.data(), &lwork, iwork.data(), &info);
  check(info, "dgelsd");
  return rank;
}

}  // namespace qk::lapack
