#pragma once
// The split of the CLI into binaries (docs/architecture.md, "Startup"): build/qkgeom, the
// front end, runs the store, snapshot and tokenizer commands without libtorch or CUDA;
// build/qkgeom-engine runs every command; build/qkgeom-engine-cpu is the same engine
// without libtorch's CUDA side, CUDA libraries or kernels (it starts in half the time).
// The front end hands a command it cannot run to an engine by exec (same process id,
// arguments and environment).
#include <string>
#include <vector>

namespace qk {

struct EngineCommand {
  const char* name;
  const char* description;  // the subcommand's one-line help
};

// The commands only the engine runs (libtorch: a model, training, spectra; CUDA).
const std::vector<EngineCommand>& engine_commands();

// The description of engine command `name` (the one place it is written).
const char* engine_command_description(const std::string& name);

// The engine commands the front end also runs in process (the analyses that run no
// model: no libtorch, no CUDA), unless needs_engine says an option needs the engine.
bool front_end_command(const std::string& name);

// Whether arguments argv[1..] ask for the engine: an engine command the front end does not
// run, `score` with --model or a CUDA --device, `weights` with --export-legacy (a torch
// pickle) or a GPU --device (cuda[:N], or auto with a GPU and a CUDA engine), `simplex`
// with --cm-compat (torch's RNG) or a GPU --device, `env` on a machine with an NVIDIA GPU
// (libtorch's and CUDA's own view of it).
bool needs_engine(int argc, char** argv);

// OpenMP threads that sleep when idle: sets OMP_WAIT_POLICY=passive unless it is set
// (libgomp's default spins, and on cores shared with other processes a tiny snapshot's
// score took 80 ms with 2 threads against 10 ms with 1; passive: 10 ms). libgomp reads it
// when it is loaded, so with `reexec` this process is run again (execv of itself, which
// returns only when that fails). False when the user had set it.
bool passive_openmp(char** argv, bool reexec);

// Replaces this process by the engine next to this executable, with the same arguments:
// qkgeom-engine-cpu when the command will use no GPU (--device cpu, or auto on a machine
// without an NVIDIA GPU; not `env`) and that file is there, else qkgeom-engine. Returns
// only when that fails, after printing why: the exit code.
int run_engine(char** argv);

}  // namespace qk
