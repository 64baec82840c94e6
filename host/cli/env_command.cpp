// `qkgeom env [--json]`: what this build has and what it can reach on this machine.
#include <H5public.h>

#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "bo/gpu_stats.hpp"
#include "commands.hpp"
#include "cpu_budget.hpp"
#include "engine_commands.hpp"
#include "qkgeom/version.hpp"
#include "json_output.hpp"
#include "run_record.hpp"
#include "threads.hpp"
#include "threads_option.hpp"
#include "torch_info.hpp"

namespace qk {

namespace {

#if defined(QKGEOM_FRONT_END)
// The engine's libtorch as this build knows it, loading neither libtorch nor CUDA: the
// front end runs `env` only on machines without an NVIDIA GPU (needs_engine), so no
// device is reachable, and libtorch would compute with `threads`.
TorchInfo engine_torch_info(int threads) {
  TorchInfo t;
#if defined(QKGEOM_ENGINE_TORCH_VERSION)
  t.linked = true;
  t.version = QKGEOM_ENGINE_TORCH_VERSION;
  t.cuda_built = QKGEOM_ENGINE_TORCH_CUDA != 0;
  t.threads = threads;
#else
  (void)threads;
#endif
  return t;
}
#endif

// Whether a GPU can be used here and, if not, why; the front end runs only where the
// driver shows no GPU (needs_engine).
bool env_gpu(std::string* why) {
#if defined(QKGEOM_FRONT_END)
  *why = "no NVIDIA GPU on this machine: no /dev/nvidia0";
  return false;
#else
  return gpu_available(why);
#endif
}

int run_env(bool json, int threads) {
  const ThreadChoice tc = resolve_threads(threads);  // what a computing command would apply
  apply_threads(tc.threads);
  std::string why;
  const bool gpu = env_gpu(&why);
#if defined(QKGEOM_FRONT_END)
  const TorchInfo t = engine_torch_info(tc.threads);
#else
  const TorchInfo t = torch_info();
#endif
  unsigned maj = 0, min = 0, rel = 0;
  H5get_libversion(&maj, &min, &rel);
  nlohmann::json j;
  j["version"] = kVersion;
  j["git_sha"] = kGitSha;
  j["engine"] = engine_json();
#if defined(QKGEOM_WITH_CUDA) || defined(QKGEOM_ENGINE_CUDA)
  j["cuda_compiled"] = true;
#else
  j["cuda_compiled"] = false;
#endif
  j["gpu_available"] = gpu;
  if (!gpu) j["gpu_unavailable_reason"] = why;
  j["libtorch"] = {{"linked", t.linked},
                   {"version", t.version},
                   {"cuda_built", t.cuda_built},
                   {"cuda_devices", t.cuda_devices},
                   {"threads", t.threads}};
  j["hdf5"] = std::to_string(maj) + "." + std::to_string(min) + "." + std::to_string(rel);
  j["cpu_threads"] = tc.threads;
  j["threads_source"] = tc.source;
  j["affinity_cpus"] = affinity_cpus();
  j["omp_wait_policy"] = omp_wait_policy();
  if (json) {
    std::cout << json_text(j) << "\n";
  } else {
    std::cout << "qkgeom " << kVersion << " (" << kGitSha << ")\n"
              << "  CUDA kernels compiled: " << (j["cuda_compiled"].get<bool>() ? "yes" : "no") << "\n"
              << "  GPU: " << (gpu ? "available" : "not available (" + why + ")") << "\n"
              << "  libtorch: " << (t.linked ? t.version : "not linked")
              << (t.linked ? ", " + std::to_string(t.cuda_devices) + " CUDA device(s), " +
                                 std::to_string(t.threads) + " threads"
                           : "")
              << "\n"
              << "  HDF5: " << j["hdf5"].get<std::string>() << "\n"
              << "  CPU threads: " << tc.threads << " (from " << tc.source << "; " << affinity_cpus()
              << " CPUs in the affinity mask; OMP_WAIT_POLICY " << omp_wait_policy() << ")\n";
  }
  return kExitOk;
}

}  // namespace

Action add_env_command(CLI::App& app) {
  auto json = std::make_shared<bool>(false);
  auto threads = std::make_shared<int>(0);
  CLI::App* sub = app.add_subcommand("env", engine_command_description("env"));
  sub->add_flag("--json", *json, "print one JSON object");
  add_threads_option(sub, *threads);
  return [json, threads] { return run_env(*json, *threads); };
}

}  // namespace qk
