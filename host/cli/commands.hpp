#pragma once
// CLI subcommands: each registers its options on the app and returns the action
// to run when it is chosen. Actions return the process exit code.
#include <functional>

#include <CLI/CLI.hpp>

namespace qk {

// Exit codes of every subcommand (docs/cli.md).
enum ExitCode : int {
  kExitOk = 0,
  kExitInternal = 1,
  kExitUsage = 2,
  kExitBadInput = 3,
  kExitRuntime = 4,
};

using Action = std::function<int()>;

Action add_score_command(CLI::App& app);
Action add_env_command(CLI::App& app);
Action add_capture_command(CLI::App& app);
Action add_tokenize_command(CLI::App& app);
Action add_sweep_command(CLI::App& app);
Action add_merge_command(CLI::App& app);
Action add_export_command(CLI::App& app);
Action add_recover_command(CLI::App& app);
Action add_weights_command(CLI::App& app);
Action add_align_command(CLI::App& app);
Action add_correlate_command(CLI::App& app);
Action add_simplex_command(CLI::App& app);
Action add_headdim_command(CLI::App& app);
Action add_inspect_command(CLI::App& app);
Action add_report_command(CLI::App& app);
Action add_rope_geometry_command(CLI::App& app);
Action add_compare_command(CLI::App& app);

}  // namespace qk
