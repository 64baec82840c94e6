#pragma once
// The one parser of --device (auto | cpu | cuda | cuda:N) and its resolution against the
// devices a run can see. CUDA-free: callers pass what their side (the CUDA runtime,
// libtorch) reports.
#include <string>

namespace qk {

struct DeviceSpec {
  enum class Kind { Auto, Cpu, Cuda };
  Kind kind = Kind::Auto;
  int index = 0;     // cuda:N (0 for plain "cuda" and auto)
  std::string text;  // as given
};

// A resolved device: the CPU or CUDA device `index`.
struct Device {
  bool cuda = false;
  int index = 0;
  std::string name() const;  // "cpu" or "cuda:N"
  bool operator==(const Device& o) const { return cuda == o.cuda && (!cuda || index == o.index); }
};

// Throws std::invalid_argument naming --device for anything but auto, cpu, cuda, cuda:N
// (N a device index up to 4 digits).
DeviceSpec parse_device(const std::string& text);

// auto: CUDA device 0 when `visible_gpus` > 0, else the CPU. cuda[:N] with no visible GPU
// or N >= visible_gpus throws std::runtime_error (exit 4, never a silent fallback);
// `why_none` says why none is visible.
Device resolve_device(const DeviceSpec& spec, int visible_gpus, const std::string& why_none);

}  // namespace qk
