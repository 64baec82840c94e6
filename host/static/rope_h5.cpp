#include "rope_h5.hpp"

#include <hdf5.h>

#include "descriptors.hpp"
#include "geometry_h5.hpp"

namespace qk {

namespace {

using geometry_h5::create_group;
using geometry_h5::write_f64;

void write_i64(hid_t parent, const std::string& name, const std::vector<int64_t>& v,
               const std::string& file) {
  h5::write_array(parent, name, {v.size()}, H5T_STD_I64LE, H5T_NATIVE_INT64, v.data(), file);
}

// The concatenation over layers of one RopeLayer field ([L][...]).
std::vector<double> gather(const RopeGeometryResult& r, std::vector<double> RopeLayer::*field) {
  return geometry_h5::gather(r.layers, field);
}

// The `sweep/` group (docs/static-geometry.md, "Expected logit of a sweep").
void write_sweep(hid_t root, const RopeSweep& s, const StaticDims& d, const std::string& tmp) {
  const hsize_t L = d.layers, H = d.q_heads, G = d.kv_heads, D = d.head_dim, B = kDistanceBuckets;
  const h5::Id g = create_group(root, "sweep", tmp);
  h5::write_string_attr(g.get(), "from", s.path, tmp);
  h5::write_int_attr(g.get(), "probes", s.m.probes, tmp);
  h5::write_int_attr(g.get(), "tokens", s.m.tokens, tmp);
  h5::write_int_attr(g.get(), "max_length", s.m.max_len, tmp);
  h5::write_int_attr(g.get(), "query_length", s.m.query_len, tmp);
  write_f64(g.get(), "mean_query", {L, H, D}, s.m.mean_query, tmp);
  write_f64(g.get(), "mean_key", {L, G, D}, s.m.mean_key, tmp);
  write_f64(g.get(), "expected_logit", {L, H, static_cast<hsize_t>(s.m.max_len)}, s.expected_logit, tmp);
  write_f64(g.get(), "implied_mass", {L, H, B}, s.implied_mass, tmp);
  write_f64(g.get(), "measured_mass", {L, H, B}, s.m.measured, tmp);
  write_f64(g.get(), "spearman", {L, H}, s.spearman, tmp);
  write_f64(g.get(), "total_variation", {L, H}, s.total_variation, tmp);
  write_i64(g.get(), "window", s.window, tmp);
  write_f64(g.get(), "softcap", {L}, s.softcap, tmp);
}

// Everything below the root attributes geometry_h5::write_file writes.
void write_rest(hid_t root, const RopeGeometryResult& r, const std::string& tmp) {
  const StaticDims& d = r.dims;
  const hsize_t L = d.layers, H = d.q_heads, D = d.head_dim, O = r.offsets.size(), P = r.rotary_dim / 2;
  h5::write_int_attr(root, "rotary_dim", r.rotary_dim, tmp);
  h5::write_int_attr(root, "num_bands", r.rotary_dim / 2, tmp);
  write_i64(root, "offsets", r.offsets, tmp);
  write_i64(root, "local_rope", r.local_rope, tmp);
  write_f64(root, "inv_freq", {L, P}, r.inv_freq, tmp);
  {
    const h5::Id g = create_group(root, "operator", tmp);
    const std::vector<double> sv = gather(r, &RopeLayer::sv);
    write_f64(g.get(), "singular_values", {L, H, O, D}, sv, tmp);
    const auto desc = describe_exact_spectra(sv, d.head_dim, d.hidden);
    for (size_t i = 0; i < kDescriptorNames.size(); ++i)
      write_f64(g.get(), kDescriptorNames[i], {L, H, O}, desc[i], tmp);
    write_f64(g.get(), "signed_trace", {L, H, O}, gather(r, &RopeLayer::signed_trace), tmp);
  }
  const h5::Id g = create_group(root, "bands", tmp);
  write_f64(g.get(), "energy", {L, H, O, P}, gather(r, &RopeLayer::band_energy), tmp);
  write_f64(g.get(), "mean_energy", {L, H, P}, gather(r, &RopeLayer::band_mean_energy), tmp);
  write_f64(g.get(), "share", {L, H, P}, gather(r, &RopeLayer::band_share), tmp);
  write_f64(g.get(), "invariant_fraction", {L, H, P}, gather(r, &RopeLayer::invariant_fraction), tmp);
  write_f64(g.get(), "unrotated_energy", {L, H}, gather(r, &RopeLayer::unrotated_energy), tmp);
  write_f64(g.get(), "unrotated_share", {L, H}, gather(r, &RopeLayer::unrotated_share), tmp);
  if (r.sweep) write_sweep(root, *r.sweep, d, tmp);
}

}  // namespace

void write_rope_h5(const std::string& path, const RopeGeometryResult& r, const std::string& model_dir,
                   const std::string& command_line) {
  geometry_h5::write_file(path, "qkgeom-rope-geometry", r, model_dir, command_line,
                          [&](hid_t root, const std::string& tmp) { write_rest(root, r, tmp); });
}

}  // namespace qk
