#pragma once
// The head-dim experiment's options and results (docs/headdim.md).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "simplex_cv.hpp"

namespace qk {

struct HeaddimOptions {
  std::vector<int64_t> dims{64, 128, 256};
  std::vector<int64_t> heads{1, 2, 4, 8};
  int64_t epochs = 50;
  double lr = 1e-3;
  int64_t n_classes = 10, samples_per_class = 50, seq_len = 8, vocab = 256;
  double noise = 0.25;          // probability a token is replaced by a random one
  uint64_t seed = 0;            // data, initialisation and the simplex sampler
  SimplexOptions simplex;       // samples, cm_compat, null_trials (seed and device set per call)
  std::string device = "auto";  // where the model trains: auto | cpu | cuda[:N]
  int threads = 0;              // libtorch CPU threads; 0: its default
  bool progress = true;
};

// One matrix at one phase: the simplex CV and its null baseline.
struct Measurement {
  std::string name;  // emb, Q_full, ..., act_post_full (the seed's names)
  SimplexCv cv;
};

struct PhaseResult {
  std::string phase;  // pre | mid | post
  std::vector<Measurement> rows;
  const Measurement* find(const std::string& name) const;
};

struct ConfigResult {
  int64_t dim = 0, heads = 0, head_dim = 0;
  std::optional<double> acc_mid, loss_mid;  // absent when epochs / 2 == 0
  double acc_post = 0, loss_post = 0;
  std::vector<PhaseResult> phases;  // pre, mid (when trained that far), post
  double seconds_train = 0, seconds_measure = 0;
  const PhaseResult* phase(const std::string& name) const;
};

struct HeaddimResult {
  HeaddimOptions options;
  std::string device;  // resolved, e.g. "cpu", "cuda:0"
  int threads = 0;     // libtorch CPU threads used
  std::string started_at, finished_at;
  double seconds = 0;
  std::vector<ConfigResult> configs;
};

}  // namespace qk
