#pragma once
// fp64 dense linear algebra from the Fortran LAPACK in OpenBLAS (there is no lapacke.h):
// column-major matrices, leading dimensions as LAPACK's. Each routine queries its
// workspace, checks `info` and throws: InternalError for a bad argument (a bug),
// std::runtime_error when the algorithm does not converge.
#include <cstdint>

namespace qk::lapack {

// Householder QR in place of the m x n matrix a (lda): R on and above the diagonal, the
// reflectors below it, their min(m, n) scalar factors in tau (LAPACK dgeqrf).
void geqrf(int64_t m, int64_t n, double* a, int64_t lda, double* tau);

// c := Q c for the m x nc matrix c (ldc), Q the product of the k reflectors geqrf left in
// a (lda) and tau (LAPACK dormqr, side L, no transpose).
void apply_q(int64_t m, int64_t nc, int64_t k, const double* a, int64_t lda, const double* tau, double* c,
             int64_t ldc);

// The first n columns of Q (m x n, m >= n) in place of geqrf's output in a (LAPACK dorgqr).
void form_q(int64_t m, int64_t n, int64_t k, double* a, int64_t lda, const double* tau);

// Singular values, descending, of the m x n matrix a (lda; destroyed) into s [min(m, n)]
// (LAPACK dgesdd without vectors).
void singular_values(int64_t m, int64_t n, double* a, int64_t lda, double* s);

// Eigenvalues, ascending, of the symmetric n x n matrix a (lda, lower triangle read) into
// w [n]; a is overwritten by the unit eigenvectors, one per column (LAPACK dsyevd).
void symmetric_eigen(int64_t n, double* a, int64_t lda, double* w);

// The minimum-norm least-squares solution of a x = b (LAPACK dgelsd, as numpy's lstsq):
// a m x n (lda; destroyed), b max(m, n) x nrhs (ldb) holds the solution in its first n
// rows. Singular values below rcond * max s count as zero; rcond < 0: machine epsilon *
// max(m, n) (numpy's and torch's default). Returns the effective rank.
int64_t least_squares(int64_t m, int64_t n, int64_t nrhs, double* a, int64_t lda, double* b, int64_t ldb,
                      double rcond = -1);

}  // namespace qk::lapack
