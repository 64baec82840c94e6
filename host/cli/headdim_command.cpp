// `qkgeom headdim-sweep [--dims 64,128,256] [--heads 1,2,4,8] [--epochs N] [--samples N]
//   [--seed S] [--cm-compat] [--null-trials T] [--device auto|cpu|cuda[:N]] [--threads N]
//   [--out FILE.h5] [--json] [--quiet]`: the head-dim experiment (docs/headdim.md).
#include <iostream>
#include <memory>

#include "bo/backend.hpp"
#include "command_line.hpp"
#include "commands.hpp"
#include "engine_commands.hpp"
#include "json_output.hpp"
#include "option_checks.hpp"
#include "output_path.hpp"
#include "headdim_h5.hpp"
#include "headdim_report.hpp"
#include "headdim_sweep.hpp"
#include "threads_option.hpp"

namespace qk {

namespace {

// The largest --dims / --heads value: a 65536-wide toy classifier is already far past the
// experiment's scale (docs/headdim.md).
constexpr int64_t kMaxGridValue = 65536;

}  // namespace

Action add_headdim_command(CLI::App& app) {
  struct Args {
    HeaddimOptions o;
    std::string out, dims, heads;  // dims, heads: the lists as given (defaults from o)
    bool json = false, quiet = false, force = false;
  };
  auto a = std::make_shared<Args>();
  a->dims = int_list_text(a->o.dims);
  a->heads = int_list_text(a->o.heads);
  CLI::App* sub = app.add_subcommand("headdim-sweep", engine_command_description("headdim-sweep"));
  sub->add_option("--dims", a->dims, "embedding dimensions")
      ->capture_default_str()
      ->check(positive_int_list(kMaxGridValue));
  sub->add_option("--heads", a->heads, "head counts (each must divide every dim)")
      ->capture_default_str()
      ->check(positive_int_list(kMaxGridValue));
  sub->add_option("--epochs", a->o.epochs, "full-batch Adam steps")
      ->capture_default_str()
      ->check(non_negative());
  sub->add_option("--samples", a->o.simplex.samples, "simplices drawn per CV")
      ->capture_default_str()
      ->check(positive());
  sub->add_option("--seed", a->o.seed, "seed of the data, the initialisation and the simplex sampler")
      ->capture_default_str()
      ->check(whole_number_to(UINT64_MAX));
  sub->add_flag("--cm-compat", a->o.simplex.cm_compat,
                "the seed's CV exactly (its sampler and fp32 Cayley-Menger)");
  sub->add_option("--null-trials", a->o.simplex.null_trials,
                  "Gaussian clouds for the null baseline (0: none)")
      ->capture_default_str()
      ->check(non_negative());
  sub->add_option("--device", a->o.device, "where the models train: auto, cpu, cuda or cuda:N")
      ->capture_default_str();
  add_threads_option(sub, a->o.threads);  // results are identical for one thread count
  sub->add_option("--out", a->out, "also write the results to this HDF5 file");
  sub->add_flag("--json", a->json, "print one JSON object instead of the tables");
  sub->add_flag("--quiet", a->quiet, "no progress on stderr");
  sub->add_flag("--force", a->force, "replace --out when it exists (atomically)");
  return [a] {
    a->o.progress = !a->quiet;
    a->o.dims = int_list(a->dims);
    a->o.heads = int_list(a->heads);
    a->o.threads = resolve_context(a->o.device, a->o.threads).threads;
    check_headdim_options(a->o);
    if (!a->out.empty()) check_new_output(a->out, a->force);
    const HeaddimResult r = run_headdim_sweep(a->o);
    if (!a->out.empty()) write_headdim_h5(a->out, r, command_line());
    if (a->json)
      std::cout << json_text(headdim_json(r, command_line())) << "\n";
    else
      std::cout << headdim_tables(r);
    return static_cast<int>(kExitOk);
  };
}

}  // namespace qk
