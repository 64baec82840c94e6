#include "quantities.hpp"

#include <set>
#include <stdexcept>

namespace qk {

namespace {

using W = QuantityWhen;
using T = ColType;
using Axes = std::vector<QuantityAxis>;

const Axes kLH = {{"layer", "L"}, {"head", "Hq"}};
const Axes kLA = {{"layer", "L"}, {"kv_head", "A"}};
const Axes kL = {{"layer", "L"}};

// The names of the 16 distance buckets: "0", "1", "2-3", ..., "8192-16383", "16384+".
std::vector<std::string> distance_labels() {
  std::vector<std::string> out = {"0", "1"};
  for (int b = 2; b < 15; ++b)
    out.push_back(std::to_string(1 << (b - 1)) + "-" + std::to_string((1 << b) - 1));
  out.push_back("16384+");
  return out;
}

// path, type, axes, ragged, units, description, when, json, labels.
// A table, not logic: one entry per stored quantity.
// NOLINTNEXTLINE(readability-function-size)
std::vector<Quantity> probe_quantities() {
  return {
      {"probe/index",
       T::I64,
       {},
       false,
       "",
       "0-based order among the probe file's non-blank lines (the commit column)",
       W::Always,
       "",
       {}},
      {"probe/line", T::I64, {}, false, "", "1-based line in the probe file", W::Always, "", {}},
      {"probe/id", T::Str, {}, false, "", "JSONL `id`, or `L<line>`", W::Always, "", {}},
      {"probe/domain", T::Str, {}, false, "", "JSONL `domain`, else empty", W::Always, "", {}},
      {"probe/prompt", T::Str, {}, false, "", "the prompt as given, before the template", W::Always, "", {}},
      {"probe/fields",
       T::Str,
       {},
       false,
       "",
       "the JSONL object's other fields, compact JSON",
       W::Always,
       "",
       {}},
      {"probe/tokens",
       T::I64,
       {},
       false,
       "tokens",
       "prompt length after template and special tokens",
       W::Always,
       "tokens",
       {}},
      {"probe/status",
       T::Str,
       {},
       false,
       "",
       "`ok`; `non_finite`: the probe's q/k/v hold a NaN or Inf; `non_finite_metric`: finite q/k/v, a metric "
       "came out non-finite (docs/sweep.md, \"Non-finite values\")",
       W::Always,
       "",
       {}},
      {"probe/nonfinite_layer",
       T::I32,
       {},
       false,
       "layer",
       "the first layer with a non-finite q/k/v value; -1 for `ok` and `non_finite_metric`",
       W::Always,
       "",
       {}},
      {"probe/nonfinite_tensor",
       T::Str,
       {},
       false,
       "",
       "`q`, `k` or `v` (the first non-finite one in that layer, in this order) for `non_finite`; the "
       "metric's column (e.g. `attention/entropy`) for `non_finite_metric`; empty for `ok`",
       W::Always,
       "",
       {}},
      {"probe/status_detail",
       T::Str,
       {},
       false,
       "",
       "one line: the heads holding non-finite values, the first index `[layer, head, position, dim]` and "
       "its value (or the metric's layer and head); empty for `ok`",
       W::Always,
       "",
       {}},
      {"tokens/ids",
       T::I32,
       {},
       true,
       "",
       "token ids, ragged: probe n is `tokens/offset[n]` .. + `tokens/count[n]`",
       W::Always,
       "",
       {}},
      {"tokens/offset",
       T::I64,
       {},
       false,
       "rows",
       "first row of the probe in the ragged `tokens/*` datasets (kept by the store)",
       W::Store,
       "",
       {}},
      {"tokens/count",
       T::I64,
       {},
       false,
       "rows",
       "number of rows of the probe in the ragged `tokens/*` datasets (kept by the store)",
       W::Store,
       "",
       {}},
  };
}

// A table, not logic: one entry per stored quantity.
// NOLINTNEXTLINE(readability-function-size)
std::vector<Quantity> bo_quantities() {
  const std::vector<std::string> f5 = {"mean_coherence", "cross_alignment", "head_entropy", "phase_lock",
                                       "joint_stability"};
  std::vector<std::string> f7 = f5;
  f7.insert(f7.end(), {"value_coherence", "kv_coupling"});
  return {
      {"bo/composite",
       T::F64,
       {},
       false,
       "0..10000",
       "composite Bone-Orientation score: an integer, NaN for a probe without one (`probe/status` not `ok`)",
       W::Bo,
       "composite",
       {}},
      {"bo/composite_exact",
       T::F64,
       {},
       false,
       "0..10000",
       "the composite before truncation or rounding",
       W::Bo,
       "composite_exact",
       {}},
      {"bo/mean_coherence",
       T::F64,
       {},
       false,
       "",
       "mean key coherence over layers (seed field)",
       W::Bo,
       "mean_coherence",
       {}},
      {"bo/mean_cross_alignment",
       T::F64,
       {},
       false,
       "",
       "mean adjacent-layer alignment (seed field)",
       W::Bo,
       "mean_cross_alignment",
       {}},
      {"bo/mean_head_entropy",
       T::F64,
       {},
       false,
       "0..1",
       "mean normalised key-magnitude entropy (seed field)",
       W::Bo,
       "mean_head_entropy",
       {}},
      {"bo/phase_lock_score",
       T::F64,
       {},
       false,
       "0..1",
       "fraction of phase-locked pairs (seed field)",
       W::Bo,
       "phase_lock_score",
       {}},
      {"bo/joint_collapse_count",
       T::F64,
       {},
       false,
       "layers",
       "adjacent layer pairs with alignment below the collapse threshold (seed field): an integer, NaN when "
       "the cross alignments are",
       W::Bo,
       "joint_collapse_count",
       {}},
      {"bo/position_mode",
       T::U8,
       {},
       false,
       "",
       "1: the position-wise (GQA) analysis ran, 0: the multi-head one (JSON: the seed's boolean `gqa`)",
       W::Bo,
       "gqa",
       {}},
      {"bo/features",
       T::F64,
       {{"feature", "5"}},
       false,
       "",
       "the seed's 5-D attention vector; entries named by the `labels` attribute",
       W::Bo,
       "features",
       f5},
      {"bo/layer_coherence", T::F64, kL, false, "", "key coherence per layer", W::Bo, "layer_coherence", {}},
      {"bo/layer_cross_alignment",
       T::F64,
       {{"layer_pair", "L-1"}},
       false,
       "",
       "alignment of layer l with l+1",
       W::Bo,
       "layer_cross_alignment",
       {}},
      {"bo/head_entropy",
       T::F64,
       kLA,
       false,
       "0..1",
       "normalised key-magnitude entropy per analysed KV head",
       W::Bo,
       "head_entropy",
       {}},
      {"bo/head_differentiation",
       T::F64,
       kLA,
       false,
       "",
       "per-head differentiation (position mode; NaN otherwise)",
       W::Bo,
       "head_differentiation",
       {}},
      {"bo/mean_value_coherence",
       T::F64,
       {},
       false,
       "",
       "V analogue of mean_coherence (docs/metrics.md)",
       W::Bo,
       "mean_value_coherence",
       {}},
      {"bo/value_phase_lock_score",
       T::F64,
       {},
       false,
       "0..1",
       "V analogue of phase_lock_score",
       W::Bo,
       "value_phase_lock_score",
       {}},
      {"bo/mean_kv_coupling",
       T::F64,
       {},
       false,
       "0..1",
       "mean linear CKA(K, V) over layers and KV heads",
       W::Bo,
       "mean_kv_coupling",
       {}},
      {"bo/layer_value_coherence",
       T::F64,
       kL,
       false,
       "",
       "value coherence per layer",
       W::Bo,
       "layer_value_coherence",
       {}},
      {"bo/layer_kv_coupling",
       T::F64,
       kL,
       false,
       "0..1",
       "linear CKA(K, V) per layer, mean over KV heads",
       W::Bo,
       "layer_kv_coupling",
       {}},
      {"bo/features7",
       T::F64,
       {{"feature", "7"}},
       false,
       "",
       "features plus value coherence and K-V coupling; entries named by the `labels` attribute",
       W::Bo,
       "features7",
       f7},
  };
}

// A table, not logic: one entry per stored quantity.
// NOLINTNEXTLINE(readability-function-size)
std::vector<Quantity> attention_kv_quantities() {
  return {
      {"attention/entropy",
       T::F64,
       kLH,
       false,
       "nats",
       "mean softmax entropy over query positions",
       W::Attention,
       "attention.entropy",
       {}},
      {"attention/logit_std",
       T::F64,
       kLH,
       false,
       "logits",
       "mean standard deviation of the scaled logits over query positions",
       W::Attention,
       "attention.logit_std",
       {}},
      {"attention/sink_mass",
       T::F64,
       kLH,
       false,
       "probability",
       "mean attention on the first token over query positions",
       W::Attention,
       "attention.sink_mass",
       {}},
      {"attention/distance_mass",
       T::F64,
       {{"layer", "L"}, {"head", "Hq"}, {"distance_bucket", "16"}},
       false,
       "probability",
       "mean attention mass per key distance bucket over query positions: bucket 0 is distance 0, "
       "bucket b 2^(b-1) .. 2^b - 1, bucket 15 every distance >= 16384 (distance i - j; abs(i - j) under "
       "a full mask); sums to 1 per layer and head; buckets named by the `labels` attribute",
       W::Attention,
       "attention.distance_mass",
       distance_labels()},
      {"attention/mean_entropy",
       T::F64,
       {},
       false,
       "nats",
       "mean of attention/entropy over layers and heads",
       W::Attention,
       "attention.mean_entropy",
       {}},
      {"attention/mean_logit_std",
       T::F64,
       {},
       false,
       "logits",
       "mean of attention/logit_std over layers and heads",
       W::Attention,
       "attention.mean_logit_std",
       {}},
      {"attention/mean_sink_mass",
       T::F64,
       {},
       false,
       "probability",
       "mean of attention/sink_mass over layers and heads",
       W::Attention,
       "attention.mean_sink_mass",
       {}},
      {"kv/k",
       T::F32,
       {{"layer", "L"}, {"kv_head", "Hkv"}, {"dim", "d"}},
       true,
       "",
       "`--save-kv k` or `qkv`: post-RoPE keys per token; probe n is rows `kv/offset[n]` .. + `kv/count[n]`",
       W::KvK,
       "",
       {}},
      {"kv/v",
       T::F32,
       {{"layer", "L"}, {"kv_head", "Hkv"}, {"dim", "d"}},
       true,
       "",
       "`--save-kv qkv`: values per token",
       W::KvQkv,
       "",
       {}},
      {"kv/q",
       T::F32,
       {{"layer", "L"}, {"head", "Hq"}, {"dim", "d"}},
       true,
       "",
       "`--save-kv qkv`: post-RoPE queries per token",
       W::KvQkv,
       "",
       {}},
      {"kv/offset",
       T::I64,
       {},
       false,
       "rows",
       "first row of the probe in the ragged `kv/*` datasets (kept by the store)",
       W::Store,
       "",
       {}},
      {"kv/count",
       T::I64,
       {},
       false,
       "rows",
       "number of rows of the probe in the ragged `kv/*` datasets (kept by the store)",
       W::Store,
       "",
       {}},
  };
}

std::vector<Quantity> all_quantities() {
  std::vector<Quantity> q = probe_quantities();
  for (auto part : {bo_quantities(), attention_kv_quantities()}) q.insert(q.end(), part.begin(), part.end());
  return q;
}

// The CSV table names of the exported quantities, in order, with store_export's rule for
// two tables of one name (the second gets its axis sizes appended).
std::vector<std::pair<std::string, std::string>> csv_tables() {
  std::vector<std::pair<std::string, std::string>> out;   // (path, table)
  std::vector<std::pair<std::string, std::string>> seen;  // (table, group + axes key)
  std::set<std::string> names;
  for (const Quantity& q : quantities()) {
    if (q.ragged || q.when == W::Store) continue;
    std::string group = q.path.substr(0, q.path.rfind('/')), key = group, name = group;
    if (!q.axes.empty()) name += "_per";
    for (const QuantityAxis& a : q.axes) {
      name += "_" + a.name;
      key += "/" + a.name + ":" + a.size;
    }
    std::string table;
    for (const auto& [t, k] : seen)
      if (k == key) table = t;
    if (table.empty()) {
      if (names.count(name))
        for (const QuantityAxis& a : q.axes) name += "_" + a.size;
      table = name;
      names.insert(table);
      seen.push_back({table, key});
    }
    out.push_back({q.path, table + ".csv"});
  }
  return out;
}

}  // namespace

const std::vector<Quantity>& quantities() {
  static const std::vector<Quantity> q = all_quantities();
  return q;
}

const Quantity& quantity(const std::string& path) {
  for (const Quantity& q : quantities())
    if (q.path == path) return q;
  throw std::logic_error("no stored quantity '" + path + "'");
}

std::string quantity_name(const Quantity& q) { return q.path.substr(q.path.rfind('/') + 1); }

std::string quantity_csv_table(const Quantity& q) {
  for (const auto& [path, table] : csv_tables())
    if (path == q.path) return table;
  return "";
}

std::string quantities_markdown() {
  std::string out =
      "| dataset | shape | dims | dtype | units | `score --json` | CSV | meaning |\n"
      "|---|---|---|---|---|---|---|---|\n";
  for (const Quantity& q : quantities()) {
    std::string shape = q.ragged ? "T" : "N";
    for (const QuantityAxis& a : q.axes) shape += " x " + (a.size == "L-1" ? "(L-1)" : a.size);
    std::string dims;
    for (const QuantityAxis& a : q.axes) dims += std::string(dims.empty() ? "" : ", ") + a.name;
    const std::string table = quantity_csv_table(q);
    const std::string csv = table.empty() ? "" : "`" + table + "` `" + quantity_name(q) + "`";
    std::string meaning = q.description;
    if (!q.labels.empty()) {
      meaning += " (";
      for (size_t i = 0; i < q.labels.size(); ++i) meaning += (i ? ", `" : "`") + q.labels[i] + "`";
      meaning += ")";
    }
    out += "| `" + q.path + "` | " + shape + " | " + dims + " | " + col_type_name(q.type) + " | " + q.units +
           " | " + (q.json.empty() ? "" : "`" + q.json + "`") + " | " + csv + " | " + meaning + " |\n";
  }
  return out;
}

}  // namespace qk
