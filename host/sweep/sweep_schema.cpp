#include "sweep_schema.hpp"

#include "option_names.hpp"
#include "quantities.hpp"

namespace qk {

namespace {

constexpr OptionName<SaveKv> kSaveKvNames[] = {
    {SaveKv::None, "none"}, {SaveKv::K, "k"}, {SaveKv::Qkv, "qkv"}};
constexpr OptionName<KvDtype> kKvDtypeNames[] = {
    {KvDtype::F32, "f32"}, {KvDtype::F16, "f16"}, {KvDtype::BF16, "bf16"}};

}  // namespace

SaveKv parse_save_kv(const std::string& name) { return parse_option(name, kSaveKvNames, "--save-kv"); }

const char* save_kv_name(SaveKv s) { return option_name(s, kSaveKvNames); }

KvDtype parse_save_kv_dtype(const std::string& name) {
  return parse_option(name, kKvDtypeNames, "--save-kv-dtype");
}

const char* save_kv_dtype_name(KvDtype t) { return option_name(t, kKvDtypeNames); }

namespace {

// The size a registry axis symbol has in `d` (L, L-1, Hq, Hkv, A, d, or a number).
uint64_t axis_size(const std::string& symbol, const SweepLayout& d) {
  const auto u = [](int64_t x) { return static_cast<uint64_t>(x < 0 ? 0 : x); };
  if (symbol == "L") return u(d.layers);
  if (symbol == "L-1") return u(d.layers - 1);
  if (symbol == "Hq") return u(d.q_heads);
  if (symbol == "Hkv") return u(d.kv_heads);
  if (symbol == "A") return u(d.analysed_heads);
  if (symbol == "d") return u(d.head_dim);
  return std::stoull(symbol);
}

bool stored(QuantityWhen when, const SweepLayout& d) {
  switch (when) {
    case QuantityWhen::Always:
      return true;
    case QuantityWhen::Bo:
      return d.bo;
    case QuantityWhen::Attention:
      return d.attention;
    case QuantityWhen::KvK:
      return d.save_kv != SaveKv::None;
    case QuantityWhen::KvQkv:
      return d.save_kv == SaveKv::Qkv;
    case QuantityWhen::Store:
      return false;  // the store adds its offset/count columns
  }
  return false;
}

}  // namespace

std::vector<ColumnSpec> sweep_columns(const SweepLayout& d) {
  std::vector<ColumnSpec> c;
  for (const Quantity& q : quantities()) {
    if (!stored(q.when, d)) continue;
    ColumnSpec s;
    s.path = q.path;
    s.type = q.type;
    if (q.when == QuantityWhen::KvK || q.when == QuantityWhen::KvQkv)
      s.type = d.kv_dtype == KvDtype::F16    ? ColType::F16
               : d.kv_dtype == KvDtype::BF16 ? ColType::BF16
                                             : q.type;
    s.ragged = q.ragged;
    s.units = q.units;
    s.description = q.description;
    s.labels = q.labels;
    for (const QuantityAxis& a : q.axes) {
      s.row_shape.push_back(axis_size(a.size, d));
      s.dims.push_back(a.name);
    }
    c.push_back(std::move(s));
  }
  return c;
}

}  // namespace qk
