#pragma once
// `qkgeom compare`: several models' sweeps over one probe set, probe by probe
// (docs/compare.md): per-model summaries, paired differences with bootstrap intervals,
// Wilcoxon signed-rank tests and effect sizes (overall and per probe domain), rank
// agreement, linear CKA and RSA, and depth profiles on relative depth.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "compare_input.hpp"

namespace qk {

struct CompareOptions {
  int bootstrap = 2000;   // resamples of the paired differences
  uint32_t seed = 0;      // numpy RandomState seed of every comparison's resamples
  double level = 0.95;    // confidence level of the percentile intervals
  int depth_points = 21;  // relative-depth grid 0, 1/20, ..., 1
  bool allow_template_mix = false;
  std::vector<std::string> statics;  // STATIC.h5 files for static depth profiles
};

// Column names of a summary row and of a paired row (the HDF5 `labels`, the JSON keys).
const std::vector<std::string>& summary_labels();
const std::vector<std::string>& paired_labels();

struct QuantityComparison {
  std::string path;                                      // the sweep column, e.g. "bo/composite"
  std::vector<std::string> definitions;                  // [run]: quantity_definition, "" where absent
  bool same_definition = true;                           // over the runs that have it
  std::vector<std::vector<double>> summary;              // [run][summary_labels]
  std::vector<std::vector<double>> values;               // [run][common probe]: NaN where not ok
  std::vector<std::vector<std::vector<double>>> paired;  // [pair][domain][paired_labels]
};

struct AgreementSet {
  std::string name;                  // "invariant" or "seed_features"
  std::vector<std::string> columns;  // the feature columns
  std::vector<double> n, cka, rsa;   // [pair]
};

struct DepthProfile {
  std::string path;  // e.g. "attention/entropy"; static: "exact/op"
  std::vector<std::string> definitions;
  std::vector<std::vector<double>> layers;     // [run or static file][L]: mean over probes and heads
  std::vector<std::vector<double>> resampled;  // [run or static file][grid]
};

struct StaticInput {
  std::string path, model;
  int run = -1;  // the run of the same model (model_config_sha256), -1 when none
};

struct CompareResult {
  std::vector<RunData> runs;  // scalars/layered kept for the summary's counts
  ProbeMatch match;
  std::vector<std::string> domains;        // "all" first, then the probe domains, sorted
  std::vector<std::pair<int, int>> pairs;  // (a, b), a < b; differences are a - b
  std::vector<QuantityComparison> quantities;
  std::vector<AgreementSet> agreement;
  std::vector<double> grid;
  std::vector<DepthProfile> depth;  // [layer quantity]: one curve per run
  std::vector<StaticInput> statics;
  std::vector<DepthProfile> static_depth;  // [descriptor]: one curve per static file
  std::vector<std::string> warnings;
  CompareOptions options;
};

// InputError (exit 3) naming the files for unreadable or mismatched inputs
// (compare_input.hpp); warnings (definition changes, templates) go to result.warnings.
CompareResult compare_runs(const std::vector<std::string>& files, const CompareOptions& opts);

}  // namespace qk
