#include "layer_analysis.hpp"

#include <stdexcept>

#include "bo/bo_nonfinite.hpp"

namespace qk {

bool probe_needs_previous_k(const ProbeMetrics& m, int kv_heads) {
  return m.bo && bo_needs_alignment(kv_heads);
}

ProbeLayers::ProbeLayers(const ProbeMetrics& m, const ExecContext& ctx, int layers, int q_heads, int kv_heads)
    : m_(m), ctx_(ctx), layers_(layers), q_heads_(q_heads), kv_heads_(kv_heads) {}

void ProbeLayers::note_nonfinite(const Snapshot& host) {
  const std::vector<uint8_t> k = nonfinite_heads(host.k);
  k_bad_.insert(k_bad_.end(), k.begin(), k.end());
  if (host.v) {
    const std::vector<uint8_t> v = nonfinite_heads(*host.v);
    v_bad_.insert(v_bad_.end(), v.begin(), v.end());
  }
  if (first_bad_) return;
  first_bad_ = first_nonfinite(host);
  if (first_bad_) first_bad_->layer = next_;
}

void ProbeLayers::add(const LayerQkv& layer) {
  queue(layer, nullptr);
  complete(layer.finite, layer.host);
}

void ProbeLayers::queue(const LayerQkv& layer, DeviceResults* results) {
  const int at = next_ + static_cast<int>(pending_.size());  // the layer queued now
  if (at >= layers_) throw std::logic_error("ProbeLayers: more layers than the model has");
  Pending p;
  if (m_.bo) {
    BoInput in{layer.k, layer.v, q_heads_};
    if (results != nullptr) {
      p.bo = queue_bo_stats(in, m_.bo_options, ctx_, *results);
    } else {
      p.bo = [s = bo_stats(in, m_.bo_options, ctx_)] { return s; };
    }
    if (at > 0 && probe_needs_previous_k(m_, kv_heads_)) {
      if (!layer.prev_k)
        throw std::logic_error("ProbeLayers: the multi-head mode needs the previous layer's k");
      if (results != nullptr)
        p.align = queue_bo_layer_alignment(*layer.prev_k, layer.k, m_.bo_options, ctx_, *results);
      else
        p.align = [a = bo_layer_alignment(*layer.prev_k, layer.k, m_.bo_options, ctx_)] { return a; };
    }
  }
  if (m_.attention) {
    if (!layer.q) throw std::logic_error("ProbeLayers: the attention statistics need q");
    const AttentionStatsOptions opts = layer_options(m_.attention_options, at);
    const AttentionInput in{*layer.q, layer.k};
    if (results != nullptr)
      p.attention = queue_attention_stats(in, opts, ctx_, *results);
    else
      p.attention = [s = attention_stats(in, opts, ctx_)] { return s; };
  }
  p.has_v = layer.v.has_value();
  pending_.push_back(std::move(p));
}

void ProbeLayers::complete(bool finite, const Snapshot* host) {
  if (pending_.empty()) throw std::logic_error("ProbeLayers: complete without a queued layer");
  const Pending p = std::move(pending_.front());
  pending_.pop_front();
  if (!finite) {
    if (host == nullptr) throw std::logic_error("ProbeLayers: a non-finite layer without its host copy");
    note_nonfinite(*host);
  } else {
    k_bad_.resize(k_bad_.size() + static_cast<size_t>(kv_heads_), 0);
    if (p.has_v) v_bad_.resize(v_bad_.size() + static_cast<size_t>(kv_heads_), 0);
  }
  if (m_.bo) bo_append_layer(bo_, p.bo(), p.align ? std::optional<double>(p.align()) : std::nullopt);
  if (m_.attention) append_attention_layer(attention_, p.attention(), m_.attention_options);
  ++next_;
}

// The metrics as computed; BO masked by the non-finite heads of k and v.
void ProbeLayers::metrics(bool mask, ProbeOutcome& out) const {
  if (m_.bo) {
    out.bo = bo_from_stats(bo_, m_.bo_options, ctx_.device);
    if (mask) mask_nonfinite_bo(*out.bo, k_bad_, &v_bad_);
  }
  if (m_.attention) out.attention = attention_;
}

void ProbeLayers::finish(ProbeOutcome& out) const {
  if (next_ != layers_) throw std::logic_error("ProbeLayers: finish before the last layer");
  out.status = ProbeStatus{};
  auto without_numbers = [&] {
    if (m_.bo) out.bo = nan_bo_result(layers_, kv_heads_, m_.bo_options.lem_compat);
    if (m_.attention) out.attention = nan_attention_stats();
  };
  if (first_bad_) {
    out.status = {"non_finite", static_cast<int32_t>(first_bad_->layer), first_bad_->tensor,
                  describe_nonfinite(*first_bad_, q_heads_, kv_heads_)};
    if (m_.policy == OnNonFinite::Skip) without_numbers();
    if (m_.policy == OnNonFinite::Keep) metrics(true, out);
    return;
  }
  metrics(false, out);
  std::optional<std::string> bad = out.bo ? first_nonfinite_bo(*out.bo) : std::nullopt;
  if (!bad && out.attention) bad = first_nonfinite_attention(*out.attention);
  if (!bad) return;
  out.status = {"non_finite_metric", -1, bad->substr(0, bad->find('[')),
                *bad + " is not finite although q, k and v are"};
  if (m_.policy == OnNonFinite::Skip) without_numbers();
  if (m_.policy == OnNonFinite::Fail) {
    out.bo.reset();
    out.attention.reset();
  }
}

}  // namespace qk
