#include "headdim_sweep.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>

#include <ATen/Parallel.h>

#include "decoder.hpp"
#include "measure.hpp"
#include "noise_data.hpp"
#include "progress.hpp"
#include "run_record.hpp"
#include "training.hpp"

namespace qk {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string fmt_acc(double a) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", 100.0 * a);
  return buf;
}

ConfigResult run_config(const HeaddimOptions& o, int64_t dim, int64_t heads, const NoiseData& data,
                        const c10::Device& device, CvMeter& meter) {
  ConfigResult c;
  c.dim = dim;
  c.heads = heads;
  c.head_dim = dim / heads;
  torch::manual_seed(o.seed);
  MhaClassifier model(o.vocab, dim, heads, o.seq_len, o.n_classes);
  model->to(device);
  const torch::Tensor x = data.x.to(device), y = data.y.to(device);
  double measure_s = 0;
  auto measure = [&](const std::string& phase) {
    const auto t = Clock::now();
    c.phases.push_back(measure_phase(model, x, phase, meter));
    measure_s += since(t);
  };
  const auto t0 = Clock::now();
  measure("pre");
  const auto at_mid = [&](const EpochStats& s) {
    c.acc_mid = s.acc;
    c.loss_mid = s.loss;
    measure("mid");
  };
  const EpochStats last =
      o.epochs > 0 ? train_classifier(model, x, y, o.epochs, o.lr, at_mid) : evaluate(model, x, y);
  c.acc_post = last.acc;
  c.loss_post = last.loss;
  measure("post");
  c.seconds_measure = measure_s;
  c.seconds_train = since(t0) - measure_s;
  return c;
}

}  // namespace

void check_headdim_options(const HeaddimOptions& o) {
  if (o.dims.empty()) throw std::invalid_argument("--dims: empty");
  if (o.heads.empty()) throw std::invalid_argument("--heads: empty");
  for (int64_t d : o.dims)
    if (d < 1) throw std::invalid_argument("--dims: " + std::to_string(d) + " is not positive");
  for (int64_t h : o.heads)
    if (h < 1) throw std::invalid_argument("--heads: " + std::to_string(h) + " is not positive");
  for (const auto* list : {&o.dims, &o.heads})
    for (size_t i = 0; i < list->size(); ++i)
      if (std::find(list->begin(), list->begin() + static_cast<std::ptrdiff_t>(i), (*list)[i]) !=
          list->begin() + static_cast<std::ptrdiff_t>(i))
        throw std::invalid_argument((list == &o.dims ? "--dims: " : "--heads: ") +
                                    std::to_string((*list)[i]) +
                                    " is listed twice (each config is trained once)");
  for (int64_t d : o.dims)
    for (int64_t h : o.heads)
      if (d % h != 0)
        throw std::invalid_argument("--heads " + std::to_string(h) + " does not divide --dims " +
                                    std::to_string(d));
  if (o.epochs < 0) throw std::invalid_argument("--epochs: negative");
  if (o.simplex.samples < 1) throw std::invalid_argument("--samples: must be >= 1");
  if (o.simplex.null_trials < 0) throw std::invalid_argument("--null-trials: negative");
  if (o.threads < 0) throw std::invalid_argument("--threads: negative");
}

HeaddimResult run_headdim_sweep(const HeaddimOptions& o) {
  check_headdim_options(o);
  HeaddimResult r;
  r.options = o;
  const c10::Device device = resolve_device(o.device);
  r.device = device.str();
  if (o.threads > 0) at::set_num_threads(o.threads);
  r.threads = at::get_num_threads();
  r.started_at = utc_now_iso8601();
  const auto t0 = Clock::now();
  const NoiseData data =
      make_noise_data(o.n_classes, o.samples_per_class, o.seq_len, o.vocab, o.noise, o.seed);
  SimplexOptions so = o.simplex;
  so.seed = o.seed;
  CvMeter meter(so);
  const size_t total = o.dims.size() * o.heads.size();
  for (int64_t dim : o.dims)
    for (int64_t heads : o.heads) {
      r.configs.push_back(run_config(o, dim, heads, data, device, meter));
      const ConfigResult& c = r.configs.back();
      if (!o.progress) continue;
      const double el = since(t0);
      const size_t done = r.configs.size();
      std::fprintf(
          stderr,
          "headdim-sweep: [%zu/%zu] D=%lld heads=%lld head_dim=%lld acc %s: train %.1fs, CV %.1fs; "
          "elapsed %s, ETA %s\n",
          done, total, static_cast<long long>(dim), static_cast<long long>(heads),
          static_cast<long long>(c.head_dim), fmt_acc(c.acc_post).c_str(), c.seconds_train, c.seconds_measure,
          format_duration(el).c_str(),
          format_duration(el / static_cast<double>(done) * static_cast<double>(total - done)).c_str());
    }
  r.seconds = since(t0);
  r.finished_at = utc_now_iso8601();
  return r;
}

}  // namespace qk
