// Studies over result files (docs/static-geometry.md):
//   `qkgeom align --static STATIC.h5 [--anchor L] [--json]`: the seed's inter-layer operator
//     alignment, printed and stored in the file's align/ group;
//   `qkgeom correlate --static STATIC.h5 --sweep RESULTS.h5 [--bootstrap N] [--seed S] [--json]
//     [--export-legacy FILE.json]`: static descriptors against dynamic attention statistics.
#include <filesystem>
#include <iostream>
#include <memory>

#include "align_study.hpp"
#include "bo/backend.hpp"
#include "commands.hpp"
#include "engine_commands.hpp"
#include "correlate_study.hpp"
#include "h5_util.hpp"
#include "input_error.hpp"
#include "json_output.hpp"
#include "option_checks.hpp"
#include "output_path.hpp"
#include "run_record.hpp"
#include "threads_option.hpp"

namespace qk {

namespace {

// Unless `force`, InputError when `file` has an align/ group already.
void check_align_free(const std::string& file, bool force) {
  const h5::Id f = h5::open_for_read(file);
  if (!force && H5Lexists(f.get(), "align", H5P_DEFAULT) > 0)
    throw InputError(file, "has an align/ group already; pass --force to replace it");
}

// Stores `r` as the align/ group of `file` (a symlink's target), replacing the file
// atomically by a copy holding the new group.
void store_align(const std::string& file, const AlignResult& r) {
  const std::string target = std::filesystem::canonical(file).string();
  write_atomically(target, true, [&](const std::string& tmp) {
    std::filesystem::copy_file(target, tmp, std::filesystem::copy_options::overwrite_existing);
    write_align(tmp, r);
  });
}

}  // namespace

Action add_align_command(CLI::App& app) {
  struct Args {
    std::string file;
    int anchor = -1;
    int threads = 0;
    bool json = false, force = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand("align", engine_command_description("align"));
  sub->add_option("--static", a->file, "STATIC.h5 written by qkgeom weights")->required();
  sub->add_option("--anchor", a->anchor, "anchor layer (default: the last)")->check(non_negative());
  sub->add_flag("--json", a->json, "print one JSON object");
  sub->add_flag("--force", a->force, "replace the file's align/ group when it has one (atomically)");
  add_threads_option(sub, a->threads);
  return [a] {
    resolve_context("cpu", a->threads);
    check_align_free(a->file, a->force);
    const AlignResult r = align_study(a->file, a->anchor);
    store_align(a->file, r);
    if (a->json)
      std::cout << json_text(with_engine(align_json(r))) << "\n";
    else
      std::cout << align_table(r) << "stored in " << a->file << " (group align/)\n";
    return static_cast<int>(kExitOk);
  };
}

Action add_correlate_command(CLI::App& app) {
  struct Args {
    std::string static_h5, sweep_h5, legacy;
    CorrelateOptions o;
    int threads = 0;
    bool json = false, force = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand("correlate", engine_command_description("correlate"));
  sub->add_option("--static", a->static_h5, "STATIC.h5 written by qkgeom weights")->required();
  sub->add_option("--sweep", a->sweep_h5, "RESULTS.h5 of a sweep with the attention metrics")->required();
  sub->add_option("--bootstrap", a->o.bootstrap, "probe resamples for the confidence intervals")
      ->capture_default_str()
      ->check(in_range(0, 1000000));
  sub->add_option("--seed", a->o.seed, "seed of the bootstrap")
      ->capture_default_str()
      ->check(whole_number_to(UINT64_MAX));
  sub->add_option("--export-legacy", a->legacy,
                  "also write the seed's input JSON (head-geometry-vs-entropy.py) to this file");
  sub->add_flag("--json", a->json, "print one JSON object");
  sub->add_flag("--force", a->force, "replace the --export-legacy file when it exists (atomically)");
  add_threads_option(sub, a->threads);
  return [a] {
    resolve_context("cpu", a->threads);
    if (!a->legacy.empty()) {
      check_new_output(a->legacy, a->force);
      check_not_an_input(a->legacy, {a->static_h5, a->sweep_h5});
    }
    const CorrelateResult r = correlate_study(a->static_h5, a->sweep_h5, a->o);
    if (!a->legacy.empty())
      write_atomically(a->legacy, a->force,
                       [&](const std::string& tmp) { write_correlate_legacy(a->static_h5, r, tmp); });
    if (a->json)
      std::cout << json_text(with_engine(correlate_json(r))) << "\n";
    else
      std::cout << correlate_table(r);
    return static_cast<int>(kExitOk);
  };
}

}  // namespace qk
