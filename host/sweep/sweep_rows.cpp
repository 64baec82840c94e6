#include "sweep_rows.hpp"

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>

#include "bo/bo_nonfinite.hpp"
#include "dtype.hpp"
#include "internal_error.hpp"
#include "sweep_schema.hpp"

namespace qk {

namespace {

// `s` cut to at most `max` bytes on a UTF-8 character boundary, ending in "..." when cut.
std::string clipped(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max - 3;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n) + "...";
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Appends `v`, padded with NaN (or cut) to exactly `n` values.
void put_fixed(std::vector<double>& dst, const std::vector<double>& v, size_t n) {
  for (size_t i = 0; i < n; ++i) dst.push_back(i < v.size() ? v[i] : kNaN);
}

// One token-major ragged block [seq, layers, heads, head_dim] from a [layers, heads, seq,
// head_dim] tensor.
void put_token_major(std::vector<float>& dst, const Tensor4f& t) {
  const int64_t L = t.shape[0], H = t.shape[1], S = t.shape[2], D = t.shape[3];
  const size_t at = dst.size();
  dst.resize(at + static_cast<size_t>(t.numel()));
  float* out = dst.data() + at;
  for (int64_t s = 0; s < S; ++s)
    for (int64_t l = 0; l < L; ++l)
      for (int64_t h = 0; h < H; ++h)
        std::memcpy(out + ((s * L + l) * H + h) * D, t.data.data() + ((l * H + h) * S + s) * D,
                    static_cast<size_t>(D) * sizeof(float));
}

// Values per row of column `c`: the product of its row shape (1 for a scalar column).
size_t row_elems(const ColumnSpec& c) {
  size_t n = 1;
  for (uint64_t d : c.row_shape) n *= static_cast<size_t>(d);
  return n;
}

using Bo = std::function<double(const BoResult&)>;
using BoVec = std::function<std::vector<double>(const BoResult&)>;
using At = std::function<std::vector<double>(const AttentionStats&)>;

// The bo/ scalar columns read straight from a BoResult (NaN where the value block is absent).
const std::map<std::string, Bo>& bo_scalar_getters() {
  static const std::map<std::string, Bo> bo_scalar = {
      {"bo/composite_exact", [](const BoResult& r) { return r.composite_exact; }},
      {"bo/mean_coherence", [](const BoResult& r) { return r.mean_coherence; }},
      {"bo/mean_cross_alignment", [](const BoResult& r) { return r.mean_cross_alignment; }},
      {"bo/mean_head_entropy", [](const BoResult& r) { return r.mean_head_entropy; }},
      {"bo/phase_lock_score", [](const BoResult& r) { return r.phase_lock_score; }},
      {"bo/mean_value_coherence",
       [](const BoResult& r) { return r.value ? r.value->mean_value_coherence : kNaN; }},
      {"bo/value_phase_lock_score",
       [](const BoResult& r) { return r.value ? r.value->value_phase_lock_score : kNaN; }},
      {"bo/mean_kv_coupling", [](const BoResult& r) { return r.value ? r.value->mean_kv_coupling : kNaN; }},
  };
  return bo_scalar;
}

// The bo/ vector columns (per layer, per head or features); empty where not computed.
const std::map<std::string, BoVec>& bo_vector_getters() {
  static const std::map<std::string, BoVec> bo_vector = {
      {"bo/features",
       [](const BoResult& r) { return std::vector<double>(r.features.begin(), r.features.end()); }},
      {"bo/layer_coherence", [](const BoResult& r) { return r.layer_coherence; }},
      {"bo/layer_cross_alignment", [](const BoResult& r) { return r.layer_cross_alignment; }},
      {"bo/head_entropy", [](const BoResult& r) { return r.head_entropy; }},
      {"bo/head_differentiation",
       [](const BoResult& r) { return r.gqa ? r.head_differentiation : std::vector<double>{}; }},
      {"bo/layer_value_coherence",
       [](const BoResult& r) { return r.value ? r.value->layer_value_coherence : std::vector<double>{}; }},
      {"bo/layer_kv_coupling",
       [](const BoResult& r) { return r.value ? r.value->layer_kv_coupling : std::vector<double>{}; }},
      {"bo/features7",
       [](const BoResult& r) {
         return r.value ? std::vector<double>(r.value->features7.begin(), r.value->features7.end())
                        : std::vector<double>{};
       }},
  };
  return bo_vector;
}

// The attention/ columns (per layer-head values, or one mean as a 1-vector), in nats for entropy.
const std::map<std::string, At>& attention_getters() {
  static const std::map<std::string, At> attention = {
      {"attention/entropy", [](const AttentionStats& s) { return s.entropy_nats; }},
      {"attention/logit_std", [](const AttentionStats& s) { return s.logit_std; }},
      {"attention/sink_mass", [](const AttentionStats& s) { return s.sink_mass; }},
      {"attention/distance_mass", [](const AttentionStats& s) { return s.distance_mass; }},
      {"attention/mean_entropy",
       [](const AttentionStats& s) { return std::vector<double>{s.mean_entropy_nats}; }},
      {"attention/mean_logit_std",
       [](const AttentionStats& s) { return std::vector<double>{s.mean_logit_std}; }},
      {"attention/mean_sink_mass",
       [](const AttentionStats& s) { return std::vector<double>{s.mean_sink_mass}; }},
  };
  return attention;
}

// The probe/ text columns (one string per probe), or nothing when `p` is not one of them.
std::optional<ColumnData> probe_text_column(const std::string& p, const std::vector<ProbeOutcome>& outs) {
  if (p == "probe/id" || p == "probe/domain" || p == "probe/prompt" || p == "probe/fields") {
    std::vector<std::string> v;
    for (const ProbeOutcome& o : outs) {
      const Probe& pr = o.probe->probe;
      v.push_back(p == "probe/id"       ? pr.id
                  : p == "probe/domain" ? pr.domain
                  : p == "probe/prompt" ? pr.prompt
                                        : pr.fields);
    }
    return ColumnData::of(std::move(v));
  }
  if (p == "probe/status" || p == "probe/nonfinite_tensor" || p == "probe/status_detail") {
    std::vector<std::string> v;
    for (const ProbeOutcome& o : outs)
      v.push_back(p == "probe/status"             ? o.status.status
                  : p == "probe/nonfinite_tensor" ? o.status.tensor
                                                  : clipped(o.status.detail, kStatusDetailBytes));
    return ColumnData::of(std::move(v));
  }
  return std::nullopt;
}

// The probe/ integer columns and the ragged tokens/ids column (one count per probe), or nothing.
std::optional<ColumnData> probe_int_column(const std::string& p, const std::vector<ProbeOutcome>& outs) {
  if (p == "probe/nonfinite_layer") {
    std::vector<int32_t> v;
    for (const ProbeOutcome& o : outs) v.push_back(o.status.layer);
    return ColumnData::of(v);
  }
  if (p == "probe/index" || p == "probe/line" || p == "probe/tokens") {
    std::vector<int64_t> v;
    for (const ProbeOutcome& o : outs)
      v.push_back(p == "probe/index"  ? o.probe->probe.index
                  : p == "probe/line" ? o.probe->probe.line
                                      : static_cast<int64_t>(o.probe->ids.size()));
    return ColumnData::of(v);
  }
  if (p == "tokens/ids") {
    std::vector<int32_t> v;
    std::vector<int64_t> counts;
    for (const ProbeOutcome& o : outs) {
      for (int64_t id : o.probe->ids) v.push_back(static_cast<int32_t>(id));
      counts.push_back(static_cast<int64_t>(o.probe->ids.size()));
    }
    ColumnData t = ColumnData::of(v);
    t.counts = std::move(counts);
    return t;
  }
  return std::nullopt;
}

// The bo/ columns: `n` values per probe for vector columns (NaN-padded), or nothing.
std::optional<ColumnData> bo_column(const std::string& p, size_t n, const std::vector<ProbeOutcome>& outs) {
  std::vector<double> v;
  if (p == "bo/composite") {
    for (const ProbeOutcome& o : outs)
      v.push_back(bo_without_score(*o.bo) ? kNaN : static_cast<double>(o.bo->composite));
  } else if (p == "bo/joint_collapse_count") {
    for (const ProbeOutcome& o : outs)
      v.push_back(std::isnan(o.bo->mean_cross_alignment) ? kNaN
                                                         : static_cast<double>(o.bo->joint_collapse_count));
  } else if (p == "bo/position_mode") {
    std::vector<uint8_t> m;
    for (const ProbeOutcome& o : outs) m.push_back(o.bo->gqa ? 1 : 0);
    return ColumnData::of(m);
  } else if (bo_scalar_getters().count(p)) {
    for (const ProbeOutcome& o : outs) v.push_back(bo_scalar_getters().at(p)(*o.bo));
  } else if (bo_vector_getters().count(p)) {
    for (const ProbeOutcome& o : outs) put_fixed(v, bo_vector_getters().at(p)(*o.bo), n);
  } else {
    return std::nullopt;
  }
  return ColumnData::of(v);
}

// f32 values as a column of `type`: F32 as they are, F16 / BF16 rounded to nearest even.
ColumnData float_column(const std::vector<float>& v, ColType type) {
  if (type == ColType::F32) return ColumnData::of(v);
  std::vector<uint16_t> bits(v.size());
  for (size_t i = 0; i < v.size(); ++i)
    bits[i] = type == ColType::F16 ? float_to_half(v[i]) : float_to_bf16(v[i]);
  ColumnData d;
  d.typed = true;
  d.type = type;
  d.bytes.resize(bits.size() * sizeof(uint16_t));
  if (!bits.empty()) std::memcpy(d.bytes.data(), bits.data(), d.bytes.size());
  return d;
}

// The attention/ columns (`n` values per probe) and the ragged token-major kv/ columns
// (element type `type`), or nothing.
std::optional<ColumnData> activation_column(const std::string& p, size_t n, ColType type,
                                            const std::vector<ProbeOutcome>& outs) {
  if (attention_getters().count(p)) {
    std::vector<double> v;
    for (const ProbeOutcome& o : outs) put_fixed(v, attention_getters().at(p)(*o.attention), n);
    return ColumnData::of(v);
  }
  if (p == "kv/k" || p == "kv/v" || p == "kv/q") {
    std::vector<float> v;
    std::vector<int64_t> counts;
    for (const ProbeOutcome& o : outs) {
      const Snapshot& s = *o.snap;
      put_token_major(v, p == "kv/k" ? s.k : p == "kv/v" ? *s.v : *s.q);
      counts.push_back(s.k.seq());
    }
    ColumnData t = float_column(v, type);
    t.counts = std::move(counts);
    return t;
  }
  return std::nullopt;
}

}  // namespace

StoreBatch sweep_rows(const std::vector<ColumnSpec>& cols, const std::vector<ProbeOutcome>& outs) {
  StoreBatch b;
  b.n = static_cast<int64_t>(outs.size());
  for (const ColumnSpec& c : cols) {
    const std::string& p = c.path;
    const size_t n = row_elems(c);
    std::optional<ColumnData> col = probe_text_column(p, outs);
    if (!col) col = probe_int_column(p, outs);
    if (!col) col = bo_column(p, n, outs);
    if (!col) col = activation_column(p, n, c.type, outs);
    if (!col) throw InternalError("sweep_rows: no values for column " + p);
    b.cols.push_back(std::move(*col));
  }
  return b;
}

}  // namespace qk
