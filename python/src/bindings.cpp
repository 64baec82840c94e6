// The nanobind extension of the Python package (docs/python.md): the Bone-Orientation
// metrics and the attention statistics of host/bo and host/attn on f32 arrays, returned as
// the dicts of `score --snapshot --json` (bo_to_json, add_attention_stats_json). Built as
// qkgeom._core (CPU) and, with CUDA, qkgeom._core_cuda; python/qkgeom/_inputs.py checks the
// inputs and converts them before they reach here.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "attn/attention_stats.hpp"
#include "bo/backend.hpp"
#include "bo/bo_metrics.hpp"
#include "bo/bo_nonfinite.hpp"
#include "bo/bo_report.hpp"
#include "cpu_budget.hpp"
#include "qkgeom/version.hpp"

namespace nb = nanobind;

namespace {

// A row-major f32 [layers, heads, seq, head_dim] array in host memory, zero-copy.
using Cloud = nb::ndarray<const float, nb::ndim<4>, nb::c_contig, nb::device::cpu>;

qk::TensorView view_of(const Cloud& a) {
  return qk::host_view(a.data(), {static_cast<int64_t>(a.shape(0)), static_cast<int64_t>(a.shape(1)),
                                  static_cast<int64_t>(a.shape(2)), static_cast<int64_t>(a.shape(3))});
}

// The context the snapshot overloads use: `device` resolved, the process's CPU budget.
qk::ExecContext context_for(const std::string& device) {
  qk::ExecContext ctx;
  ctx.device = qk::device_here(device);
  ctx.threads = qk::cpu_budget();
  return ctx;
}

// A JSON value as Python objects (dict, list, str, bool, int, float; NaN stays NaN).
nb::object to_python(const nlohmann::json& j) {
  using T = nlohmann::json::value_t;
  switch (j.type()) {
    case T::object: {
      nb::dict d;
      for (const auto& [key, value] : j.items()) d[nb::str(key.c_str())] = to_python(value);
      return d;
    }
    case T::array: {
      nb::list l;
      for (const auto& value : j) l.append(to_python(value));
      return l;
    }
    case T::string:
      return nb::str(j.get_ref<const std::string&>().c_str());
    case T::boolean:
      return nb::bool_(j.get<bool>());
    case T::number_integer:
      return nb::int_(j.get<int64_t>());
    case T::number_unsigned:
      return nb::int_(j.get<uint64_t>());
    case T::number_float:
      return nb::float_(j.get<double>());
    default:
      return nb::none();
  }
}

// bo_to_json of the metrics of k (and v); RuntimeError when finite input gave a
// non-finite metric, as `score` (exit 4).
nb::object bo_metrics(const Cloud& k, std::optional<Cloud> v, int q_heads, bool lem_compat,
                      double lock_threshold, double collapse_threshold, const std::string& device) {
  qk::BoInput in;
  in.k = view_of(k);
  if (v) in.v = view_of(*v);
  in.q_heads = q_heads;
  qk::BoOptions opts;
  opts.lem_compat = lem_compat;
  opts.lock_threshold = lock_threshold;
  opts.collapse_threshold = collapse_threshold;
  qk::BoResult r;
  {
    nb::gil_scoped_release unlocked;
    r = qk::analyse_bo(in, opts, context_for(device));
  }
  if (const auto bad = qk::first_nonfinite_bo(r))
    throw std::runtime_error(*bad + " is not finite although k and v are (docs/metrics.md)");
  return to_python(qk::bo_to_json(r));
}

// The `attention` object of `score --json` for q against k.
nb::object attention_stats(const Cloud& q, const Cloud& k, const std::string& mask, int64_t window,
                           std::optional<double> scale, std::vector<int64_t> layer_window,
                           std::vector<double> layer_scale, double softcap, const std::string& device) {
  qk::AttentionStatsOptions opts;
  opts.mask = qk::parse_attention_mask(mask);
  opts.window = window;
  opts.scale = scale;
  opts.layer_window = std::move(layer_window);
  opts.layer_scale = std::move(layer_scale);
  opts.softcap = softcap;
  qk::AttentionStats s;
  {
    nb::gil_scoped_release unlocked;
    s = qk::attention_stats(qk::AttentionInput{view_of(q), view_of(k)}, opts, context_for(device));
  }
  if (const auto bad = qk::first_nonfinite_attention(s))
    throw std::runtime_error(*bad + " is not finite although q and k are (docs/metrics.md)");
  nlohmann::json j;
  qk::add_attention_stats_json(s, j);
  return to_python(j["attention"]);
}

}  // namespace

#define QK_NB_MODULE(name, m) NB_MODULE(name, m)

QK_NB_MODULE(QK_MODULE_NAME, m) {
  m.doc() = "qkgeom's analyses (host/bo, host/attn); use the functions of the qkgeom package";
  m.attr("__version__") = qk::kVersion;
  m.attr("__git_sha__") = qk::kGitSha;
  m.def("bo_metrics", &bo_metrics, nb::arg("k"), nb::arg("v").none(), nb::arg("q_heads"),
        nb::arg("lem_compat"), nb::arg("lock_threshold"), nb::arg("collapse_threshold"), nb::arg("device"));
  m.def("attention_stats", &attention_stats, nb::arg("q"), nb::arg("k"), nb::arg("mask"), nb::arg("window"),
        nb::arg("scale").none(), nb::arg("layer_window"), nb::arg("layer_scale"), nb::arg("softcap"),
        nb::arg("device"));
}
