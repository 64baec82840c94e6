#pragma once
// The CPU thread count of a run, resolved once and applied to every pool the engine uses
// (docs/cli.md, "Threads"): --threads N wins; else OMP_NUM_THREADS; else the CPUs in the
// process's affinity mask (taskset, cgroup cpusets and Slurm bindings are respected).
#include <string>

namespace qk {

struct ThreadChoice {
  int threads = 1;     // >= 1
  std::string source;  // "--threads", "OMP_NUM_THREADS" or "affinity"
};

// The largest --threads accepted.
constexpr int kMaxThreads = 4096;

// option: --threads (0: not given); omp_num_threads: the environment's OMP_NUM_THREADS
// (null or empty: unset; a list "4,2" counts its first entry). Throws
// std::invalid_argument naming --threads or OMP_NUM_THREADS for a negative, non-numeric
// or out-of-range value (exit 2).
ThreadChoice resolve_threads(int option, const char* omp_num_threads);

// The same with this process's OMP_NUM_THREADS.
ThreadChoice resolve_threads(int option);

// What a thread count also sets beyond OpenMP and OpenBLAS: the engine registers
// libtorch's (intra-op and inter-op pools); null: nothing.
using ThreadHook = void (*)(int threads);
void set_thread_hook(ThreadHook hook);

// Applies `threads` (>= 1) to this process: OpenMP (omp_set_num_threads, on the calling
// thread, which runs every parallel region), the io worker pools (cpu_budget), the hook
// (libtorch) and OpenBLAS, which stays single-threaded: every BLAS call is made from
// inside an OpenMP loop over tiles or heads, where a threaded BLAS would oversubscribe.
void apply_threads(int threads);

// resolve_threads(option) then apply_threads: the one call every computing command makes
// after parsing. Returns the count applied.
int setup_threads(int option);

// The count apply_threads last applied; 0 when none was.
int applied_threads();

// OMP_WAIT_POLICY as libgomp read it when it loaded ("" when unset: libgomp spins for a
// while at every barrier before it sleeps). libgomp reads it only then, so it cannot be
// set from inside a process: build/qkgeom sets "passive" unless the user chose, before it
// execs itself or the engine (host/cli/main.cpp, engine_commands.cpp).
std::string omp_wait_policy();

}  // namespace qk
