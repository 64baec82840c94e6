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
       "train a small MHA classifier per (dim, heads) and measure the simplex CV of its weights and activations"},
      {"inspect", "the model configuration as resolved (HF defaults and precedence applied)"},
  };
  return list;
}

const char* engine_command_description(const std::string& name) {
  for (const EngineCommand& c : engine_commands())
    if (name == c.name) return c.description;
  return "";
}

namespace {

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

}  // namespace

bool needs_engine(int argc, char** argv) {
  if (argc < 2) return false;
  const std::string sub = argv[1];
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
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  const std::string engine = (self.parent_path() / "qkgeom-engine").string();
  if (!ec) execv(engine.c_str(), argv);
  std::cerr << "qkgeom: error: '" << argv[1] << "' runs in " << engine << " (libtorch), which cannot be run: "
            << (ec ? ec.message() : std::strerror(errno)) << "\n";
  return kExitRuntime;
}

}  // namespace qk
