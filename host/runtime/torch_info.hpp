#pragma once
// What the linked libtorch is and can reach.
#include <string>

namespace qk {

struct TorchInfo {
  bool linked = false;      // built with libtorch
  std::string version;      // e.g. "2.11.0"
  bool cuda_built = false;  // libtorch has CUDA kernels
  int cuda_devices = 0;     // devices libtorch can use now
  int threads = 0;          // intra-op CPU threads
};

TorchInfo torch_info();

// Registers libtorch's thread pools with host/core's apply_threads (threads.hpp): the
// intra-op pool gets the run's count, the inter-op pool too (set once, before any work).
// Without libtorch it registers nothing.
void register_torch_threads();

}  // namespace qk
