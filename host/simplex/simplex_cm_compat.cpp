// --cm-compat: the seed's cv_metric and cayley_menger_vol2 reproduced op for op with
// libtorch (its randperm sampler and fp32 determinant): compiled into the engine only.
#include "simplex_cm_compat.hpp"

#include <algorithm>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "simplex_volume.hpp"

namespace qk {

SimplexStat cm_statistic(const float* rows, int64_t n, int64_t dim, const SimplexOptions& o) {
  if (n < simplex::kVerts) return {};
  const at::Tensor weight =
      at::from_blob(const_cast<float*>(rows), {n, dim}, at::TensorOptions().dtype(at::kFloat));
  const int64_t pool = std::min(n, kCmPool);
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  std::vector<at::Tensor> perms;
  perms.reserve(static_cast<size_t>(o.samples));
  for (int64_t s = 0; s < o.samples; ++s)
    perms.push_back(at::randperm(pool, gen, at::TensorOptions().dtype(at::kLong)).slice(0, 0, 5));
  const at::Tensor indices = at::stack(perms);
  const at::Tensor pts = weight.slice(0, 0, pool).index({indices});
  const int64_t B = pts.size(0), N = pts.size(1);
  const at::Tensor gram = at::bmm(pts, pts.transpose(1, 2));
  const at::Tensor norms = at::diagonal(gram, 0, 1, 2);
  const at::Tensor d2 = at::relu(norms.unsqueeze(2) + norms.unsqueeze(1) - gram * 2);
  at::Tensor cm = at::zeros({B, N + 1, N + 1}, pts.options());
  cm.select(1, 0).slice(1, 1).fill_(1.0);
  cm.select(2, 0).slice(1, 1).fill_(1.0);
  cm.slice(1, 1).slice(2, 1).copy_(d2);
  const int64_t k = N - 1;
  const double sign = (k + 1) % 2 == 0 ? 1.0 : -1.0;
  int64_t fact = 1;
  for (int64_t i = 2; i <= k; ++i) fact *= i;
  const at::Tensor vol2 =
      (at::linalg_det(cm.to(at::kFloat)).to(pts.scalar_type()) * sign) / ((int64_t{1} << k) * fact * fact);
  const at::Tensor valid = vol2 > 1e-20;
  SimplexStat r;
  r.valid = valid.sum().item<int64_t>();
  if (r.valid < kMinValid) return r;
  const at::Tensor vols = vol2.index({valid}).sqrt();
  r.cv = (vols.std() / (vols.mean() + 1e-8)).item<double>();
  return r;
}

}  // namespace qk
