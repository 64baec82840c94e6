#include "headdim_types.hpp"

namespace qk {

const Measurement* PhaseResult::find(const std::string& name) const {
  for (const Measurement& m : rows)
    if (m.name == name) return &m;
  return nullptr;
}

const PhaseResult* ConfigResult::phase(const std::string& name) const {
  for (const PhaseResult& p : phases)
    if (p.phase == name) return &p;
  return nullptr;
}

}  // namespace qk
