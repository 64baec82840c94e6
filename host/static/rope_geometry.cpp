#include "rope_geometry.hpp"

#include <chrono>
#include <optional>
#include <utility>

#include "finite_check.hpp"
#include "hf_tensor_names.hpp"
#include "hf_weights.hpp"
#include "input_error.hpp"
#include "run_record.hpp"
#include "static_weights.hpp"

namespace qk {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// The checkpoint's attention dimensions and rotary dims r, checked: InputError for a
// model without RoPE or with r outside [2, head_dim].
StaticDims rope_dims(const ModelConfig& c, int64_t& rotary_dim) {
  if (c.arch == Architecture::Bert || c.arch == Architecture::Gpt2)
    throw InputError(c.path, std::string("model_type '") + c.model_type + "' (" + architecture_name(c.arch) +
                                 ") has no rotary position embedding; rope-geometry needs a RoPE model");
  const StaticDims d = attention_dims(c);
  const bool partial = c.arch == Architecture::GptNeoX || c.arch == Architecture::Phi3;
  rotary_dim = partial ? c.rotary_dim : c.head_dim;
  if (rotary_dim < 2 || rotary_dim % 2 != 0 || rotary_dim > d.head_dim)
    throw InputError(c.path, "rotary dims " + std::to_string(rotary_dim) +
                                 ": rope-geometry needs an even number of rotary dims in [2, head_dim]");
  return d;
}

// Whether layer l uses the sliding layers' RoPE (Gemma 2 and 3, as the model runtime).
bool uses_local_rope(const ModelConfig& c, int64_t l) {
  const bool gemma = c.arch == Architecture::Gemma3Text || c.arch == Architecture::Gemma2;
  return gemma && l < static_cast<int64_t>(c.sliding_layers.size()) && c.sliding_layers[l];
}

// Layer l's sliding window in positions, 0 when it attends to every earlier key: the
// model runtime's rule (a window in config.json and the layer flagged as sliding).
int64_t sliding_window_of(const ModelConfig& c, int64_t l) {
  const bool slides =
      c.sliding_window && l < static_cast<int64_t>(c.sliding_layers.size()) && c.sliding_layers[l];
  return slides ? *c.sliding_window : 0;
}

// Per layer the frequencies (`global`, or `local` where the layer uses the sliding layers'
// RoPE), HF's logit scale and the sliding window; the model's soft-cap (SweepRope).
SweepRope sweep_rope(const ModelConfig& c, int64_t layers, int64_t rotary_dim,
                     const std::vector<double>& global, const std::vector<double>& local) {
  SweepRope rope;
  rope.rotary_dim = rotary_dim;
  for (int64_t l = 0; l < layers; ++l) {
    rope.inv_freq.push_back(uses_local_rope(c, l) ? local : global);
    rope.scale.push_back(attention_scale(c, l));
    rope.window.push_back(sliding_window_of(c, l));
  }
  rope.softcap = c.attn_logit_softcapping;
  return rope;
}

// The --sweep store checked and read (every InputError of docs/static-geometry.md,
// "Expected logit of a sweep") before any weight is read; the comparison waits for them.
struct SweepInput {
  SweepRope rope;
  SweepMeans means;
};

SweepInput read_sweep_input(const RopeGeometryOptions& o, const ModelConfig& c, const StaticDims& d,
                            int64_t rotary_dim, const std::vector<double>& global,
                            const std::vector<double>& local) {
  check_rope_sweep(o.sweep, o.model, d);
  SweepInput in{sweep_rope(c, d.layers, rotary_dim, global, local), {}};
  in.means = read_sweep_means(o.sweep, d, in.rope);
  return in;
}

}  // namespace

std::vector<int64_t> default_rope_offsets(int64_t max_positions) {
  std::vector<int64_t> o{0};
  for (int64_t p = 1; p < max_positions; p *= 2) o.push_back(p);
  return o;
}

RopeGeometryResult compute_rope_geometry(const RopeGeometryOptions& o, const InvFreqFn& inv_freq) {
  const Backend backend = static_backend(o.device);
  RopeGeometryResult r;
  r.device = backend.name;
  if (backend.gpu) r.gpu_name = gpu_device_name(backend.device);
  r.started_at = utc_now_iso8601();
  const auto t0 = std::chrono::steady_clock::now();
  HfWeights ckpt(o.model);
  const ModelConfig& c = ckpt.config();
  const StaticDims d = r.dims = rope_dims(c, r.rotary_dim);
  r.offsets = o.offsets.empty() ? default_rope_offsets(c.max_position_embeddings) : o.offsets;
  const HfTensorNames names(c.arch, [&](const std::string& n) { return ckpt.has(n); });
  const WeightLoader load = [&](const std::string& n, const std::vector<int64_t>& shape) {
    return ckpt.load_f32(n, shape);
  };
  const std::vector<double> global = inv_freq(c.rope, r.rotary_dim);
  std::vector<double> local;
  for (int64_t l = 0; l < d.layers && local.empty(); ++l)
    if (uses_local_rope(c, l)) local = inv_freq(c.rope_local, r.rotary_dim);
  std::optional<SweepInput> sweep;
  if (!o.sweep.empty()) sweep = read_sweep_input(o, c, d, r.rotary_dim, global, local);
  for (int64_t l = 0; l < d.layers; ++l) {
    const HfAttentionNames a = names.attention(l);
    const std::vector<float> wq = load_qkv_weight(a, 0, d.q_heads, d.kv_heads, d.head_dim, d.hidden, load);
    const std::vector<float> wk = load_qkv_weight(a, 1, d.q_heads, d.kv_heads, d.head_dim, d.hidden, load);
    check_finite_weight(o.model, a.q, wq.data(), {d.q_heads * d.head_dim, d.hidden});
    check_finite_weight(o.model, a.k, wk.data(), {d.kv_heads * d.head_dim, d.hidden});
    const bool is_local = uses_local_rope(c, l);
    const RopeSpec spec{r.rotary_dim, is_local ? local : global, r.offsets};
    r.local_rope.push_back(is_local ? 1 : 0);
    r.inv_freq.insert(r.inv_freq.end(), spec.inv_freq.begin(), spec.inv_freq.end());
    r.layers.push_back(backend.gpu ? rope_layer_gpu(wq.data(), wk.data(), d, spec, backend.device)
                                   : rope_layer_cpu(wq.data(), wk.data(), d, spec));
    if (o.progress) layer_progress("rope-geometry", l, d.layers, seconds_since(t0));
  }
  if (sweep) r.sweep = compare_rope_sweep(o.sweep, std::move(sweep->means), d, sweep->rope);
  r.seconds = seconds_since(t0);
  r.finished_at = utc_now_iso8601();
  return r;
}

}  // namespace qk
