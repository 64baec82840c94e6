// The GPU twins of layer_static_cpu and operator_gram_cpu (docs/static-geometry.md,
// "GPU path"): f32 weights uploaded and widened to fp64 on the device, Grams and products
// by cuBLAS fp64 GEMMs, the spectra from each head's Householder QR and the dense
// factorizations of cusolver_dense.hpp, the block reductions and element-wise steps in
// kernels/static_gram.cu. Only the small results come back; ordering and normalisation
// happen here. Compiled by the host C++ compiler (no nvcc).
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cusolverDn.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "cublas_settings.hpp"
#include "cusolver_dense.hpp"
#include "gpu_context.hpp"
#include "head_qr_gpu.hpp"
#include "static_gpu.hpp"
#include "static_gram.cuh"
#include "sym_order.hpp"

namespace qk {
namespace {

constexpr int64_t kInt32Max = INT_MAX;

using sgpu::check_dims;
using sgpu::download;
using sgpu::gemm;
using sgpu::LayerGpu;

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

// From the Grams B B^T = [[G_Q, Q K^T], [K Q^T, G_K]] (2d x 2d per head, before the QR):
// fro_sq = <G_Q, G_K>_F, fro_sq_shortcut = <P, P>_F and the shortcut spectrum
// sqrt(eig(P^T P)) with P = K Q^T.
void grams_and_shortcut(LayerGpu& s, LayerStatic& out) {
  const int64_t hq = s.hq, dh = s.dh, n2 = s.n2, nn = n2 * n2, dd = dh * dh;
  const cublasOperation_t T = CUBLAS_OP_T, N = CUBLAS_OP_N;
  DeviceBuffer<double> mm(static_cast<size_t>(hq * nn), s.stream);
  gemm(s.cb, T, N, n2, n2, s.hid, 1.0, s.bt.data(), s.hid, s.hid * n2, s.bt.data(), s.hid, s.hid * n2, 0.0,
       mm.data(), n2, nn, hq);
  DeviceBuffer<double> fro(static_cast<size_t>(hq), s.stream), fro_sc(static_cast<size_t>(hq), s.stream);
  launch_block_product_sum(mm.data(), n2, nn, mm.data() + dh * n2 + dh, n2, nn, 1, hq, 1, dh, fro.data(), 1,
                           s.stream);
  launch_block_product_sum(mm.data() + dh, n2, nn, mm.data() + dh, n2, nn, 1, hq, 1, dh, fro_sc.data(), 1,
                           s.stream);
  DeviceBuffer<double> ptp(static_cast<size_t>(hq * dd), s.stream),
      es(static_cast<size_t>(hq * dh), s.stream);
  gemm(s.cb, T, N, dh, dh, dh, 1.0, mm.data() + dh, n2, nn, mm.data() + dh, n2, nn, 0.0, ptp.data(), dh, dd,
       hq);
  s.solver.syev(false, dh, ptp.data(), es.data(), hq, "(K Q^T)^T (K Q^T)");
  out.shortcut_sv = sqrt_descending(download(es, static_cast<size_t>(hq * dh)), dh, hq);
  out.fro_sq = download(fro, static_cast<size_t>(hq));
  out.fro_sq_shortcut = download(fro_sc, static_cast<size_t>(hq));
}

// Exact spectrum [Hq][d], descending: singular values of X^T = R2 R1[:m]^T (p x m,
// m = min(hidden, d) <= p), zeros past m.
std::vector<double> exact_spectrum(LayerGpu& s) {
  const int64_t p = s.p, dh = s.dh, m = std::min(s.hid, dh), pr = p * s.n2;
  DeviceBuffer<double> xt(static_cast<size_t>(s.hq * p * m), s.stream),
      sv(static_cast<size_t>(s.hq * m), s.stream);
  gemm(s.cb, CUBLAS_OP_N, CUBLAS_OP_T, p, m, dh, 1.0, s.r.data() + p * dh, p, pr, s.r.data(), p, pr, 0.0,
       xt.data(), p, p * m, s.hq);
  s.solver.singular_values(p, m, xt.data(), p * m, sv.data(), s.hq);
  const std::vector<double> h = download(sv, static_cast<size_t>(s.hq * m));
  std::vector<double> out(static_cast<size_t>(s.hq * dh), 0.0);
  for (int64_t c = 0; c < s.hq; ++c)
    std::copy(h.begin() + c * m, h.begin() + (c + 1) * m, out.begin() + c * dh);
  return out;
}

// Unit hidden-space eigenvectors [Hq][topk][hidden] of C's columns top (-1: none, a zero
// vector): y padded with zero rows, Q applied by ormqr, renormalised in fp64.
std::vector<float> hidden_eigenvectors(LayerGpu& s, const DeviceBuffer<double>& y,
                                       const std::vector<int64_t>& top, int64_t topk) {
  const std::vector<int> idx(top.begin(), top.end());
  DeviceBuffer<int> didx(idx.size(), s.stream);
  didx.upload(idx.data(), idx.size());
  const int64_t hk = s.hid * topk;
  DeviceBuffer<double> z(static_cast<size_t>(s.hq * hk), s.stream);
  launch_gather_columns(y.data(), didx.data(), s.p, topk, s.hq, z.data(), s.hid, s.stream);
  s.solver.apply_q(s.hid, topk, s.p, s.bt.data(), s.hid * s.n2, s.tau.data(), z.data(), hk, s.hq);
  const std::vector<double> zh = download(z, static_cast<size_t>(s.hq * hk));
  std::vector<float> out(zh.size());
  for (int64_t v = 0; v < s.hq * topk; ++v) {  // column-major hid x topk: vector v is contiguous
    const double* src = zh.data() + v * s.hid;
    double ss = 0.0;
    for (int64_t i = 0; i < s.hid; ++i) ss += src[i] * src[i];
    const double scale = ss > 0.0 ? 1.0 / std::sqrt(ss) : 0.0;
    for (int64_t i = 0; i < s.hid; ++i)
      out[static_cast<size_t>(v * s.hid + i)] = static_cast<float>(src[i] * scale);
  }
  return out;
}

// Symmetric part: eigenpairs of C = (R1 R2^T + R2 R1^T) / 2 (p x p), ordered as the CPU
// path orders them (sym_order.hpp), and the top eigenvectors.
void symmetric_part(LayerGpu& s, int64_t topk, LayerStatic& out) {
  const int64_t p = s.p, pp = p * p, pr = p * s.n2;
  const double* r1 = s.r.data();
  const double* r2 = s.r.data() + p * s.dh;
  DeviceBuffer<double> c(static_cast<size_t>(s.hq * pp), s.stream),
      lam(static_cast<size_t>(s.hq * p), s.stream);
  gemm(s.cb, CUBLAS_OP_N, CUBLAS_OP_T, p, p, s.dh, 0.5, r1, p, pr, r2, p, pr, 0.0, c.data(), p, pp, s.hq);
  gemm(s.cb, CUBLAS_OP_N, CUBLAS_OP_T, p, p, s.dh, 0.5, r2, p, pr, r1, p, pr, 1.0, c.data(), p, pp, s.hq);
  s.solver.syev(topk > 0, p, c.data(), lam.data(), s.hq, "(R1 R2^T + R2 R1^T) / 2");  // c holds Y
  const std::vector<double> lam_h = download(lam, static_cast<size_t>(s.hq * p));
  out.sym_eig.resize(static_cast<size_t>(s.hq * s.n2));
  std::vector<int64_t> top(static_cast<size_t>(s.hq * topk));
  order_by_magnitude(lam_h.data(), s.hq, p, s.n2, topk, out.sym_eig.data(), top.data());
  if (topk > 0) out.sym_vec = hidden_eigenvectors(s, c, top, topk);
}

}  // namespace

LayerStatic layer_static_gpu(const float* wq, const float* wk, const StaticDims& dims, int device) {
  check_dims(dims, "layer_static_gpu", true);
  if (wq == nullptr || wk == nullptr) throw std::invalid_argument("layer_static_gpu: null weights");
  LayerStatic out;
  sgpu::with_layer_gpu(wq, wk, dims, device, [&](LayerGpu& s) {
    grams_and_shortcut(s, out);  // before the QR overwrites B^T
    sgpu::factor_heads(s);
    out.exact_sv = exact_spectrum(s);
    symmetric_part(s, dims.topk, out);
  });
  return out;
}

std::vector<double> operator_gram_gpu(const std::vector<const float*>& wq,
                                      const std::vector<const float*>& wk, const StaticDims& dims,
                                      int device) {
  check_dims(dims, "operator_gram_gpu", false);  // topk is not used here
  const int64_t nl = dims.layers;
  if (nl < 0 || static_cast<int64_t>(wq.size()) != nl || static_cast<int64_t>(wk.size()) != nl)
    throw std::invalid_argument("operator_gram_gpu: wq and wk must hold layers (" + std::to_string(nl) +
                                ") pointers each");
  for (int64_t l = 0; l < nl; ++l)
    if (wq[static_cast<size_t>(l)] == nullptr || wk[static_cast<size_t>(l)] == nullptr)
      throw std::invalid_argument("operator_gram_gpu: null weights for layer " + std::to_string(l));
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
      CUDA_CHECK(cudaMemcpyAsync(stage.data() + l * qs, w[static_cast<size_t>(l)] + head * qs, head_bytes,
                                 cudaMemcpyHostToDevice, stream));
    launch_widen_f32_f64(stage.data(), static_cast<int64_t>(stack), x.data(), stream);
    gemm(cb, CUBLAS_OP_T, CUBLAS_OP_N, ld, ld, hid, 1.0, x.data(), hid, 0, x.data(), hid, 0, 0.0, out, ld, 0,
         1);
  };

  for (int64_t g = 0; g < hkv; ++g) {
    stacked_gram(wk, g, b.data());  // the group's K stacked over layers
    for (int64_t r = 0; r < grp; ++r) {
      const int64_t h = g * grp + r;
      stacked_gram(wq, h, a.data());
      // gram[l][l'][h] = sum of the (l, l') d x d block of A .* B.
      launch_block_product_sum(a.data(), ld, 0, b.data(), ld, 0, 1, 1, nl, dh, gram.data() + h, hq, stream);
    }
  }
  std::vector<double> out(static_cast<size_t>(nl * nl * hq));
  gram.download(out.data(), out.size());
  // The Gram is symmetric by definition; the kernel sums block (l, l') and (l', l) in
  // different orders, so the lower triangle takes the upper one's values (as the CPU path).
  for (int64_t l = 0; l < nl; ++l)
    for (int64_t m = l + 1; m < nl; ++m)
      for (int64_t h = 0; h < hq; ++h) out[(m * nl + l) * hq + h] = out[(l * nl + m) * hq + h];
  return out;
}

}  // namespace qk
