#pragma once
// Simplex CV of the model's matrices at one phase (the seed's measure_all_cv).
#include <cstdint>
#include <map>
#include <string>
#include <tuple>

#include <torch/torch.h>

#include "headdim_types.hpp"
#include "mha_classifier.hpp"

namespace qk {

// qk::simplex_cv, its Gaussian baseline computed once per (rows, dim): the baseline depends
// only on the shape and the options, so the numbers equal simplex_cv's call by call. The CV
// runs on the CPU (300 simplices: a GPU launch would cost more than it saves).
class CvMeter {
 public:
  explicit CvMeter(const SimplexOptions& o);
  // m: [n, dim] on any device and floating dtype.
  SimplexCv operator()(const torch::Tensor& m);

 private:
  SimplexOptions o_;
  std::map<std::tuple<int64_t, int64_t>, SimplexNull> null_;
};

// Weights then activations on x, in the seed's order.
PhaseResult measure_phase(MhaClassifier& model, const torch::Tensor& x, const std::string& phase,
                          CvMeter& meter);

}  // namespace qk
