#include "threads.hpp"

#include <cblas.h>
#include <omp.h>

#include <atomic>
#include <cstdlib>
#include <stdexcept>

#include "cpu_budget.hpp"

namespace qk {

namespace {

std::atomic<ThreadHook> g_hook{nullptr};
std::atomic<int> g_applied{0};

// "N" in 1..kMaxThreads, else invalid_argument naming `what`.
int parse_count(const std::string& text, const std::string& what) {
  const bool digits =
      !text.empty() && text.size() <= 6 && text.find_first_not_of("0123456789") == std::string::npos;
  const int n = digits ? std::atoi(text.c_str()) : 0;
  if (n < 1 || n > kMaxThreads)
    throw std::invalid_argument(what + " must be a thread count from 1 to " + std::to_string(kMaxThreads) +
                                ", not '" + text + "'");
  return n;
}

}  // namespace

ThreadChoice resolve_threads(int option, const char* omp_num_threads) {
  if (option < 0 || option > kMaxThreads)
    throw std::invalid_argument(
        "--threads must be 0 (the default: the CPUs this process may use) or a "
        "count from 1 to " +
        std::to_string(kMaxThreads) + ", not " + std::to_string(option));
  if (option > 0) return {option, "--threads"};
  if (omp_num_threads != nullptr && *omp_num_threads != '\0') {
    const std::string list = omp_num_threads;
    return {parse_count(list.substr(0, list.find(',')),
                        "OMP_NUM_THREADS (the environment; --threads overrides it)"),
            "OMP_NUM_THREADS"};
  }
  return {affinity_cpus(), "affinity"};
}

ThreadChoice resolve_threads(int option) { return resolve_threads(option, std::getenv("OMP_NUM_THREADS")); }

void set_thread_hook(ThreadHook hook) { g_hook.store(hook); }

void apply_threads(int threads) {
  if (threads < 1) throw std::invalid_argument("apply_threads: thread count " + std::to_string(threads));
  omp_set_num_threads(threads);
  openblas_set_num_threads(1);
  set_cpu_budget(threads);
  if (const ThreadHook hook = g_hook.load()) hook(threads);
  g_applied.store(threads);
}

int setup_threads(int option) {
  const int n = resolve_threads(option).threads;
  apply_threads(n);
  return n;
}

int applied_threads() { return g_applied.load(); }

std::string omp_wait_policy() {
  const char* p = std::getenv("OMP_WAIT_POLICY");
  return p != nullptr ? p : "";
}

}  // namespace qk
