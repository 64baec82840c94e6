#include "probe_analysis.hpp"

#include <optional>
#include <stdexcept>

#include "bo/backend.hpp"
#include "cpu_budget.hpp"
#include "finite_check.hpp"
#include "layer_analysis.hpp"
#include "option_names.hpp"

namespace qk {

namespace {

constexpr OptionName<OnNonFinite> kOnNonFiniteNames[] = {
    {OnNonFinite::Fail, "fail"}, {OnNonFinite::Skip, "skip"}, {OnNonFinite::Keep, "keep"}};

}  // namespace

OnNonFinite parse_on_nonfinite(const std::string& name) {
  return parse_option(name, kOnNonFiniteNames, "--on-nonfinite");
}

const char* on_nonfinite_name(OnNonFinite policy) { return option_name(policy, kOnNonFiniteNames); }

namespace {

// Layer l of t [layers, heads, seq, head_dim] as a host view [1, heads, seq, head_dim].
TensorView layer_view(const Tensor4f& t, int64_t l) {
  const int64_t per_layer = t.numel() / t.shape[0];
  return host_view(t.data.data() + l * per_layer, {1, t.shape[1], t.shape[2], t.shape[3]});
}

// True when every value of layer l of t is finite.
bool layer_finite(const Tensor4f& t, int64_t l) {
  const int64_t n = t.numel() / t.shape[0];
  return all_finite(t.data.data() + l * n, n);
}

// Layer l of snap's q, k and v as a one-layer snapshot (host copies).
Snapshot layer_copy(const Snapshot& snap, int64_t l) {
  auto copy = [l](const Tensor4f& t) {
    Tensor4f c;
    c.shape = {1, t.shape[1], t.shape[2], t.shape[3]};
    const int64_t n = c.numel();
    c.data.assign(t.data.begin() + l * n, t.data.begin() + (l + 1) * n);
    return c;
  };
  Snapshot one;
  one.k = copy(snap.k);
  if (snap.v) one.v = copy(*snap.v);
  if (snap.q) one.q = copy(*snap.q);
  return one;
}

}  // namespace

void analyse_probe(const Snapshot& snap, const ProbeMetrics& m, ProbeOutcome& out) {
  ExecContext ctx;
  ctx.device = device_here(m.bo_options.device);
  ctx.threads = cpu_budget();
  const int layers = static_cast<int>(snap.k.layers());
  ProbeLayers probe(m, ctx, layers, snap.q ? static_cast<int>(snap.q->heads()) : 0,
                    static_cast<int>(snap.k.heads()));
  for (int l = 0; l < layers; ++l) {
    LayerQkv in;
    in.k = layer_view(snap.k, l);
    if (snap.v) in.v = layer_view(*snap.v, l);
    if (snap.q) in.q = layer_view(*snap.q, l);
    if (l > 0) in.prev_k = layer_view(snap.k, l - 1);
    in.finite = layer_finite(snap.k, l) && (!snap.v || layer_finite(*snap.v, l)) &&
                (!snap.q || layer_finite(*snap.q, l));
    Snapshot host;
    if (!in.finite) {
      host = layer_copy(snap, l);
      in.host = &host;
    }
    probe.add(in);
  }
  probe.finish(out);
}

}  // namespace qk
