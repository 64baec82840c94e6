#include "engine_commands.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "commands.hpp"

namespace qk {

const std::vector<EngineCommand>& engine_commands() {
  static const std::vector<EngineCommand> list = {
      {"env", "what this build has and what it can reach here"},
      {"capture", "One prompt's post-RoPE q/k/v of every layer -> snapshot file"},
      {"sweep", "a probe set through prefill and the metrics into a crash-safe HDF5 store"},
      {"weights", "Static geometry of every head's Q/K operator from the weights -> STATIC.h5"},
      {"align", "inter-layer alignment of the attention operators (from qkgeom weights)"},
      {"correlate", "per-head static descriptors against a sweep's attention statistics"},
      {"simplex", "CV of random simplex volumes of weights and activations, with a Gaussian baseline"},
      {"headdim-sweep",
       "train a small MHA classifier per (dim, heads) and measure the simplex CV of its weights and "
       "activations"},
      {"inspect", "the model configuration as resolved (HF defaults and precedence applied)"},
      {"rope-geometry", "RoPE-aware geometry of every head's Q/K operator per offset and frequency band"},
  };
  return list;
}

const char* engine_command_description(const std::string& name) {
  for (const EngineCommand& c : engine_commands())
    if (name == c.name) return c.description;
  return "";
}

namespace {

// Whether qkgeom-engine was built with CUDA (then `--device auto` may pick a GPU there).
constexpr bool kEngineHasCuda =
#if defined(QKGEOM_ENGINE_CUDA)
    true;
#else
    false;
#endif

// Whether `args` (after the subcommand) hold option `name`, as "--name" or "--name=...".
bool has_option(int argc, char** argv, const std::string& name) {
  for (int i = 2; i < argc; ++i)
    if (argv[i] == name || std::strncmp(argv[i], (name + "=").c_str(), name.size() + 1) == 0) return true;
  return false;
}

// Whether --device (either spelling) names a CUDA device.
bool cuda_device(int argc, char** argv) {
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    const std::string value = a == "--device" && i + 1 < argc ? argv[i + 1]
                              : a.rfind("--device=", 0) == 0  ? a.substr(9)
                                                              : "";
    if (value.rfind("cuda", 0) == 0) return true;
  }
  return false;
}

// The value of --device (either spelling), or `fallback` when absent.
std::string device_option(int argc, char** argv, const std::string& fallback) {
  std::string value = fallback;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--device" && i + 1 < argc) value = argv[i + 1];
    if (a.rfind("--device=", 0) == 0) value = a.substr(9);
  }
  return value;
}

// Whether this machine has an NVIDIA GPU (the driver lists one), asked without CUDA.
bool nvidia_gpu_present() {
  std::error_code ec;
  if (std::filesystem::exists("/dev/nvidia0", ec)) return true;
  const bool listed = std::filesystem::is_directory("/proc/driver/nvidia/gpus", ec);
  return listed && !std::filesystem::is_empty("/proc/driver/nvidia/gpus", ec);
}

// Whether an analysis's --device (default `fallback`) would run on a GPU in the engine:
// cuda[:N], or auto when the engine has CUDA and the machine a GPU. The front end has no
// GPU code.
bool wants_gpu(int argc, char** argv, const std::string& fallback) {
  const std::string d = device_option(argc, argv, fallback);
  if (d.rfind("cuda", 0) == 0) return true;
  return d == "auto" && kEngineHasCuda && nvidia_gpu_present();
}

// Whether the engine command in argv will use no GPU: its --device (auto unless given, as
// every engine command's default) is cpu, or auto on a machine without an NVIDIA GPU.
// `env` (libtorch's and CUDA's own view of the GPUs), cuda[:N] and any other value keep
// the CUDA engine.
bool cpu_only(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "env") return false;
  const std::string d = device_option(argc, argv, "auto");
  return d == "cpu" || (d == "auto" && !nvidia_gpu_present());
}

}  // namespace

bool front_end_command(const std::string& name) {
  return name == "env" || name == "weights" || name == "align" || name == "correlate" || name == "simplex";
}

bool needs_engine(int argc, char** argv) {
  if (argc < 2) return false;
  const std::string sub = argv[1];
  if (sub == "env") return kEngineHasCuda && nvidia_gpu_present();  // libtorch's and CUDA's view
  if (sub == "weights") return has_option(argc, argv, "--export-legacy") || wants_gpu(argc, argv, "auto");
  if (sub == "simplex") return has_option(argc, argv, "--cm-compat") || wants_gpu(argc, argv, "auto");
  if (front_end_command(sub)) return false;
  for (const EngineCommand& c : engine_commands())
    if (sub == c.name) return true;
  return sub == "score" && (has_option(argc, argv, "--model") || cuda_device(argc, argv));
}

bool passive_openmp(char** argv, bool reexec) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return false;  // the user's choice stands
  setenv("OMP_WAIT_POLICY", "passive", 1);
  if (reexec) execv("/proc/self/exe", argv);
  return true;
}

int run_engine(char** argv) {
  passive_openmp(argv, false);  // the engine loads OpenMP after the exec: no second one
  int argc = 0;
  while (argv[argc] != nullptr) ++argc;
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  const std::string cpu_engine = (self.parent_path() / "qkgeom-engine-cpu").string();
  if (!ec && cpu_only(argc, argv)) execv(cpu_engine.c_str(), argv);  // returns when it is missing
  const std::string engine = (self.parent_path() / "qkgeom-engine").string();
  if (!ec) execv(engine.c_str(), argv);
  std::cerr << "qkgeom: error: '" << argv[1] << "' runs in " << engine
            << " (libtorch), which cannot be run: " << (ec ? ec.message() : std::strerror(errno)) << "\n";
  return kExitRuntime;
}

}  // namespace qk
