#include "sweep_schema.hpp"

#include <stdexcept>

namespace qk {

SaveKv parse_save_kv(const std::string& name) {
  if (name == "none") return SaveKv::None;
  if (name == "k") return SaveKv::K;
  if (name == "qkv") return SaveKv::Qkv;
  throw std::invalid_argument("--save-kv: unknown '" + name + "'; use none, k or qkv");
}

const char* save_kv_name(SaveKv s) {
  switch (s) {
    case SaveKv::K: return "k";
    case SaveKv::Qkv: return "qkv";
    default: return "none";
  }
}

std::vector<ColumnSpec> sweep_columns(const SweepLayout& d) {
  using S = std::vector<uint64_t>;
  using N = std::vector<std::string>;
  const uint64_t L = static_cast<uint64_t>(d.layers), A = static_cast<uint64_t>(d.analysed_heads);
  const uint64_t Hq = static_cast<uint64_t>(d.q_heads), Hkv = static_cast<uint64_t>(d.kv_heads);
  const uint64_t D = static_cast<uint64_t>(d.head_dim);
  std::vector<ColumnSpec> c = {
      {"probe/index", ColType::I64, {}, false, "", "0-based order of the probe among the probe file's non-blank lines", {}},
      {"probe/line", ColType::I64, {}, false, "", "1-based line of the probe in the probe file", {}},
      {"probe/id", ColType::Str, {}, false, "", "the probe's id (JSONL id, or L<line>)", {}, d.id_bytes},
      {"probe/domain", ColType::Str, {}, false, "", "the probe's domain (JSONL), else empty", {}, d.domain_bytes},
      {"probe/prompt", ColType::Str, {}, false, "", "the prompt as given, before any template", {}, d.prompt_bytes},
      {"probe/fields", ColType::Str, {}, false, "", "the JSONL object's other fields, as compact JSON", {}, d.fields_bytes},
      {"probe/tokens", ColType::I64, {}, false, "tokens", "prompt length in tokens (template and special tokens included)", {}},
      {"probe/status", ColType::Str, {}, false, "", "ok, non_finite (NaN or Inf in q/k/v) or non_finite_metric (finite q/k/v, non-finite metric)", {}, kStatusBytes},
      {"probe/nonfinite_layer", ColType::I32, {}, false, "layer", "first layer with a non-finite q/k/v value; -1 when none", {}},
      {"probe/nonfinite_tensor", ColType::Str, {}, false, "", "q, k or v (non_finite), the metric's column (non_finite_metric), else empty", {}, kNonfiniteTensorBytes},
      {"probe/status_detail", ColType::Str, {}, false, "", "where the first non-finite value is: heads, index, value; empty when ok", {}, kStatusDetailBytes},
      {"tokens/ids", ColType::I32, {}, true, "", "token ids of every probe, concatenated; probe n is rows tokens/offset[n] .. + probe/tokens[n]", {}},
  };
  if (d.bo) {
    const std::vector<ColumnSpec> bo = {
        {"bo/composite", ColType::F64, {}, false, "0..10000", "composite Bone-Orientation score (an integer; NaN without a score)", {}},
        {"bo/composite_exact", ColType::F64, {}, false, "0..10000", "composite before truncation or rounding", {}},
        {"bo/mean_coherence", ColType::F64, {}, false, "", "mean key coherence over layers", {}},
        {"bo/mean_cross_alignment", ColType::F64, {}, false, "", "mean adjacent-layer alignment", {}},
        {"bo/mean_head_entropy", ColType::F64, {}, false, "0..1", "mean normalised key-magnitude entropy", {}},
        {"bo/phase_lock_score", ColType::F64, {}, false, "0..1", "fraction of phase-locked pairs", {}},
        {"bo/joint_collapse_count", ColType::F64, {}, false, "layers", "adjacent layer pairs with alignment below the collapse threshold (an integer; NaN without one)", {}},
        {"bo/position_mode", ColType::U8, {}, false, "", "1 when the position-wise (GQA) analysis ran, 0 for the multi-head one", {}},
        {"bo/features", ColType::F64, S{5}, false, "", "the seed's 5-D attention vector: coherence, cross, entropy, phase lock, joint stability", N{"feature"}},
        {"bo/layer_coherence", ColType::F64, S{L}, false, "", "key coherence per layer", N{"layer"}},
        {"bo/layer_cross_alignment", ColType::F64, S{L > 0 ? L - 1 : 0}, false, "", "alignment of layer l and l+1", N{"layer_pair"}},
        {"bo/head_entropy", ColType::F64, S{L, A}, false, "0..1", "normalised key-magnitude entropy per analysed KV head", N{"layer", "kv_head"}},
        {"bo/head_differentiation", ColType::F64, S{L, A}, false, "", "per-head differentiation (position mode; NaN otherwise)", N{"layer", "kv_head"}},
        {"bo/mean_value_coherence", ColType::F64, {}, false, "", "V analogue of mean_coherence", {}},
        {"bo/value_phase_lock_score", ColType::F64, {}, false, "0..1", "V analogue of phase_lock_score", {}},
        {"bo/mean_kv_coupling", ColType::F64, {}, false, "0..1", "mean linear CKA(K, V) over layers and KV heads", {}},
        {"bo/layer_value_coherence", ColType::F64, S{L}, false, "", "value coherence per layer", N{"layer"}},
        {"bo/layer_kv_coupling", ColType::F64, S{L}, false, "0..1", "linear CKA(K, V) per layer, mean over KV heads", N{"layer"}},
        {"bo/features7", ColType::F64, S{7}, false, "", "features plus value coherence and K-V coupling", N{"feature"}},
    };
    c.insert(c.end(), bo.begin(), bo.end());
  }
  if (d.attention) {
    const std::vector<ColumnSpec> at = {
        {"attention/entropy", ColType::F64, S{L, Hq}, false, "nats", "mean softmax entropy over query positions", N{"layer", "head"}},
        {"attention/logit_std", ColType::F64, S{L, Hq}, false, "logits", "mean standard deviation of the scaled logits over query positions", N{"layer", "head"}},
        {"attention/sink_mass", ColType::F64, S{L, Hq}, false, "probability", "mean attention on the first token over query positions", N{"layer", "head"}},
        {"attention/mean_entropy", ColType::F64, {}, false, "nats", "mean of attention/entropy", {}},
        {"attention/mean_logit_std", ColType::F64, {}, false, "logits", "mean of attention/logit_std", {}},
        {"attention/mean_sink_mass", ColType::F64, {}, false, "probability", "mean of attention/sink_mass", {}},
    };
    c.insert(c.end(), at.begin(), at.end());
  }
  if (d.save_kv != SaveKv::None)
    c.push_back({"kv/k", ColType::F32, S{L, Hkv, D}, true, "", "post-RoPE keys per token; probe n is rows kv/offset[n] .. + probe/tokens[n]", N{"layer", "kv_head", "dim"}});
  if (d.save_kv == SaveKv::Qkv) {
    c.push_back({"kv/v", ColType::F32, S{L, Hkv, D}, true, "", "values per token", N{"layer", "kv_head", "dim"}});
    c.push_back({"kv/q", ColType::F32, S{L, Hq, D}, true, "", "post-RoPE queries per token", N{"layer", "head", "dim"}});
  }
  return c;
}

}  // namespace qk
