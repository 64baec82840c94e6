#include "device.hpp"

#include <stdexcept>

namespace qk {

std::string Device::name() const { return cuda ? "cuda:" + std::to_string(index) : "cpu"; }

DeviceSpec parse_device(const std::string& text) {
  DeviceSpec s;
  s.text = text;
  if (text == "auto") return s;
  if (text == "cpu") {
    s.kind = DeviceSpec::Kind::Cpu;
    return s;
  }
  if (text == "cuda" || text.rfind("cuda:", 0) == 0) {
    s.kind = DeviceSpec::Kind::Cuda;
    if (text.size() == 4) return s;
    const std::string num = text.substr(5);
    if (num.empty() || num.size() > 4 || num.find_first_not_of("0123456789") != std::string::npos)
      throw std::invalid_argument("--device: bad CUDA device index in '" + text +
                                  "'; use auto, cpu, cuda or cuda:N");
    s.index = std::stoi(num);
    return s;
  }
  throw std::invalid_argument("--device must be auto, cpu, cuda or cuda:N, not '" + text + "'");
}

Device resolve_device(const DeviceSpec& spec, int visible_gpus, const std::string& why_none) {
  Device d;
  if (spec.kind == DeviceSpec::Kind::Cpu) return d;
  if (spec.kind == DeviceSpec::Kind::Auto) {
    d.cuda = visible_gpus > 0;
    return d;
  }
  if (visible_gpus <= 0)
    throw std::runtime_error("--device " + spec.text + " requested but no GPU can be used: " + why_none);
  if (spec.index >= visible_gpus)
    throw std::runtime_error("--device " + spec.text + ": no such CUDA device (" +
                             std::to_string(visible_gpus) + " visible)");
  d.cuda = true;
  d.index = spec.index;
  return d;
}

}  // namespace qk
