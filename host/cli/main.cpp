// qkgeom: the CLI entry point of both binaries (engine_commands.hpp): the front end
// (QKGEOM_FRONT_END) and the engine. Subcommands live in *_command.cpp.
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <exception>
#include <iostream>
#include <map>
#include <string>

#include <CLI/CLI.hpp>
#include <hdf5.h>

#include "command_line.hpp"
#include "commands.hpp"
#include "engine_commands.hpp"
#include "input_error.hpp"
#include "internal_error.hpp"
#include "store_error.hpp"
#if !defined(QKGEOM_FRONT_END)
#include "torch_info.hpp"
#endif
#include "qkgeom/version.hpp"

namespace {

// Every subcommand of this binary on app, with the action that runs it (the front end
// lists the engine's commands without actions: the engine runs them).
std::map<CLI::App*, qk::Action> add_commands(CLI::App& app) {
  std::map<CLI::App*, qk::Action> actions;
  actions[app.get_subcommand("score")] = qk::add_score_command(app);
  actions[app.get_subcommand("tokenize")] = qk::add_tokenize_command(app);
  actions[app.get_subcommand("merge")] = qk::add_merge_command(app);
  actions[app.get_subcommand("export")] = qk::add_export_command(app);
  actions[app.get_subcommand("recover")] = qk::add_recover_command(app);
  // The analyses that run no model: in process in both binaries (engine_commands.hpp).
  actions[app.get_subcommand("env")] = qk::add_env_command(app);
  actions[app.get_subcommand("weights")] = qk::add_weights_command(app);
  actions[app.get_subcommand("align")] = qk::add_align_command(app);
  actions[app.get_subcommand("correlate")] = qk::add_correlate_command(app);
  actions[app.get_subcommand("simplex")] = qk::add_simplex_command(app);
  actions[app.get_subcommand("report")] = qk::add_report_command(app);
  actions[app.get_subcommand("compare")] = qk::add_compare_command(app);
#if defined(QKGEOM_FRONT_END)
  for (const qk::EngineCommand& c : qk::engine_commands())  // listed here, run by the engine
    if (!qk::front_end_command(c.name)) app.add_subcommand(c.name, c.description)->allow_extras();
#else
  actions[app.get_subcommand("capture")] = qk::add_capture_command(app);
  actions[app.get_subcommand("sweep")] = qk::add_sweep_command(app);
#if defined(QKGEOM_WITH_TORCH)
  actions[app.get_subcommand("headdim-sweep")] = qk::add_headdim_command(app);
  actions[app.get_subcommand("inspect")] = qk::add_inspect_command(app);
  actions[app.get_subcommand("rope-geometry")] = qk::add_rope_geometry_command(app);
#endif
#endif
  return actions;
}

// The exit code of a command line CLI11 rejected (or of --help/--version: kExitOk), after
// its message on stderr (stdout for help).
int parse_failure(CLI::App& app, const CLI::ParseError& e, int argc, char** argv) {
  // CLI11 says "A subcommand is required" both for `qkgeom` and for `qkgeom frobnicate`.
  if (e.get_name() == "RequiredError" && app.get_subcommands().empty()) {
    const char* word = nullptr;  // the first argument that is not an option: the command
    for (int i = 1; i < argc && word == nullptr; ++i)
      if (argv[i][0] != '-') word = argv[i];
    if (word != nullptr)
      std::cerr << "qkgeom: error: unknown command '" << word << "' (qkgeom --help lists the commands)\n";
    else
      std::cerr << "usage: qkgeom COMMAND [OPTIONS] (qkgeom --help lists the commands)\n";
    return qk::kExitUsage;
  }
  const int code = app.exit(e);
  return code == 0 ? qk::kExitOk : qk::kExitUsage;
}

// Runs the parsed subcommand's action: its exit code, or the documented code of the
// exception it threw (docs/cli.md), with the message on stderr.
int run_parsed(const std::map<CLI::App*, qk::Action>& actions) {
  try {
    for (const auto& [sub, action] : actions)
      if (sub->parsed()) return action();
  } catch (const qk::StoreError& e) {
    // After a failed write HDF5 1.10 cannot close the file cleanly and would crash in its
    // exit handler; what was committed is safe, so leave without running it.
    std::cerr << "qkgeom: error: " << e.what() << "\n";
    std::cerr.flush();
    std::_Exit(qk::kExitRuntime);
  } catch (const qk::InputError& e) {
    std::cerr << "qkgeom: error: " << e.what() << "\n";
    return qk::kExitBadInput;
  } catch (const qk::InternalError& e) {
    std::cerr << "qkgeom: internal error (a bug; please report it): " << e.what() << "\n";
    return qk::kExitInternal;
  } catch (const std::invalid_argument& e) {  // a bad option value, named in the message
    std::cerr << "qkgeom: error: " << e.what() << "\n";
    return qk::kExitUsage;
  } catch (const std::logic_error& e) {  // out_of_range, length_error, ...: a bug too
    std::cerr << "qkgeom: internal error (a bug; please report it): " << e.what() << "\n";
    return qk::kExitInternal;
  } catch (const std::exception& e) {
    std::cerr << "qkgeom: error: " << e.what() << "\n";
    return qk::kExitRuntime;
  }
  return qk::kExitInternal;
}

// Ends the process with `code` once stdout, stderr and every HDF5 file are flushed and
// closed. The engine skips the static destructors (libtorch's take ~0.15 s at every exit);
// sanitizer builds run them, for the leak check.
int leave(int code) {
#if !defined(QKGEOM_FRONT_END) && !defined(__SANITIZE_ADDRESS__)
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  H5close();
  std::_Exit(code);
#endif
  return code;
}

int run_main(int argc, char** argv) {
#if defined(QKGEOM_FRONT_END)
  if (qk::needs_engine(argc, argv)) return qk::run_engine(argv);
  if (argc > 1 &&
      (std::string(argv[1]) == "score" || (qk::front_end_command(argv[1]) && std::string(argv[1]) != "env")))
    qk::passive_openmp(argv, true);  // the OpenMP users: libgomp reads it when it loads
  if (argc > 1 && std::string(argv[1]) == "env")
    qk::passive_openmp(argv, false);  // env reports the policy the other commands get
#else
  qk::register_torch_threads();  // --threads reaches libtorch's pools (host/core/threads.hpp)
#endif
  qk::set_command_line(argc, argv);
  // A file-size limit makes writes fail with EFBIG (a clear error) instead of killing us.
  std::signal(SIGXFSZ, SIG_IGN);
  CLI::App app{"qkgeom: geometry of attention in transformer checkpoints"};
  app.set_version_flag("--version", std::string("qkgeom ") + qk::kVersion + " (" + qk::kGitSha + ")");
  app.require_subcommand(1);
  const std::map<CLI::App*, qk::Action> actions = add_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return parse_failure(app, e, argc, argv);
  }
  return run_parsed(actions);
}

}  // namespace

int main(int argc, char** argv) { return leave(run_main(argc, argv)); }
