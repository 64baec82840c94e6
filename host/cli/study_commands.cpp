// Studies over result files (docs/static-geometry.md):
//   `qkgeom align --static STATIC.h5 [--anchor L] [--json]`: the seed's inter-layer operator
//     alignment, printed and stored in the file's align/ group;
//   `qkgeom correlate --static STATIC.h5 --sweep RESULTS.h5 [--bootstrap N] [--seed S] [--json]
//     [--export-legacy FILE.json]`: static descriptors against dynamic attention statistics.
#include <iostream>
#include <memory>

#include "align_study.hpp"
#include "commands.hpp"
#include "correlate_study.hpp"

namespace qk {

Action add_align_command(CLI::App& app) {
  struct Args {
    std::string file;
    int anchor = -1;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand("align", "inter-layer alignment of the attention operators (from qkgeom weights)");
  sub->add_option("--static", a->file, "STATIC.h5 written by qkgeom weights")->required();
  sub->add_option("--anchor", a->anchor, "anchor layer (default: the last)")->check(CLI::NonNegativeNumber);
  sub->add_flag("--json", a->json, "print one JSON object");
  return [a] {
    const AlignResult r = align_study(a->file, a->anchor);
    write_align(a->file, r);
    if (a->json)
      std::cout << align_json(r).dump() << "\n";
    else
      std::cout << align_table(r) << "stored in " << a->file << " (group align/)\n";
    return static_cast<int>(kExitOk);
  };
}

Action add_correlate_command(CLI::App& app) {
  struct Args {
    std::string static_h5, sweep_h5, legacy;
    CorrelateOptions o;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand("correlate", "per-head static descriptors against a sweep's attention statistics");
  sub->add_option("--static", a->static_h5, "STATIC.h5 written by qkgeom weights")->required();
  sub->add_option("--sweep", a->sweep_h5, "RESULTS.h5 of a sweep with the attention metrics")->required();
  sub->add_option("--bootstrap", a->o.bootstrap, "probe resamples for the confidence intervals")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  sub->add_option("--seed", a->o.seed, "seed of the bootstrap")->capture_default_str();
  sub->add_option("--export-legacy", a->legacy,
                  "also write the seed's input JSON (head-geometry-vs-entropy.py) to this file");
  sub->add_flag("--json", a->json, "print one JSON object");
  return [a] {
    const CorrelateResult r = correlate_study(a->static_h5, a->sweep_h5, a->o);
    if (!a->legacy.empty()) write_correlate_legacy(a->static_h5, r, a->legacy);
    if (a->json)
      std::cout << correlate_json(r).dump() << "\n";
    else
      std::cout << correlate_table(r);
    return static_cast<int>(kExitOk);
  };
}

}  // namespace qk
