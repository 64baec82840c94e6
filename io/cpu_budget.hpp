#pragma once
// The CPUs this process may use: the lowest layer of the thread resolution in
// host/core/threads.hpp (which records the resolved count here), read by io's own worker
// pools (tokenizer loading) as well as the rest of the engine.
#include <sched.h>

#include <atomic>

namespace qk {

// CPUs in this process's affinity mask (sched_getaffinity: taskset, cgroup cpusets and
// Slurm bindings count), at least 1. Never std::thread::hardware_concurrency, which
// counts the machine's CPUs whatever the mask.
inline int affinity_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  const int n = CPU_COUNT(&set);
  return n > 0 ? n : 1;
}

// The run's thread count recorded by set_cpu_budget; 0 until then.
inline std::atomic<int> g_cpu_budget{0};

// The thread count of this run: the resolved --threads once recorded, else affinity_cpus().
inline int cpu_budget() {
  const int b = g_cpu_budget.load();
  return b > 0 ? b : affinity_cpus();
}

// Records the run's thread count (>= 1; anything else clears it) for cpu_budget.
inline void set_cpu_budget(int threads) { g_cpu_budget.store(threads > 0 ? threads : 0); }

}  // namespace qk
