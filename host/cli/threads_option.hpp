#pragma once
// --threads N on every command that computes (docs/cli.md, "Threads"); the count is
// resolved and applied by host/core (threads.hpp) through resolve_context or setup_threads.
#include <CLI/CLI.hpp>

namespace qk {

inline CLI::Option* add_threads_option(CLI::App* sub, int& threads) {
  return sub->add_option(
      "--threads", threads,
      "CPU threads for OpenMP, OpenBLAS and libtorch (default 0: OMP_NUM_THREADS when set, "
      "else the CPUs this process may use: its affinity mask)");
}

}  // namespace qk
