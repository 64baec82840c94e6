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
#include "ops/multi_head_pass_cpu.hpp"
#include "seed_math.hpp"

namespace qk {

namespace {

// The seed's KV-head count at or below which it switches to position-wise analysis.
constexpr int kPositionModeMaxHeads = 4;

// The plan's reductions of x, a cloud in host memory or (on_device) in the memory of the
// backend's GPU, written by work on `producer` (a cudaStream_t; null: none).
CloudStats cloud_stats(const Backend& b, const float* x, const CloudDims& d, const StatsPlan& p,
                       bool on_device, void* producer) {
  if (!b.gpu) return compute_cloud_stats_cpu(x, d, p);
  return on_device ? compute_cloud_stats_on_device(x, d, p, b.device, producer)
                   : compute_cloud_stats_gpu(x, d, p, b.device);
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

// The statistics the key cloud needs (position-wise or multi-head); *nh: the heads the
// position-wise analysis and entropy read.
StatsPlan key_plan(const CloudDims& d, bool compat, double lock_t, int* nh) {
  StatsPlan plan;
  *nh = d.heads;
  if (bo_position_mode(d.heads)) {
    *nh = compat ? 1 : d.heads;
    plan.position_heads = *nh;
    plan.below_threshold = decimal_complement(lock_t);
    plan.entropy_heads = *nh;
  } else {
    plan.head_gram = true;
    plan.entropy_heads = d.heads;
    plan.layer_alignment = true;
    plan.seed_f32_mean = compat;
  }
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

// The value cloud's plan: the key plan less entropy and layer alignment.
StatsPlan value_plan(StatsPlan plan) {
  plan.entropy_heads = 0;
  plan.layer_alignment = false;
  return plan;
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
BoValueResult value_result(const BoResult& r, const Coherence& vc, bool empty, const std::vector<double>& cka,
                           const CloudDims& d) {
  BoValueResult v;
  v.layer_value_coherence = empty ? std::vector<double>(d.layers, 0.0) : vc.layer;
  v.mean_value_coherence = mean_of(v.layer_value_coherence, d.layers);
  v.value_phase_lock_score = vc.lock;
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

// Appends b's arrays to a's.
template <typename T>
void append(std::vector<T>& a, const std::vector<T>& b) {
  a.insert(a.end(), b.begin(), b.end());
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
  return bo_from_stats(bo_stats(in, opts, ctx), opts, ctx.device);
}

namespace {

// The checked clouds of `in` (k_data, v_data: their data) and the header of their stats.
BoStats stats_header(const BoInput& in, const ExecContext& ctx, const Backend& backend, const float** k_data,
                     const float** v_data) {
  *k_data = f32_data(in.k, 4, ctx.device, backend.gpu, "bo metrics: k");
  *v_data = in.v ? f32_data(*in.v, 4, ctx.device, backend.gpu, "bo metrics: v") : nullptr;
  if (in.v && in.v->shape != in.k.shape) throw std::invalid_argument("bo metrics: v and k differ in shape");
  if (in.v && in.v->device.cuda != in.k.device.cuda)
    throw std::invalid_argument("bo metrics: v and k are in different memories");
  BoStats s;
  s.dims = CloudDims{static_cast<int>(in.k.shape[0]), static_cast<int>(in.k.shape[1]), in.k.shape[2],
                     in.k.shape[3]};
  s.q_heads = in.q_heads;
  s.has_v = *v_data != nullptr;
  return s;
}

// Whether the clouds get reductions: the seed returns an all-zero position-mode result when
// there is no pair of positions.
bool has_reductions(const CloudDims& d) { return !(bo_position_mode(d.heads) && d.seq < 2); }

}  // namespace

BoStats bo_stats(const BoInput& in, const BoOptions& opts, const ExecContext& ctx) {
  const Backend backend = backend_of(ctx.device);
  const float *k_data = nullptr, *v_data = nullptr;
  BoStats s = stats_header(in, ctx, backend, &k_data, &v_data);
  const CloudDims& d = s.dims;
  const bool dev = in.k.device.cuda;
  int nh = 0;
  const StatsPlan plan = key_plan(d, opts.lem_compat, opts.lem_compat ? 0.7 : opts.lock_threshold, &nh);
  if (has_reductions(d)) {
    s.k = cloud_stats(backend, k_data, d, plan, dev, ctx.stream);
    if (s.has_v) s.v = cloud_stats(backend, v_data, d, value_plan(plan), dev, ctx.stream);
  }
  if (!s.has_v) return s;
  if (!backend.gpu)
    s.kv_cka = compute_kv_cka_cpu(k_data, v_data, d);
  else
    s.kv_cka = dev ? compute_kv_cka_on_device(k_data, v_data, d, backend.device, ctx.stream)
                   : compute_kv_cka_gpu(k_data, v_data, d, backend.device);
  return s;
}

std::function<BoStats()> queue_bo_stats(const BoInput& in, const BoOptions& opts, const ExecContext& ctx,
                                        DeviceResults& results) {
  if (!in.k.device.cuda) return [s = bo_stats(in, opts, ctx)] { return s; };
  const Backend backend = backend_of(ctx.device);
  const float *k_data = nullptr, *v_data = nullptr;
  BoStats s = stats_header(in, ctx, backend, &k_data, &v_data);
  const CloudDims& d = s.dims;
  int nh = 0;
  const StatsPlan plan = key_plan(d, opts.lem_compat, opts.lem_compat ? 0.7 : opts.lock_threshold, &nh);
  std::function<CloudStats()> k, v;
  std::function<std::vector<double>()> cka;
  if (has_reductions(d)) {
    k = queue_cloud_stats_on_device(k_data, d, plan, results);
    if (s.has_v) v = queue_cloud_stats_on_device(v_data, d, value_plan(plan), results);
  }
  if (s.has_v) cka = queue_kv_cka_on_device(k_data, v_data, d, results);
  return [s, k, v, cka]() mutable {
    if (k) s.k = k();
    if (v) s.v = v();
    if (cka) s.kv_cka = cka();
    return s;
  };
}

BoResult bo_from_stats(const BoStats& s, const BoOptions& opts, const Device& device) {
  const bool compat = opts.lem_compat;
  const double lock_t = compat ? 0.7 : opts.lock_threshold;
  const double collapse_t = compat ? 0.5 : opts.collapse_threshold;
  const CloudDims& d = s.dims;
  BoResult r = bo_header(d, s.q_heads, compat, backend_of(device));
  int nh = 0;
  key_plan(d, compat, lock_t, &nh);
  r.analysed_heads = nh;
  const bool empty = r.gqa && d.seq < 2;
  Coherence vc;
  if (empty) {
    r.head_differentiation.assign(static_cast<size_t>(d.layers) * nh, 0.0);
    r.head_entropy.assign(static_cast<size_t>(d.layers) * nh, 0.0);
  } else {
    const Coherence kc = r.gqa ? position_coherence(s.k, d, nh) : multi_head_coherence(s.k, d, lock_t);
    key_metrics(r, d, s.k, kc, collapse_t);
    if (s.has_v) vc = r.gqa ? position_coherence(s.v, d, nh) : multi_head_coherence(s.v, d, lock_t);
  }
  composite_fields(r, compat);
  if (s.has_v) r.value = value_result(r, vc, empty, s.kv_cka, d);
  return r;
}

void bo_append_layer(BoStats& all, const BoStats& layer, std::optional<double> align) {
  if (all.dims.layers == 0) {
    all = layer;
    return;
  }
  ++all.dims.layers;
  for (auto* p : {&all.k, &all.v}) {
    const CloudStats& from = p == &all.k ? layer.k : layer.v;
    append(p->head_gram, from.head_gram);
    append(p->pos_sum_cos, from.pos_sum_cos);
    append(p->pos_below, from.pos_below);
    append(p->entropy, from.entropy);
  }
  if (align) all.k.layer_align.push_back(*align);
  append(all.kv_cka, layer.kv_cka);
}

bool bo_needs_alignment(int kv_heads) { return !bo_position_mode(kv_heads); }

namespace {

// The data of the two one-layer key clouds of bo_layer_alignment, checked.
std::pair<const float*, const float*> alignment_pair(const TensorView& prev_k, const TensorView& k,
                                                     const ExecContext& ctx, const Backend& backend) {
  const float* a = f32_data(prev_k, 4, ctx.device, backend.gpu, "bo metrics: previous layer's k");
  const float* b = f32_data(k, 4, ctx.device, backend.gpu, "bo metrics: k");
  if (prev_k.shape != k.shape || k.shape[0] != 1 || prev_k.device.cuda != k.device.cuda)
    throw std::invalid_argument("bo metrics: layer alignment needs two one-layer key clouds of one shape");
  return {a, b};
}

}  // namespace

double bo_layer_alignment(const TensorView& prev_k, const TensorView& k, const BoOptions& opts,
                          const ExecContext& ctx) {
  const Backend backend = backend_of(ctx.device);
  const auto [a, b] = alignment_pair(prev_k, k, ctx, backend);
  const int heads = static_cast<int>(k.shape[1]);
  if (!backend.gpu)
    return multi_head_alignment_pair_cpu(a, b, heads, k.shape[2], k.shape[3], opts.lem_compat);
  return layer_alignment_pair_on_device(a, b, heads, k.shape[2] * k.shape[3], opts.lem_compat, backend.device,
                                        ctx.stream);
}

std::function<double()> queue_bo_layer_alignment(const TensorView& prev_k, const TensorView& k,
                                                 const BoOptions& opts, const ExecContext& ctx,
                                                 DeviceResults& results) {
  if (!k.device.cuda) return [a = bo_layer_alignment(prev_k, k, opts, ctx)] { return a; };
  const auto [a, b] = alignment_pair(prev_k, k, ctx, backend_of(ctx.device));
  return queue_layer_alignment_pair(a, b, static_cast<int>(k.shape[1]), k.shape[2] * k.shape[3],
                                    opts.lem_compat, results);
}

}  // namespace qk
