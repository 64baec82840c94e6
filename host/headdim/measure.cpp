#include "measure.hpp"

namespace qk {

CvMeter::CvMeter(const SimplexOptions& o) : o_(o) { o_.device = "cpu"; }

SimplexCv CvMeter::operator()(const torch::Tensor& m) {
  const torch::Tensor rows = m.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  const int64_t n = rows.size(0), dim = rows.size(1);
  const SimplexStat s = simplex_statistic(rows.data_ptr<float>(), n, dim, o_);
  auto it = null_.find({n, dim});
  if (it == null_.end()) it = null_.emplace(std::make_tuple(n, dim), simplex_null(n, dim, o_)).first;
  SimplexCv r;
  r.cv = s.cv;
  r.valid = s.valid;
  simplex_finish(r, it->second);
  return r;
}

PhaseResult measure_phase(MhaClassifier& model, const torch::Tensor& x, const std::string& phase,
                          CvMeter& meter) {
  PhaseResult p;
  p.phase = phase;
  for (const auto& [name, w] : model->weights()) p.rows.push_back({name, meter(w)});
  model->eval();
  for (const auto& [name, a] : model->activations(x)) p.rows.push_back({name, meter(a)});
  return p;
}

}  // namespace qk
