#pragma once
// The --device choice shared by the analyses: auto | cpu | cuda | cuda:N.
#include <stdexcept>
#include <string>

#include "bo/gpu_stats.hpp"

namespace qk {

struct Backend {
  bool gpu = false;
  int device = 0;
  std::string name = "cpu";
};

// auto: the GPU when the build has CUDA and a device answers, else the CPU; cuda[:N]
// without a usable GPU throws std::runtime_error (never a silent fallback); anything
// else throws std::invalid_argument.
inline Backend choose_backend(const std::string& spec) {
  Backend b;
  std::string why;
  if (spec == "cpu") return b;
  if (spec == "auto") {
    if (gpu_available(&why)) {
      b.gpu = true;
      b.name = "cuda:0";
    }
    return b;
  }
  if (spec == "cuda" || spec.rfind("cuda:", 0) == 0) {
    if (spec.size() > 5) {
      const std::string idx = spec.substr(5);
      if (idx.empty() || idx.find_first_not_of("0123456789") != std::string::npos)
        throw std::invalid_argument("--device: bad CUDA device index in '" + spec + "'");
      b.device = std::stoi(idx);
    }
    if (!gpu_available(&why))
      throw std::runtime_error("--device " + spec + " requested but no GPU can be used: " + why);
    b.gpu = true;
    b.name = "cuda:" + std::to_string(b.device);
    return b;
  }
  throw std::invalid_argument("--device must be auto, cpu, cuda or cuda:N, not '" + spec + "'");
}

}  // namespace qk
