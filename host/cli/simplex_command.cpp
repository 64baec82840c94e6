// `qkgeom simplex --model DIR [--from RESULTS.h5] --out FILE.h5 [--samples N] [--pool N]
// [--seed S] [--cm-compat] [--null-trials T] [--device auto|cpu|cuda[:N]] [--json]`: CV of
// pentachoron volumes of the weight matrices (and activation clouds) against a Gaussian
// baseline (docs/simplex.md).
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>

#include "bo/backend.hpp"
#include "command_line.hpp"
#include "commands.hpp"
#include "engine_commands.hpp"
#include "json_output.hpp"
#include "option_checks.hpp"
#include "output_path.hpp"
#include "run_record.hpp"
#include "simplex_matrices.hpp"
#include "threads_option.hpp"

namespace qk {

Action add_simplex_command(CLI::App& app) {
  struct Args {
    SimplexJobOptions o;
    std::string out;
    int threads = 0;
    bool json = false, force = false;
  };
  auto a = std::make_shared<Args>();
  a->o.simplex.device = "auto";
  CLI::App* sub = app.add_subcommand("simplex", engine_command_description("simplex"));
  sub->add_option("--model", a->o.model, "Hugging Face model directory")->required();
  sub->add_option("--from", a->o.from,
                  "sweep store made with --save-kv qkv: also the q/k/v activation clouds");
  sub->add_option("--out", a->out, "output HDF5 file")->required();
  sub->add_option("--samples", a->o.simplex.samples, "simplices drawn per matrix")
      ->capture_default_str()
      ->check(in_range(1, 1e8));
  sub->add_option("--pool", a->o.simplex.pool, "draw from the first N rows (0: all)")
      ->capture_default_str()
      ->check(non_negative());
  sub->add_option("--seed", a->o.simplex.seed, "seed of the sampler and the baseline")
      ->capture_default_str()
      ->check(whole_number_to(UINT64_MAX));
  sub->add_flag("--cm-compat", a->o.simplex.cm_compat,
                "the seed's cv_metric exactly (torch.randperm, fp32 Cayley-Menger, pool min(n, 512))");
  sub->add_option("--null-trials", a->o.simplex.null_trials, "Gaussian clouds for the baseline (0: none)")
      ->capture_default_str()
      ->check(in_range(0, 100000));
  sub->add_option("--device", a->o.simplex.device, "auto | cpu | cuda | cuda:N (the volumes)")
      ->capture_default_str();
  sub->add_flag("--json", a->json, "print one JSON object");
  sub->add_flag("--force", a->force, "replace --out when it exists (atomically; never the --from file)");
  add_threads_option(sub, a->threads);
  return [a] {
    resolve_context(a->o.simplex.device, a->threads);
    check_new_output(a->out, a->force);
    if (!a->o.from.empty()) check_not_an_input(a->out, {a->o.from});
    check_not_a_model_file(a->out, a->o.model);
    const SimplexJobResult r = simplex_model(a->o);
    write_simplex_h5(a->out, r, a->o, command_line());
    if (a->json) {
      nlohmann::json j = simplex_json(r);
      j["out"] = a->out;
      j["engine"] = engine_json();
      std::cout << json_text(j) << "\n";
      return static_cast<int>(kExitOk);
    }
    std::map<std::string, int> bands;
    for (const SimplexRow& x : r.rows) ++bands[x.r.band];
    std::printf("qkgeom simplex: %zu matrices on %s in %.2f s -> %s\n", r.rows.size(), r.device.c_str(),
                r.seconds, a->out.c_str());
    for (const auto& [band, n] : bands) std::printf("  %-10s %d\n", band.c_str(), n);
    return static_cast<int>(kExitOk);
  };
}

}  // namespace qk
