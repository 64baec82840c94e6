// `qkgeom compare RUN.h5 RUN.h5 ... [--static STATIC.h5 ...] [--out CMP.h5] [--json]`:
// several models' sweeps over one probe set, probe by probe (docs/compare.md).
#include <iostream>
#include <memory>

#include "bo/backend.hpp"
#include "commands.hpp"
#include "command_line.hpp"
#include "compare_output.hpp"
#include "compare_study.hpp"
#include "json_output.hpp"
#include "option_checks.hpp"
#include "output_path.hpp"
#include "run_record.hpp"
#include "threads.hpp"

namespace qk {

namespace {

struct CompareArgs {
  std::vector<std::string> runs;
  std::string out;
  CompareOptions o;
  bool json = false, force = false;
};

void add_compare_options(CLI::App* sub, CompareArgs& a) {
  sub->add_option("runs", a.runs, "RESULTS.h5 of two or more sweeps over one probe set")
      ->required()
      ->expected(2, -1);
  sub->add_option("--static", a.o.statics, "STATIC.h5 files (qkgeom weights) for static depth profiles");
  sub->add_option("--out", a.out, "write the comparison to this HDF5 file (CMP.h5)");
  sub->add_option("--bootstrap", a.o.bootstrap, "resamples of the paired differences")
      ->capture_default_str()
      ->check(in_range(0, 1000000));
  sub->add_option("--seed", a.o.seed, "seed of the resamples (numpy RandomState)")
      ->capture_default_str()
      ->check(whole_number_to(UINT32_MAX));
  sub->add_option("--level", a.o.level, "confidence level of the intervals")
      ->capture_default_str()
      ->check(number_in(0, 1, true, "in (0, 1)", "LEVEL"));
  sub->add_option("--depth-points", a.o.depth_points, "points of the relative-depth grid")
      ->capture_default_str()
      ->check(in_range(2, 10001));
  sub->add_flag("--allow-template-mix", a.o.allow_template_mix, "compare runs made with different templates");
  sub->add_flag("--json", a.json, "print one JSON object");
  sub->add_flag("--force", a.force, "replace --out when it exists (atomically)");
}

}  // namespace

Action add_compare_command(CLI::App& app) {
  auto a = std::make_shared<CompareArgs>();
  CLI::App* sub = app.add_subcommand("compare", "several models' sweeps over one probe set, probe by probe");
  add_compare_options(sub, *a);
  return [a] {
    refuse_repeated_paths(a->o.statics, "--static");
    RunPlace place;
    place.started_at = utc_now_iso8601();
    resolve_context("cpu", 1);  // one thread: nothing here runs in parallel
    place.threads = applied_threads();
    if (!a->out.empty()) {
      check_new_output(a->out, a->force);
      std::vector<std::string> inputs = a->runs;
      inputs.insert(inputs.end(), a->o.statics.begin(), a->o.statics.end());
      check_not_an_input(a->out, inputs);
    }
    const CompareResult r = compare_runs(a->runs, a->o);
    for (size_t i = 0; i < r.match.missing_ids.size() && i < 5; ++i) {
      std::string from;
      for (int k : r.match.missing_from[i]) from += (from.empty() ? "" : ", ") + r.runs[k].path;
      std::cerr << "qkgeom: compare: probe '" << r.match.missing_ids[i] << "' is missing from " << from
                << "; left out\n";
    }
    if (r.match.missing_ids.size() > 5)
      std::cerr << "qkgeom: compare: " << r.match.missing_ids.size() << " probes are missing from some run\n";
    for (const std::string& w : r.warnings) std::cerr << "qkgeom: warning: " << w << "\n";
    if (!a->out.empty()) {
      place.finished_at = utc_now_iso8601();
      write_atomically(a->out, a->force,
                       [&](const std::string& tmp) { write_compare_h5(r, tmp, command_line(), place); });
    }
    if (a->json)
      std::cout << json_text(with_engine(compare_json(r))) << "\n";
    else
      std::cout << compare_table(r);
    return static_cast<int>(kExitOk);
  };
}

}  // namespace qk
