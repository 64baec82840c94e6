// The GPU twin of rope_layer_cpu (docs/static-geometry.md, "RoPE-aware operator", "GPU
// path"): the joint QR of head_qr_gpu.hpp, then per offset R2 R(D) by
// launch_rotate_column_pairs, X^T = R2 R(D) R1[:m]^T and tr B(D) = <R1, R2 R(D)>_F by cuBLAS
// fp64 GEMMs and the singular values of X^T by cuSOLVER (one Xgesvd per head: gesvdjBatched
// stops at 32 x 32); the band profiles from the Grams R1^T R1, R2^T R2 by launch_rope_bands.
// Compiled by the host C++ compiler (no nvcc).
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "gpu_context.hpp"
#include "head_qr_gpu.hpp"
#include "rope_geometry.cuh"
#include "rope_operator.hpp"

namespace qk {
namespace {

using sgpu::download;
using sgpu::gemm;
using sgpu::LayerGpu;

// Band fields of out from R1, R2: the head-space Grams G_Q = R1^T R1, G_K = R2^T R2 (d x d).
void rope_bands_gpu(LayerGpu& s, const RopeSpec& spec, const DeviceBuffer<double>& cs, RopeLayer& out) {
  const int64_t hq = s.hq, d = s.dh, p = s.p, pr = p * s.n2, dd = d * d, P = spec.rotary_dim / 2;
  const int64_t O = static_cast<int64_t>(spec.offsets.size());
  DeviceBuffer<double> gq(static_cast<size_t>(hq * dd), s.stream), gk(static_cast<size_t>(hq * dd), s.stream);
  gemm(s.cb, CUBLAS_OP_T, CUBLAS_OP_N, d, d, p, 1.0, s.r.data(), p, pr, s.r.data(), p, pr, 0.0, gq.data(), d,
       dd, hq);
  gemm(s.cb, CUBLAS_OP_T, CUBLAS_OP_N, d, d, p, 1.0, s.r.data() + p * d, p, pr, s.r.data() + p * d, p, pr,
       0.0, gk.data(), d, dd, hq);
  const auto n = [](int64_t v) { return static_cast<size_t>(std::max<int64_t>(v, 1)); };
  DeviceBuffer<double> energy(n(hq * O * P), s.stream), mean(n(hq * P), s.stream), inv(n(hq * P), s.stream),
      share(n(hq * P), s.stream), unrot(n(hq), s.stream), unrot_share(n(hq), s.stream);
  launch_rope_bands(gq.data(), gk.data(), d, spec.rotary_dim, O, cs.data(), hq,
                    {energy.data(), mean.data(), inv.data(), share.data(), unrot.data(), unrot_share.data()},
                    s.stream);
  out.band_energy = download(energy, out.band_energy.size());
  out.band_mean_energy = download(mean, out.band_mean_energy.size());
  out.invariant_fraction = download(inv, out.invariant_fraction.size());
  out.band_share = download(share, out.band_share.size());
  out.unrotated_energy = download(unrot, out.unrotated_energy.size());
  out.unrotated_share = download(unrot_share, out.unrotated_share.size());
}

// Singular values [Hq][O][d] and signed traces [Hq][O] of B(D) at every offset.
void rope_spectra_gpu(LayerGpu& s, const RopeSpec& spec, const DeviceBuffer<double>& cs, RopeLayer& out) {
  const int64_t hq = s.hq, d = s.dh, p = s.p, pr = p * s.n2, pd = p * d, P = spec.rotary_dim / 2;
  const int64_t O = static_cast<int64_t>(spec.offsets.size()), m = std::min(p, d);
  DeviceBuffer<double> y(static_cast<size_t>(hq * pd), s.stream),
      xt(static_cast<size_t>(hq * p * m), s.stream);
  DeviceBuffer<double> sv(static_cast<size_t>(O * hq * m), s.stream),
      tr(static_cast<size_t>(hq * O), s.stream);
  const double* r1 = s.r.data();
  for (int64_t o = 0; o < O; ++o) {
    launch_rotate_column_pairs(r1 + pd, p, d, pr, P, cs.data() + o * P * 2, hq, y.data(), s.stream);
    // tr B(D) = <R1, Y>_F: a 1 x 1 GEMM over the p d entries of each head, into tr[h][o].
    gemm(s.cb, CUBLAS_OP_T, CUBLAS_OP_N, 1, 1, pd, 1.0, r1, pd, pr, y.data(), pd, pd, 0.0, tr.data() + o, 1,
         O, hq);
    gemm(s.cb, CUBLAS_OP_N, CUBLAS_OP_T, p, m, d, 1.0, y.data(), p, pd, r1, p, pr, 0.0, xt.data(), p, p * m,
         hq);
    s.solver.singular_values(p, m, xt.data(), p * m, sv.data() + o * hq * m, hq);
  }
  const std::vector<double> h = download(sv, sv.size());
  for (int64_t o = 0; o < O; ++o)
    for (int64_t c = 0; c < hq; ++c)
      std::copy(h.begin() + (o * hq + c) * m, h.begin() + (o * hq + c + 1) * m,
                out.sv.begin() + (c * O + o) * d);
  out.signed_trace = download(tr, out.signed_trace.size());
}

}  // namespace

RopeLayer rope_layer_gpu(const float* wq, const float* wk, const StaticDims& d, const RopeSpec& spec,
                         int device) {
  check_rope_dims(d, spec, "rope_layer_gpu");
  sgpu::check_dims(d, "rope_layer_gpu", false);
  if (wq == nullptr || wk == nullptr) throw std::invalid_argument("rope_layer_gpu: null weights");
  RopeLayer out = sized_rope_layer(d, spec);
  const std::vector<double> cs_host = rope_cos_sin(spec);
  sgpu::with_layer_gpu(wq, wk, d, device, [&](LayerGpu& s) {
    DeviceBuffer<double> cs(std::max<size_t>(cs_host.size(), 1), s.stream);
    if (!cs_host.empty()) cs.upload(cs_host.data(), cs_host.size());
    sgpu::factor_heads(s);
    rope_bands_gpu(s, spec, cs, out);
    if (!spec.offsets.empty()) rope_spectra_gpu(s, spec, cs, out);
  });
  return out;
}

}  // namespace qk
