#pragma once
// The --device choice shared by the analyses, and the execution context the CLI resolves
// once per run: host/core's parser and resolver (device.hpp, threads.hpp) with what this
// build's CUDA runtime sees.
#include <string>

#include "bo/gpu_stats.hpp"
#include "exec_context.hpp"

namespace qk {

struct Backend {
  bool gpu = false;
  int device = 0;
  std::string name = "cpu";
};

// `spec` (auto | cpu | cuda | cuda:N) against the GPUs this build can use (device.hpp):
// auto falls back to the CPU; cuda[:N] without that GPU throws std::runtime_error;
// anything else throws std::invalid_argument.
Device device_here(const std::string& spec);

// The Backend of device_here(spec).
Backend choose_backend(const std::string& spec);
Backend backend_of(const Device& d);

// The run's context: the device resolved, the threads resolved (--threads `threads`,
// 0: the default) and applied (setup_threads), recorded for engine_settings. Every
// command that computes calls it once after parsing its options.
ExecContext resolve_context(const std::string& device, int threads);

}  // namespace qk
