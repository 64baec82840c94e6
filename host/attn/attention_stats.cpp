#include "attn/attention_stats.hpp"

#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <tuple>

#include "attn/attention_stats_gpu.hpp"
#include "bo/backend.hpp"
#include "cpu_budget.hpp"
#include "online_softmax.hpp"
#include "report_format.hpp"
#include "ops/attention_stats_cpu.hpp"

namespace qk {

namespace {

double mean_of(const std::vector<double>& v) {
  if (v.empty()) return 0.0;
  double s = 0.0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

// std::invalid_argument unless q and k agree in layers, seq and head_dim and the mask and
// window options fit together.
void check_clouds_and_mask(const HostCloud4& q, const HostCloud4& k, const AttentionStatsOptions& opts) {
  if (q.shape[0] != k.shape[0] || q.shape[2] != k.shape[2] || q.shape[3] != k.shape[3])
    throw std::invalid_argument("attention statistics: q and k disagree in layers, seq or dim");
  if (opts.mask == AttentionMask::SlidingWindow && opts.window < 1)
    throw std::invalid_argument("--mask sliding needs --window N with N >= 1");
  if (opts.mask != AttentionMask::SlidingWindow && opts.window != 0)
    throw std::invalid_argument("--window applies to --mask sliding only");
}

// The logit scale: --attn-scale, else 1/sqrt(head_dim); std::invalid_argument unless
// positive and finite, or unless the soft-cap is finite and >= 0.
double checked_scale(const HostCloud4& q, const AttentionStatsOptions& opts) {
  const double scale = opts.scale ? *opts.scale : 1.0 / std::sqrt(static_cast<double>(q.head_dim()));
  if (!std::isfinite(scale) || scale <= 0.0)
    throw std::invalid_argument("--attn-scale must be a positive finite number");
  if (!std::isfinite(opts.softcap) || opts.softcap < 0.0)
    throw std::invalid_argument("attention statistics: the logit soft-cap must be finite and >= 0 (0: none)");
  return scale;
}

// std::invalid_argument unless the per-layer windows and scales have one entry per layer
// (or none) and every layer scale is positive and finite.
void check_layer_options(int layers, const AttentionStatsOptions& opts) {
  if (!opts.layer_window.empty() && opts.layer_window.size() != static_cast<size_t>(layers))
    throw std::invalid_argument("attention statistics: layer_window has " +
                                std::to_string(opts.layer_window.size()) + " entries for " +
                                std::to_string(layers) + " layers");
  if (!opts.layer_scale.empty() && opts.layer_scale.size() != static_cast<size_t>(layers))
    throw std::invalid_argument("attention statistics: layer_scale has " +
                                std::to_string(opts.layer_scale.size()) + " entries for " +
                                std::to_string(layers) + " layers");
  for (double ls : opts.layer_scale)
    if (!std::isfinite(ls) || ls <= 0.0) throw std::invalid_argument("attention statistics: bad layer scale");
}

// Each layer's mask and window [layers]: the per-layer window where one is set, else the base.
struct LayerMasks {
  std::vector<AttentionMask> masks;
  std::vector<int64_t> windows;
};

LayerMasks layer_masks(int layers, const AttentionStatsOptions& opts) {
  LayerMasks m;
  m.masks.assign(static_cast<size_t>(layers), opts.mask);
  m.windows.assign(m.masks.size(), opts.mask == AttentionMask::SlidingWindow ? opts.window : 0);
  for (size_t l = 0; l < opts.layer_window.size(); ++l) {
    if (opts.layer_window[l] < 0) throw std::invalid_argument("attention statistics: negative layer window");
    if (opts.layer_window[l] > 0) {
      m.masks[l] = AttentionMask::SlidingWindow;
      m.windows[l] = opts.layer_window[l];
    }
  }
  return m;
}

// The result's options and shape, with entropy, logit std and sink mass zeroed
// [layers][q_heads], distance mass [layers][q_heads][kDistanceBuckets].
AttentionStats stats_header(const HostCloud4& q, const AttentionStatsOptions& opts, double scale,
                            const Backend& backend) {
  AttentionStats s;
  s.backend = backend.name;
  s.mask = attention_mask_name(opts.mask);
  s.window = opts.mask == AttentionMask::SlidingWindow ? opts.window : 0;
  s.layer_window = opts.layer_window;
  s.scale = scale;
  s.layer_scale = opts.layer_scale;
  s.softcap = opts.softcap;
  s.layers = q.layers();
  s.q_heads = q.heads();
  const size_t n = static_cast<size_t>(s.layers) * s.q_heads;
  s.entropy_nats.assign(n, 0.0);
  s.logit_std.assign(n, 0.0);
  s.sink_mass.assign(n, 0.0);
  s.distance_mass.assign(n * kDistanceBuckets, 0.0);
  return s;
}

// Entropy (nats), logit std, sink mass and distance mass of every (layer, query head) into s, on the GPU
// (all layers at once, or one at a time with per-layer scales) or the CPU (layer by layer).
// The GPU's statistics of q against k (host clouds, or device ones: on_device) into s from
// layer offset `at` on: masks/windows [layers of q], one scale.
void gpu_stats(const HostCloud4& q, const HostCloud4& k, float scale, float cap,
               const std::vector<AttentionMask>& masks, const std::vector<int64_t>& windows,
               const Backend& backend, bool on_device, void* producer, size_t at, AttentionStats& s) {
  double* out[] = {s.entropy_nats.data() + at, s.logit_std.data() + at, s.sink_mass.data() + at,
                   s.distance_mass.data() + at * kDistanceBuckets};
  if (on_device)
    attention_stats_on_device(q, k, scale, cap, masks, windows, backend.device, producer, out[0], out[1],
                              out[2], out[3]);
  else
    attention_stats_gpu(q, k, scale, cap, masks, windows, backend.device, out[0], out[1], out[2], out[3]);
}

// Calls f(q, k, scale, masks, windows, at) for the GPU's calls over every layer of q and k:
// one layer at a time when each layer has its scale, else all layers at once; `at` is the
// call's first (layer, query head) result.
template <typename F>
void for_gpu_calls(const HostCloud4& q, const HostCloud4& k, const AttentionStatsOptions& opts, float fscale,
                   const LayerMasks& lm, F f) {
  if (opts.layer_scale.empty()) {
    f(q, k, fscale, lm.masks, lm.windows, size_t{0});
    return;
  }
  const size_t q_layer = static_cast<size_t>(q.heads()) * q.seq() * q.head_dim();
  const size_t k_layer = static_cast<size_t>(k.heads()) * k.seq() * k.head_dim();
  for (int l = 0; l < q.layers(); ++l) {
    const HostCloud4 ql{q.data + l * q_layer, {1, q.shape[1], q.shape[2], q.shape[3]}};
    const HostCloud4 kl{k.data + l * k_layer, {1, k.shape[1], k.shape[2], k.shape[3]}};
    f(ql, kl, static_cast<float>(opts.layer_scale[l]), std::vector<AttentionMask>{lm.masks[l]},
      std::vector<int64_t>{lm.windows[l]}, static_cast<size_t>(l) * q.heads());
  }
}

void compute_stats(const HostCloud4& q, const HostCloud4& k, const AttentionStatsOptions& opts, float fscale,
                   const LayerMasks& lm, const Backend& backend, bool on_device, void* producer,
                   AttentionStats& s) {
  const size_t q_layer = static_cast<size_t>(q.heads()) * q.seq() * q.head_dim();
  const size_t k_layer = static_cast<size_t>(k.heads()) * k.seq() * k.head_dim();
  const auto cap = static_cast<float>(opts.softcap);
  if (backend.gpu) {
    for_gpu_calls(
        q, k, opts, fscale, lm,
        [&](const HostCloud4& ql, const HostCloud4& kl, float scale, const std::vector<AttentionMask>& masks,
            const std::vector<int64_t>& windows, size_t at) {
          gpu_stats(ql, kl, scale, cap, masks, windows, backend, on_device, producer, at, s);
        });
    return;
  }
  for (int l = 0; l < s.layers; ++l) {
    const size_t at = static_cast<size_t>(l) * s.q_heads;
    attention_stats_cpu(q.data + l * q_layer, k.data + l * k_layer, q.heads(), k.heads(), q.seq(),
                        q.head_dim(),
                        opts.layer_scale.empty() ? fscale : static_cast<float>(opts.layer_scale[l]),
                        lm.masks[l], lm.windows[l], s.entropy_nats.data() + at, s.logit_std.data() + at,
                        s.sink_mass.data() + at, cap, s.distance_mass.data() + at * kDistanceBuckets);
  }
}

// distance_mass as nested JSON arrays [layers][q_heads][bucket] ([] when empty).
nlohmann::json distance_json(const AttentionStats& s) {
  nlohmann::json out = nlohmann::json::array();
  const size_t per_layer = static_cast<size_t>(s.q_heads) * kDistanceBuckets;
  if (s.distance_mass.size() != static_cast<size_t>(s.layers) * per_layer) return out;
  for (int l = 0; l < s.layers; ++l) {
    const auto* at = s.distance_mass.data() + l * per_layer;
    out.push_back(nested_rows(std::vector<double>(at, at + per_layer), s.q_heads));
  }
  return out;
}

}  // namespace

AttentionMask parse_attention_mask(const std::string& name) {
  if (name == "causal") return AttentionMask::Causal;
  if (name == "full") return AttentionMask::Full;
  if (name == "sliding") return AttentionMask::SlidingWindow;
  throw std::invalid_argument("--mask must be causal, full or sliding, not '" + name + "'");
}

std::string attention_mask_name(AttentionMask mask) {
  switch (mask) {
    case AttentionMask::Causal:
      return "causal";
    case AttentionMask::Full:
      return "full";
    case AttentionMask::SlidingWindow:
      return "sliding";
  }
  return "causal";
}

AttentionInput attention_input(const Snapshot& snap) {
  if (!snap.q) throw std::invalid_argument("attention statistics need q in the snapshot");
  auto view = [](const Tensor4f& t) {
    return host_view(t.data.data(), {t.shape[0], t.shape[1], t.shape[2], t.shape[3]});
  };
  return {view(*snap.q), view(snap.k)};
}

AttentionStats attention_stats(const Snapshot& snap, const AttentionStatsOptions& opts) {
  const AttentionInput in = attention_input(snap);
  ExecContext ctx;
  ctx.device = device_here(opts.device);
  ctx.threads = cpu_budget();
  return attention_stats(in, opts, ctx);
}

namespace {

// The checked clouds of `in` and their options' masks; the stats' header.
struct CheckedInput {
  HostCloud4 q, k;
  double scale = 0;
  LayerMasks lm;
};

CheckedInput checked_input(const AttentionInput& in, const AttentionStatsOptions& opts,
                           const ExecContext& ctx, const Backend& backend) {
  CheckedInput c;
  c.q = {f32_data(in.q, 4, ctx.device, backend.gpu, "attention statistics: q"),
         {in.q.shape[0], in.q.shape[1], in.q.shape[2], in.q.shape[3]}};
  c.k = {f32_data(in.k, 4, ctx.device, backend.gpu, "attention statistics: k"),
         {in.k.shape[0], in.k.shape[1], in.k.shape[2], in.k.shape[3]}};
  if (in.q.device.cuda != in.k.device.cuda)
    throw std::invalid_argument("attention statistics: q and k are in different memories");
  check_clouds_and_mask(c.q, c.k, opts);
  c.scale = checked_scale(c.q, opts);
  check_layer_options(c.q.layers(), opts);
  c.lm = layer_masks(c.q.layers(), opts);
  return c;
}

void set_means(AttentionStats& s) {
  s.mean_entropy_nats = mean_of(s.entropy_nats);
  s.mean_logit_std = mean_of(s.logit_std);
  s.mean_sink_mass = mean_of(s.sink_mass);
}

}  // namespace

AttentionStats attention_stats(const AttentionInput& in, const AttentionStatsOptions& opts,
                               const ExecContext& ctx) {
  const Backend backend = backend_of(ctx.device);
  const CheckedInput c = checked_input(in, opts, ctx, backend);
  AttentionStats s = stats_header(c.q, opts, c.scale, backend);
  compute_stats(c.q, c.k, opts, static_cast<float>(c.scale), c.lm, backend, in.q.device.cuda, ctx.stream, s);
  set_means(s);
  return s;
}

std::function<AttentionStats()> queue_attention_stats(const AttentionInput& in,
                                                      const AttentionStatsOptions& opts,
                                                      const ExecContext& ctx, DeviceResults& results) {
  if (!in.q.device.cuda) return [s = attention_stats(in, opts, ctx)] { return s; };
  const Backend backend = backend_of(ctx.device);
  const CheckedInput c = checked_input(in, opts, ctx, backend);
  AttentionStats s = stats_header(c.q, opts, c.scale, backend);
  std::vector<std::pair<size_t, AttentionOutputs>> parts;  // (result offset, reader)
  for_gpu_calls(c.q, c.k, opts, static_cast<float>(c.scale), c.lm,
                [&](const HostCloud4& q, const HostCloud4& k, float scale,
                    const std::vector<AttentionMask>& masks, const std::vector<int64_t>& windows, size_t at) {
                  parts.emplace_back(
                      at, queue_attention_stats_on_device(q, k, scale, static_cast<float>(opts.softcap),
                                                          masks, windows, results));
                });
  return [s, parts]() mutable {
    for (const auto& [at, read] : parts)
      read(s.entropy_nats.data() + at, s.logit_std.data() + at, s.sink_mass.data() + at,
           s.distance_mass.data() + at * kDistanceBuckets);
    set_means(s);
    return s;
  };
}

AttentionStatsOptions layer_options(const AttentionStatsOptions& opts, int layer) {
  AttentionStatsOptions o = opts;
  const auto l = static_cast<size_t>(layer);
  if (!opts.layer_window.empty()) o.layer_window = {opts.layer_window.at(l)};
  if (!opts.layer_scale.empty()) o.layer_scale = {opts.layer_scale.at(l)};
  return o;
}

void append_attention_layer(AttentionStats& all, const AttentionStats& layer,
                            const AttentionStatsOptions& opts) {
  if (all.layers == 0)
    all = layer;
  else {
    for (auto [to, from] : {std::pair{&all.entropy_nats, &layer.entropy_nats},
                            {&all.logit_std, &layer.logit_std},
                            {&all.sink_mass, &layer.sink_mass},
                            {&all.distance_mass, &layer.distance_mass}})
      to->insert(to->end(), from->begin(), from->end());
    ++all.layers;
  }
  all.layer_window = opts.layer_window;
  all.layer_scale = opts.layer_scale;
  all.mean_entropy_nats = mean_of(all.entropy_nats);
  all.mean_logit_std = mean_of(all.logit_std);
  all.mean_sink_mass = mean_of(all.sink_mass);
}

std::optional<std::string> first_nonfinite_attention(const AttentionStats& s) {
  const std::tuple<const char*, const std::vector<double>*, size_t> arrays[] = {
      {"attention/entropy", &s.entropy_nats, 1},
      {"attention/logit_std", &s.logit_std, 1},
      {"attention/sink_mass", &s.sink_mass, 1},
      {"attention/distance_mass", &s.distance_mass, kDistanceBuckets}};
  for (const auto& [name, v, per] : arrays)
    for (size_t i = 0; i < v->size(); ++i)
      if (!std::isfinite((*v)[i])) {
        const size_t h = s.q_heads > 0 ? static_cast<size_t>(s.q_heads) : 1, at = i / per;
        return std::string(name) + "[layer " + std::to_string(at / h) + ", head " + std::to_string(at % h) +
               "]";
      }
  return std::nullopt;
}

AttentionStats nan_attention_stats() {
  AttentionStats s;
  s.mean_entropy_nats = s.mean_logit_std = s.mean_sink_mass = std::numeric_limits<double>::quiet_NaN();
  return s;
}

std::vector<int64_t> distance_bucket_lower_edges() {
  std::vector<int64_t> lo{0};
  for (int b = 1; b < kDistanceBuckets; ++b) lo.push_back(int64_t{1} << (b - 1));
  return lo;
}

void add_attention_stats_json(const AttentionStats& s, nlohmann::json& j) {
  // The names of the stored quantities attention/* (host/core/quantities.cpp).
  j["attention"] = {{"entropy", nested_rows(s.entropy_nats, s.layers)},
                    {"logit_std", nested_rows(s.logit_std, s.layers)},
                    {"sink_mass", nested_rows(s.sink_mass, s.layers)},
                    {"distance_mass", distance_json(s)},
                    {"distance_buckets", distance_bucket_lower_edges()},
                    {"mean_entropy", s.mean_entropy_nats},
                    {"mean_logit_std", s.mean_logit_std},
                    {"mean_sink_mass", s.mean_sink_mass},
                    {"mask", s.mask},
                    {"window", s.window},
                    {"scale", s.scale},
                    {"backend", s.backend}};
  if (!s.layer_window.empty()) j["attention"]["layer_window"] = s.layer_window;
  if (!s.layer_scale.empty()) j["attention"]["layer_scale"] = s.layer_scale;
  if (s.softcap > 0) j["attention"]["logit_softcap"] = s.softcap;
}

std::string attention_stats_table(const AttentionStats& s) {
  std::string t = "\nAttention statistics (" + s.mask;
  if (s.mask == "sliding") t += " window " + std::to_string(s.window);
  for (size_t l = 0; l < s.layer_window.size(); ++l)
    if (s.layer_window[l] > 0) {
      t += "; sliding window " + std::to_string(s.layer_window[l]) + " on some layers";
      break;
    }
  t += ", scale " + fmt_double("%.6g", s.scale);
  if (s.softcap > 0) t += ", logits soft-capped at " + fmt_double("%.6g", s.softcap);
  t += ", " + s.backend + ")\n";
  t += "  mean entropy (nats)     " + fmt_double("%.6f", s.mean_entropy_nats) + "\n";
  t += "  mean logit std          " + fmt_double("%.6f", s.mean_logit_std) + "\n";
  t += "  mean sink mass          " + fmt_double("%.6f", s.mean_sink_mass) + "\n\n";
  t += "  layer  entropy     logit-std   sink-mass   (means over " + std::to_string(s.q_heads) +
       " query heads)\n";
  for (int l = 0; l < s.layers; ++l) {
    double e = 0, sd = 0, sk = 0;
    for (int h = 0; h < s.q_heads; ++h) {
      const size_t at = static_cast<size_t>(l) * s.q_heads + h;
      e += s.entropy_nats[at];
      sd += s.logit_std[at];
      sk += s.sink_mass[at];
    }
    const double nh = s.q_heads > 0 ? s.q_heads : 1;
    t += fmt_double("  %5.0f", l) + fmt_double("  %9.6f", e / nh) + fmt_double("   %9.6f", sd / nh) +
         fmt_double("   %9.6f", sk / nh) + "\n";
  }
  return t;
}

}  // namespace qk
