#include "align_study.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <stdexcept>

#include <cblas.h>

#include "h5_arrays.hpp"
#include "h5_util.hpp"
#include "input_error.hpp"
#include "ops/lapack.hpp"

namespace qk {

namespace {

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? NAN : s / static_cast<double>(v.size());
}

int sign(double x) { return (x > 0) - (x < 0); }

// An orthonormal basis (reduced QR, as numpy.linalg.qr) of the columns of a^T for the
// row-major a [k][hidden]: column-major hidden x min(hidden, k).
std::vector<double> row_span_basis(const float* a, int64_t k, int64_t hidden) {
  std::vector<double> q(a, a + k * hidden);  // column-major hidden x k: a^T
  const int64_t r = std::min(hidden, k);
  std::vector<double> tau(static_cast<size_t>(r));
  lapack::geqrf(hidden, k, q.data(), hidden, tau.data());
  lapack::form_q(hidden, r, r, q.data(), hidden, tau.data());
  q.resize(static_cast<size_t>(hidden * r));
  return q;
}

// Principal-angle cosines between the row spans of a and b ([k][hidden] each): the
// singular values of Qa^T Qb for orthonormal bases Qa, Qb of their columns' transposes.
std::vector<double> principal_cosines(const float* a, const float* b, int64_t k, int64_t hidden) {
  const std::vector<double> qa = row_span_basis(a, k, hidden), qb = row_span_basis(b, k, hidden);
  const int64_t r = std::min(hidden, k);
  std::vector<double> m(static_cast<size_t>(r * r)), s(static_cast<size_t>(r));
  cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, static_cast<int>(r), static_cast<int>(r),
              static_cast<int>(hidden), 1.0, qa.data(), static_cast<int>(hidden), qb.data(),
              static_cast<int>(hidden), 0.0, m.data(), static_cast<int>(r));
  lapack::singular_values(r, r, m.data(), r, s.data());
  return s;
}

// The datasets align reads from a static file: operator/gram [L][L][H],
// symmetric/eigenvalues [L][H][2d] and symmetric/eigenvectors [L][H][topk][hidden].
struct AlignInputs {
  ArrayF64 gram, eig;
  std::vector<hsize_t> vdims;
  std::vector<float> vec;
};

// The align inputs of `path`; InputError unless their shapes agree.
AlignInputs read_align_inputs(const std::string& path) {
  h5::quiet();
  const h5::Id f = h5::open_for_read(path);
  AlignInputs in;
  in.gram = read_f64(f.get(), "operator/gram", path);
  in.eig = read_f64(f.get(), "symmetric/eigenvalues", path);
  in.vec = read_f32(f.get(), "symmetric/eigenvectors", path, &in.vdims);
  const ArrayF64 &gram = in.gram, &eig = in.eig;
  const std::vector<hsize_t>& vdims = in.vdims;
  if (gram.dims.size() != 3 || eig.dims.size() != 3 || vdims.size() != 4 || gram.dims[0] != gram.dims[1] ||
      eig.dims[0] != gram.dims[0] || eig.dims[1] != gram.dims[2] || vdims[0] != gram.dims[0] ||
      vdims[1] != gram.dims[2])
    throw InputError(path,
                     "operator/gram, symmetric/eigenvalues and symmetric/eigenvectors "
                     "disagree in shape (expected [L,L,H], [L,H,2d], [L,H,topk,hidden])");
  return in;
}

// Head-wise operator inner products G(l, l', h) of gram [L][L][H], their norms and cosines.
struct GramView {
  const ArrayF64& gram;
  int L, H;
  double G(int l, int lp, int h) const { return gram.data[(static_cast<size_t>(l) * L + lp) * H + h]; }
  double diag_sq(int l, int h) const { return G(l, l, h); }
  double diag(int l, int h) const { return std::sqrt(std::max(diag_sq(l, h), 1e-20)); }
  double head_cos(int l, int lp, int h) const {
    return G(l, lp, h) / std::max(diag(l, h) * diag(lp, h), 1e-20);
  }
};

// (a) the head-averaged operator cosines [L][L], adjacent [L-1] and to the anchor [L] with
// the optimal scale and residual; (b) the head-wise mean cosine and residual to the anchor [L].
void operator_cosines(AlignResult& r, const GramView& g) {
  const int L = g.L, H = g.H, A = r.anchor;
  r.cos_matrix.resize(static_cast<size_t>(L) * L);
  for (int l = 0; l < L; ++l)
    for (int lp = 0; lp < L; ++lp) {
      double s = 0;
      for (int h = 0; h < H; ++h) s += g.head_cos(l, lp, h);
      r.cos_matrix[static_cast<size_t>(l) * L + lp] = s / H;
    }
  auto C = [&](int l, int lp) { return r.cos_matrix[static_cast<size_t>(l) * L + lp]; };
  for (int l = 0; l + 1 < L; ++l) r.adjacent_cos.push_back(C(l, l + 1));
  for (int l = 0; l < L; ++l) {
    const double c = C(l, A);
    double t = 0, mc = 0, mr = 0;
    for (int h = 0; h < H; ++h) {
      t += g.G(l, A, h) / std::max(g.diag_sq(A, h), 1e-20);
      const double hc = g.head_cos(l, A, h);
      mc += hc;
      mr += std::sqrt(std::clamp(1.0 - hc * hc, 0.0, 1.0));
    }
    r.to_anchor_cos.push_back(c);
    r.to_anchor_scale.push_back(t / H);
    r.to_anchor_residual.push_back(std::sqrt(std::max(1.0 - c * c, 0.0)));
    r.rescale_mean_cos.push_back(mc / H);  // (b)
    r.rescale_mean_residual.push_back(mr / H);
  }
  r.mean_cos_to_anchor = mean(r.rescale_mean_cos);
  r.mean_adjacent_cos = mean(r.adjacent_cos);
}

// (c) sign agreement of the top-k eigenvalues of eig [L][H][n2] with the anchor's, for
// k = 2, 4, ..., 256 (all layers, and by thirds [k][3]), and the fraction positive [L].
void sign_agreement(AlignResult& r, const ArrayF64& eig, int n2) {
  const int L = r.layers, H = r.heads, A = r.anchor;
  auto E = [&](int l, int h, int i) { return eig.data[(static_cast<size_t>(l) * H + h) * n2 + i]; };
  const auto thirds = layer_thirds(L);
  for (int k = 2; k <= 256 && k <= n2; k *= 2) {
    std::vector<double> agree(static_cast<size_t>(L) * H);
    for (int l = 0; l < L; ++l)
      for (int h = 0; h < H; ++h) {
        int same = 0;
        for (int i = 0; i < k; ++i) same += sign(E(l, h, i)) == sign(E(A, h, i));
        agree[static_cast<size_t>(l) * H + h] = static_cast<double>(same) / k;
      }
    r.sign_k.push_back(k);
    r.sign_agree.push_back(mean(agree));
    for (const auto& [lo, hi] : thirds)
      r.sign_agree_thirds.push_back(mean(std::vector<double>(agree.begin() + static_cast<long>(lo) * H,
                                                             agree.begin() + static_cast<long>(hi) * H)));
  }
  for (int l = 0; l < L; ++l) {
    int pos = 0;
    for (int h = 0; h < H; ++h)
      for (int i = 0; i < n2; ++i) pos += E(l, h, i) > 0;
    r.frac_positive.push_back(static_cast<double>(pos) / (static_cast<double>(H) * n2));
  }
}

// (d) principal angles between each layer's top-K eigen-subspaces (vec [L][H][topk][hidden])
// and the anchor's: head means of the mean and min cosine, and of the top-1 overlap [L].
void principal_angles(AlignResult& r, const std::vector<float>& vec, int64_t topk, int64_t hidden) {
  const int L = r.layers, H = r.heads, A = r.anchor;
  auto V = [&](int l, int h) { return vec.data() + (static_cast<size_t>(l) * H + h) * topk * hidden; };
  for (int l = 0; l < L; ++l) {
    double mc = 0, mn = 0, t1 = 0;
    for (int h = 0; h < H; ++h) {
      const std::vector<double> s = principal_cosines(V(l, h), V(A, h), topk, hidden);
      mc += mean(s);
      mn += *std::min_element(s.begin(), s.end());
      double dot = 0;
      for (int64_t j = 0; j < hidden; ++j) dot += static_cast<double>(V(l, h)[j]) * V(A, h)[j];
      t1 += dot * dot;
    }
    r.pa_mean_cos.push_back(mc / H);
    r.pa_min_cos.push_back(mn / H);
    r.pa_top1_overlap.push_back(t1 / H);
  }
}

}  // namespace

std::vector<std::pair<int, int>> layer_thirds(int L) {
  return {{0, L / 3}, {L / 3, 2 * L / 3}, {2 * L / 3, L}};
}

AlignResult align_study(const std::string& path, int anchor) {
  const AlignInputs in = read_align_inputs(path);
  AlignResult r;
  const int L = static_cast<int>(in.gram.dims[0]), H = static_cast<int>(in.gram.dims[2]);
  const int n2 = static_cast<int>(in.eig.dims[2]);
  const int64_t topk = static_cast<int64_t>(in.vdims[2]), hidden = static_cast<int64_t>(in.vdims[3]);
  r.layers = L;
  r.heads = H;
  r.head_dim = n2 / 2;
  r.topk = static_cast<int>(topk);
  if (anchor >= L)
    throw std::invalid_argument("--anchor: " + std::to_string(anchor) + " is not a layer of " + path +
                                " (layers 0.." + std::to_string(L - 1) + ")");
  r.anchor = anchor < 0 ? L - 1 : anchor;
  operator_cosines(r, GramView{in.gram, L, H});
  sign_agreement(r, in.eig, n2);
  principal_angles(r, in.vec, topk, hidden);
  const double m = r.mean_cos_to_anchor;
  r.verdict = m > 0.9 ? "STRONG" : m > 0.5 ? "MEDIUM" : m > 0.1 ? "WEAK" : "REJECTED";
  return r;
}

void write_align(const std::string& path, const AlignResult& r) {
  h5::quiet();
  const h5::Id f(h5::check(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), path,
                           "cannot open for writing the align/ group"));
  if (H5Lexists(f.get(), "align", H5P_DEFAULT) > 0) H5Ldelete(f.get(), "align", H5P_DEFAULT);
  const h5::Id g(h5::check(H5Gcreate2(f.get(), "align", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), path,
                           "cannot create group align/"));
  const hsize_t L = static_cast<hsize_t>(r.layers), K = r.sign_k.size();
  write_f64(g.get(), "cos_matrix", {L, L}, r.cos_matrix, path);
  write_f64(g.get(), "adjacent_cos", {L > 0 ? L - 1 : 0}, r.adjacent_cos, path);
  write_f64(g.get(), "to_anchor_cos", {L}, r.to_anchor_cos, path);
  write_f64(g.get(), "to_anchor_scale", {L}, r.to_anchor_scale, path);
  write_f64(g.get(), "to_anchor_residual", {L}, r.to_anchor_residual, path);
  write_f64(g.get(), "rescale_mean_cos", {L}, r.rescale_mean_cos, path);
  write_f64(g.get(), "rescale_mean_residual", {L}, r.rescale_mean_residual, path);
  write_f64(g.get(), "sign_k", {K}, std::vector<double>(r.sign_k.begin(), r.sign_k.end()), path);
  write_f64(g.get(), "sign_agree", {K}, r.sign_agree, path);
  write_f64(g.get(), "sign_agree_thirds", {K, 3}, r.sign_agree_thirds, path);
  write_f64(g.get(), "frac_positive", {L}, r.frac_positive, path);
  write_f64(g.get(), "pa_mean_cos", {L}, r.pa_mean_cos, path);
  write_f64(g.get(), "pa_min_cos", {L}, r.pa_min_cos, path);
  write_f64(g.get(), "pa_top1_overlap", {L}, r.pa_top1_overlap, path);
  h5::write_int_attr(g.get(), "anchor", r.anchor, path);
  h5::write_int_attr(g.get(), "topk", r.topk, path);
  h5::write_string_attr(g.get(), "verdict", r.verdict, path);
}

nlohmann::json align_json(const AlignResult& r) {
  nlohmann::json j;
  j["layers"] = r.layers;
  j["heads"] = r.heads;
  j["anchor"] = r.anchor;
  j["topk"] = r.topk;
  std::vector<std::vector<double>> cm(static_cast<size_t>(r.layers));
  for (int l = 0; l < r.layers; ++l)
    cm[static_cast<size_t>(l)].assign(r.cos_matrix.begin() + static_cast<long>(l) * r.layers,
                                      r.cos_matrix.begin() + static_cast<long>(l + 1) * r.layers);
  j["cos_matrix"] = cm;
  j["adjacent_cos"] = r.adjacent_cos;
  j["to_anchor_cos"] = r.to_anchor_cos;
  j["to_anchor_scale"] = r.to_anchor_scale;
  j["to_anchor_residual"] = r.to_anchor_residual;
  j["rescale_mean_cos"] = r.rescale_mean_cos;
  j["rescale_mean_residual"] = r.rescale_mean_residual;
  j["sign_k"] = r.sign_k;
  j["sign_agree"] = r.sign_agree;
  std::vector<std::vector<double>> thirds;
  for (size_t i = 0; i < r.sign_k.size(); ++i)
    thirds.push_back(
        {r.sign_agree_thirds[3 * i], r.sign_agree_thirds[3 * i + 1], r.sign_agree_thirds[3 * i + 2]});
  j["sign_agree_thirds"] = thirds;  // [k][early, mid, late]; NaN (null) for an empty third
  j["frac_positive"] = r.frac_positive;
  j["pa_mean_cos"] = r.pa_mean_cos;
  j["pa_min_cos"] = r.pa_min_cos;
  j["pa_top1_overlap"] = r.pa_top1_overlap;
  j["mean_cos_to_anchor"] = r.mean_cos_to_anchor;
  j["mean_adjacent_cos"] = r.mean_adjacent_cos;
  j["verdict"] = r.verdict;
  return j;
}

std::string align_table(const AlignResult& r) {
  std::ostringstream o;
  char b[256];
  const int L = r.layers, A = r.anchor;
  auto C = [&](int l, int lp) { return r.cos_matrix[static_cast<size_t>(l) * L + lp]; };
  std::snprintf(b, sizeof b, "(a) operator cosine between layers, mean over %d heads (anchor L=%d)\n",
                r.heads, A);
  o << b;
  if (!r.adjacent_cos.empty()) {
    std::snprintf(b, sizeof b, "    adjacent layers: mean %.4f  min %.4f  max %.4f\n", r.mean_adjacent_cos,
                  *std::min_element(r.adjacent_cos.begin(), r.adjacent_cos.end()),
                  *std::max_element(r.adjacent_cos.begin(), r.adjacent_cos.end()));
    o << b;
  }
  std::snprintf(b, sizeof b, "    long range: cos(L=0, last) %+.3f  cos(L=%d, last) %+.3f\n", C(0, L - 1),
                L / 2, C(L / 2, L - 1));
  o << b;
  o << "      L      cos    T_opt  resid_frac | (b) mean_cos mean_resid | (d) meanCosPA minCosPA top1 | "
       "frac+\n";
  for (int l = 0; l < L; ++l) {
    std::snprintf(b, sizeof b,
                  "    %3d  %+.4f  %+7.3f  %10.4f |   %+9.4f %10.4f |   %10.4f %8.4f %.4f | %.3f\n", l,
                  r.to_anchor_cos[l], r.to_anchor_scale[l], r.to_anchor_residual[l], r.rescale_mean_cos[l],
                  r.rescale_mean_residual[l], r.pa_mean_cos[l], r.pa_min_cos[l], r.pa_top1_overlap[l],
                  r.frac_positive[l]);
    o << b;
  }
  const auto thirds = layer_thirds(L);
  o << "(c) curvature-sign agreement with the anchor (top-k eigenvalues by magnitude)\n";
  for (size_t i = 0; i < r.sign_k.size(); ++i) {
    std::snprintf(
        b, sizeof b, "    top-%3d: mean %.3f  early[L%d-%d] %.3f  mid[L%d-%d] %.3f  late[L%d-%d] %.3f\n",
        r.sign_k[i], r.sign_agree[i], thirds[0].first, thirds[0].second - 1, r.sign_agree_thirds[3 * i],
        thirds[1].first, thirds[1].second - 1, r.sign_agree_thirds[3 * i + 1], thirds[2].first,
        thirds[2].second - 1, r.sign_agree_thirds[3 * i + 2]);
    o << b;
  }
  std::snprintf(b, sizeof b, "verdict: %s (mean operator cosine to the anchor %+.4f; adjacent %+.4f)\n",
                r.verdict.c_str(), r.mean_cos_to_anchor, r.mean_adjacent_cos);
  o << b;
  return o.str();
}

}  // namespace qk
