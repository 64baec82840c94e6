#include "bo/bo_metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "bo/backend.hpp"
#include "bo/cloud_stats.hpp"
#include "bo/gpu_stats.hpp"
#include "cpu_budget.hpp"
#include "seed_math.hpp"

namespace qk {

namespace {

// The seed's KV-head count at or below which it switches to position-wise analysis.
constexpr int kPositionModeMaxHeads = 4;

CloudStats cloud_stats(const Backend& b, const float* x, const CloudDims& d, const StatsPlan& p) {
  return b.gpu ? compute_cloud_stats_gpu(x, d, p, b.device) : compute_cloud_stats_cpu(x, d, p);
}

// Coherence-type summary of one cloud: per-layer coherence (multi-head) or
// differentiation (position mode), and the phase-lock fraction.
struct Coherence {
  std::vector<double> layer;
  std::vector<double> per_head;  // position mode: [layers][analysed heads]
  double lock = 0;
};

Coherence multi_head_coherence(const CloudStats& s, const CloudDims& d, double lock_threshold) {
  Coherence c;
  c.layer.assign(d.layers, 0.0);
  uint64_t locked = 0, total = 0;
  const int H = d.heads;
  for (int l = 0; l < d.layers; ++l) {
    const double* g = s.head_gram.data() + static_cast<size_t>(l) * H * H;
    double sum = 0.0;
    int pairs = 0;
    for (int i = 0; i < H; ++i)
      for (int j = i + 1; j < H; ++j) {
        const double sim = cosine_from_gram(g[i * H + j], g[i * H + i], g[j * H + j]);
        sum += sim;
        ++pairs;
        if (sim >= lock_threshold) ++locked;
        ++total;
      }
    c.layer[l] = pairs > 0 ? sum / pairs : 0.0;
  }
  c.lock = total > 0 ? static_cast<double>(locked) / static_cast<double>(total) : 0.0;
  return c;
}

Coherence position_coherence(const CloudStats& s, const CloudDims& d, int nh) {
  Coherence c;
  c.layer.assign(d.layers, 0.0);
  c.per_head.assign(static_cast<size_t>(d.layers) * nh, 0.0);
  const double pairs = 0.5 * static_cast<double>(d.seq) * static_cast<double>(d.seq - 1);
  uint64_t locked = 0;
  for (int l = 0; l < d.layers; ++l) {
    double sum = 0.0;
    for (int h = 0; h < nh; ++h) {
      const size_t i = static_cast<size_t>(l) * nh + h;
      c.per_head[i] = 1.0 - s.pos_sum_cos[i] / pairs;
      sum += c.per_head[i];
      locked += s.pos_below[i];
    }
    c.layer[l] = sum / nh;
  }
  c.lock = static_cast<double>(locked) / (pairs * d.layers * nh);
  return c;
}

// 1 - t as the double nearest the decimal difference (0.3 for t = 0.7, as Go's exact
// constant arithmetic gives the seed), not the binary 1.0 - 0.7 = 0.30000000000000004.
double decimal_complement(double t) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", static_cast<double>(1.0L - static_cast<long double>(t)));
  return std::strtod(buf, nullptr);
}

double mean_of(const std::vector<double>& v, double divisor) {
  double s = 0.0;
  for (double x : v) s += x;
  return divisor > 0 ? s / divisor : 0.0;
}

// The result's header: mode, backend and the cloud's dimensions, with the per-layer
// coherence [layers] and cross-alignment [layers - 1] zeroed.
BoResult bo_header(const CloudDims& d, int q_heads, bool compat, const Backend& backend) {
  BoResult r;
  r.mode = compat ? "lem-compat" : "default";
  r.backend = backend.name;
  r.layers = d.layers;
  r.kv_heads = d.heads;
  r.q_heads = q_heads;
  r.seq_len = d.seq;
  r.head_dim = d.head_dim;
  r.gqa = bo_position_mode(d.heads);
  r.layer_coherence.assign(d.layers, 0.0);
  r.layer_cross_alignment.assign(std::max(0, d.layers - 1), 0.0);
  return r;
}

// The statistics the key cloud needs (position-wise or multi-head); sets r.analysed_heads.
StatsPlan key_plan(BoResult& r, const CloudDims& d, bool compat, double lock_t) {
  StatsPlan plan;
  int nh = d.heads;
  if (r.gqa) {
    nh = compat ? 1 : d.heads;
    plan.position_heads = nh;
    plan.below_threshold = decimal_complement(lock_t);
    plan.entropy_heads = nh;
  } else {
    plan.head_gram = true;
    plan.entropy_heads = d.heads;
    plan.layer_alignment = true;
    plan.seed_f32_mean = compat;
  }
  r.analysed_heads = nh;
  return plan;
}

// The key-cloud metrics into r: coherence per layer [layers], differentiation and entropy
// per analysed head [layers][nh], phase lock, cross-layer alignment [layers - 1], the
// joint-collapse count (alignments below collapse_t) and their means.
void key_metrics(BoResult& r, const CloudDims& d, const CloudStats& ks, const Coherence& kc,
                 double collapse_t) {
  const int nh = r.analysed_heads;
  r.layer_coherence = kc.layer;
  r.head_differentiation = kc.per_head;
  r.head_entropy = ks.entropy;
  r.phase_lock_score = kc.lock;
  r.mean_coherence = mean_of(r.layer_coherence, d.layers);
  r.mean_head_entropy = mean_of(ks.entropy, static_cast<double>(d.layers) * nh);
  for (int l = 0; l + 1 < d.layers; ++l) {
    const double a =
        r.gqa ? 1.0 - std::fabs(r.layer_coherence[l + 1] - r.layer_coherence[l]) : ks.layer_align[l];
    r.layer_cross_alignment[l] = a;
    if (a < collapse_t) ++r.joint_collapse_count;
  }
  r.mean_cross_alignment = mean_of(r.layer_cross_alignment, d.layers - 1);
}

// The value cloud's coherence, from the key plan less entropy and layer alignment.
Coherence value_coherence(const Backend& backend, const float* v_data, const CloudDims& d,
                          const StatsPlan& plan, const BoResult& r, double lock_t) {
  StatsPlan vplan = plan;
  vplan.entropy_heads = 0;
  vplan.layer_alignment = false;
  const CloudStats vs = cloud_stats(backend, v_data, d, vplan);
  return r.gqa ? position_coherence(vs, d, r.analysed_heads) : multi_head_coherence(vs, d, lock_t);
}

// The composite score (exact double, and the integer 0..10000 the seed reports) and the
// five attention features.
void composite_fields(BoResult& r, bool compat) {
  r.composite_exact = composite_score(r);
  const double clamped = std::min(10000.0, std::max(0.0, r.composite_exact));
  if (std::isnan(r.composite_exact))
    r.composite = 0;  // no score; writers test composite_exact (docs/metrics.md)
  else
    r.composite = compat ? std::min(10000, std::max(0, static_cast<int>(r.composite_exact)))
                         : static_cast<int>(std::lround(clamped));
  r.features = attention_features(r);
}

// The value metrics: value coherence per layer [layers] and phase lock, K-V coupling (CKA
// per layer [layers], mean over kv heads) and the seven features.
BoValueResult value_result(const BoResult& r, const Coherence& vc, bool empty, const Backend& backend,
                           const float* k_data, const float* v_data, const CloudDims& d) {
  BoValueResult v;
  v.layer_value_coherence = empty ? std::vector<double>(d.layers, 0.0) : vc.layer;
  v.mean_value_coherence = mean_of(v.layer_value_coherence, d.layers);
  v.value_phase_lock_score = vc.lock;
  const std::vector<double> cka = backend.gpu ? compute_kv_cka_gpu(k_data, v_data, d, backend.device)
                                              : compute_kv_cka_cpu(k_data, v_data, d);
  v.layer_kv_coupling.assign(d.layers, 0.0);
  for (int l = 0; l < d.layers; ++l) {
    double s = 0.0;
    for (int h = 0; h < d.heads; ++h) s += cka[static_cast<size_t>(l) * d.heads + h];
    v.layer_kv_coupling[l] = s / d.heads;
  }
  v.mean_kv_coupling = mean_of(v.layer_kv_coupling, d.layers);
  for (int i = 0; i < 5; ++i) v.features7[i] = r.features[i];
  v.features7[5] = v.mean_value_coherence;
  v.features7[6] = v.mean_kv_coupling;
  return v;
}

}  // namespace

bool bo_position_mode(int kv_heads) { return kv_heads <= kPositionModeMaxHeads; }

double composite_score(const BoResult& r) {
  if (r.gqa) {
    const double scaled_diff = std::min(1.0, std::max(0.0, (r.mean_coherence - 0.1) / 0.6));
    double layer_var = 0.0;
    if (r.layer_coherence.size() > 1) {
      double sum_sq = 0.0;
      for (double v : r.layer_coherence) sum_sq += (v - r.mean_coherence) * (v - r.mean_coherence);
      layer_var = std::sqrt(sum_sq / static_cast<double>(r.layer_coherence.size()));
    }
    const double scaled_var = std::min(1.0, layer_var / 0.2);
    const double joint = std::max(0.0, 1.0 - static_cast<double>(r.joint_collapse_count) * 0.2);
    return (0.45 * scaled_diff + 0.25 * scaled_var + 0.15 * r.mean_head_entropy + 0.15 * joint) * 10000.0;
  }
  return (0.30 * r.mean_coherence + 0.25 * r.mean_cross_alignment + 0.20 * r.phase_lock_score +
          0.15 * r.mean_head_entropy +
          0.10 * std::max(0.0, 1.0 - static_cast<double>(r.joint_collapse_count) * 0.2)) *
         10000.0;
}

std::array<double, 5> attention_features(const BoResult& r) {
  return {r.mean_coherence, r.mean_cross_alignment, r.mean_head_entropy, r.phase_lock_score,
          std::max(0.0, 1.0 - static_cast<double>(r.joint_collapse_count) * 0.2)};
}

BoInput bo_input(const Snapshot& snap) {
  BoInput in;
  auto view = [](const Tensor4f& t) {
    return host_view(t.data.data(), {t.shape[0], t.shape[1], t.shape[2], t.shape[3]});
  };
  in.k = view(snap.k);
  if (snap.v) in.v = view(*snap.v);
  in.q_heads = snap.q ? snap.q->heads() : 0;
  return in;
}

BoResult analyse_bo(const Snapshot& snap, const BoOptions& opts) {
  ExecContext ctx;
  ctx.device = device_here(opts.device);
  ctx.threads = cpu_budget();
  return analyse_bo(bo_input(snap), opts, ctx);
}

BoResult analyse_bo(const BoInput& in, const BoOptions& opts, const ExecContext& ctx) {
  const Backend backend = backend_of(ctx.device);
  const float* k_data = f32_data(in.k, 4, ctx.device, false, "bo metrics: k");
  const float* v_data = in.v ? f32_data(*in.v, 4, ctx.device, false, "bo metrics: v") : nullptr;
  if (in.v && in.v->shape != in.k.shape) throw std::invalid_argument("bo metrics: v and k differ in shape");
  const bool compat = opts.lem_compat;
  const double lock_t = compat ? 0.7 : opts.lock_threshold;
  const double collapse_t = compat ? 0.5 : opts.collapse_threshold;

  const CloudDims d{static_cast<int>(in.k.shape[0]), static_cast<int>(in.k.shape[1]), in.k.shape[2],
                    in.k.shape[3]};
  BoResult r = bo_header(d, in.q_heads, compat, backend);
  const StatsPlan plan = key_plan(r, d, compat, lock_t);
  const int nh = r.analysed_heads;
  // The seed returns an all-zero position-mode result when there is no pair of positions.
  const bool empty = r.gqa && d.seq < 2;

  Coherence vc;
  if (empty) {
    r.head_differentiation.assign(static_cast<size_t>(d.layers) * nh, 0.0);
    r.head_entropy.assign(static_cast<size_t>(d.layers) * nh, 0.0);
  } else {
    const CloudStats ks = cloud_stats(backend, k_data, d, plan);
    const Coherence kc = r.gqa ? position_coherence(ks, d, nh) : multi_head_coherence(ks, d, lock_t);
    key_metrics(r, d, ks, kc, collapse_t);
    if (v_data != nullptr) vc = value_coherence(backend, v_data, d, plan, r, lock_t);
  }
  composite_fields(r, compat);
  if (v_data != nullptr) r.value = value_result(r, vc, empty, backend, k_data, v_data, d);
  return r;
}

}  // namespace qk
