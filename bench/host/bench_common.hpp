#pragma once
// What every Google Benchmark binary of bench/host shares: fixed-seed inputs, a rate
// counter, the skip without a GPU, wall-time registration in milliseconds, and main, which
// records the machine (CPU model, hardware threads, CUDA availability) in the results'
// context.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bo/gpu_stats.hpp"

namespace qk::bench {

// n normal floats (mean 0, sd 1) from a fixed seed.
inline std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& f : v) f = dist(gen);
  return v;
}

// Counter `name`: `per_iteration` units per second of the measured time.
inline void set_rate(benchmark::State& state, const std::string& name, double per_iteration) {
  state.counters[name] = benchmark::Counter(per_iteration, benchmark::Counter::kIsIterationInvariantRate);
}

// Skips the benchmark, with the reason, when no CUDA device is usable; true when skipped.
inline bool skip_without_gpu(benchmark::State& state) {
  std::string why;
  if (gpu_available(&why)) return false;
  state.SkipWithError(("no CUDA device: " + why).c_str());
  return true;
}

// Registers fn(state, args...) as `name`, timed in wall-clock milliseconds.
template <typename Fn, typename... Args>
benchmark::internal::Benchmark* register_ms(const std::string& name, Fn&& fn, Args&&... args) {
  return benchmark::RegisterBenchmark(name.c_str(), std::forward<Fn>(fn), std::forward<Args>(args)...)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
}

// The CPU model name from /proc/cpuinfo ("unknown" elsewhere).
inline std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown";
}

// A bench binary's main: parses the benchmark flags (1 on an unknown one), records the
// machine in the results' context, registers the benchmarks (`register_all`) and runs them.
inline int run_main(int argc, char** argv, void (*register_all)()) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::string why;
  const bool gpu = gpu_available(&why);
  benchmark::AddCustomContext("cpu_model", cpu_model());
  benchmark::AddCustomContext("hardware_threads", std::to_string(std::thread::hardware_concurrency()));
  benchmark::AddCustomContext("cuda", gpu ? "available" : "unavailable: " + why);
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace qk::bench
