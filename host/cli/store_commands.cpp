// Results-store utilities (docs/cli.md):
//   `qkgeom merge OUT.h5 SHARD.h5... [--force] [--allow-version-mix] [--json]`: one store from
//     a sweep's shards, ordered by probe index, after checking they belong to one run;
//   `qkgeom export RESULTS.h5 --csv DIR [--force] [--id-once]`: one CSV per table;
//   `qkgeom recover RESULTS.h5`: clear the flags a killed sweep leaves, so any reader opens it.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "h5_util.hpp"
#include "json_output.hpp"
#include "quantity_check.hpp"
#include "results_store.hpp"
#include "run_record.hpp"
#include "store_export.hpp"
#include "store_merge.hpp"
#include "store_schema.hpp"

namespace qk {

namespace {

// Ascending shard indices as text, runs of three or more as ranges: "0-499, 501, 503".
std::string index_list(const std::vector<int>& v) {
  std::string s;
  for (size_t i = 0, j = 0; i < v.size(); i = j) {
    for (j = i + 1; j < v.size() && v[j] == v[j - 1] + 1;) ++j;
    s += (i ? ", " : "") + std::to_string(v[i]);
    if (j - i >= 3)
      s += "-" + std::to_string(v[j - 1]);
    else if (j - i == 2)
      s += ", " + std::to_string(v[j - 1]);
  }
  return s;
}

void print_merge(const MergeSummary& m, const std::string& out, bool json) {
  if (json) {
    std::cout << json_text({{"out", out},
                            {"status", m.status},
                            {"probes", m.probes},
                            {"shard_count", m.shard_count},
                            {"shards_merged", m.merged},
                            {"shards_missing", m.missing},
                            {"shards_incomplete", m.incomplete},
                            {"engine", engine_json()}})
              << "\n";
    return;
  }
  std::cout << "merged " << m.merged.size() << " of " << m.shard_count << " shard(s), " << m.probes
            << " probes -> " << out << " (" << m.status << ")\n";
  if (!m.missing.empty()) std::cout << "  missing shard(s): " << index_list(m.missing) << "\n";
  if (!m.incomplete.empty())
    std::cout << "  shard(s) whose run did not complete: " << index_list(m.incomplete) << "\n";
}

// A note on stderr when `path` holds a sweep that has not completed (still running,
// interrupted, stopped, a partial merge): its CSV files hold only the committed probes.
void note_incomplete(const std::string& path) {
  bool found = false;
  const std::string status = h5::read_string_attr(h5::open_for_read(path).get(), "status", &found);
  if (found && status != "complete")
    std::cerr << "qkgeom: note: " << path << " holds a sweep that is not complete (status '" << status
              << "'): the CSV files hold its " << committed_rows(path) << " committed probes\n";
}

// A note on stderr when ids longer than kLongIdBytes were repeated on the lines of the tables
// other than probe.csv (tidy long format: each line carries its key), naming --id-once.
void note_long_ids(const CsvIds& ids) {
  constexpr uint64_t kLongIdBytes = 1024;
  if (ids.repeated_lines == 0 || ids.longest_bytes <= kLongIdBytes) return;
  std::cerr << "qkgeom: note: probe ids of up to " << ids.longest_bytes << " bytes are repeated on "
            << ids.repeated_lines << " lines of the tables other than probe.csv; --id-once writes them in "
            << "probe.csv only (join the tables on index)\n";
}

}  // namespace

Action add_merge_command(CLI::App& app) {
  struct Args {
    std::string out;
    std::vector<std::string> shards;
    MergeOptions o;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand("merge", "join sweep shards into one store, in probe-index order");
  sub->add_option("out", a->out, "merged HDF5 file to write")->required();
  sub->add_option("shards", a->shards, "shard files (from --shard i/N runs, or earlier merges)")
      ->required()
      ->expected(1, -1);
  sub->add_flag("--force", a->o.force, "replace OUT when it exists (atomically; never an input)");
  sub->add_flag("--allow-version-mix", a->o.allow_version_mix,
                "accept shards of different engine versions or git shas (each is recorded)");
  sub->add_flag("--json", a->json, "print the summary as one JSON object");
  return [a] {
    for (const auto& s : a->shards) check_known_columns(read_store_columns(s), s);
    print_merge(merge_stores(a->out, a->shards, a->o), a->out, a->json);
    return static_cast<int>(kExitOk);
  };
}

Action add_export_command(CLI::App& app) {
  auto in = std::make_shared<std::string>();
  auto dir = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand("export", "write a results store's tables as CSV files");
  sub->add_option("results", *in, "results HDF5 file")->required();
  sub->add_option("--csv", *dir, "directory for the CSV files (created if missing)")->required();
  auto force = std::make_shared<bool>(false), id_once = std::make_shared<bool>(false);
  sub->add_flag("--force", *force, "replace CSV files that exist (each atomically)");
  sub->add_flag("--id-once", *id_once, "write the probe id in probe.csv only; the other tables keep index");
  return [in, dir, force, id_once] {
    check_known_columns(read_store_columns(*in), *in);
    note_long_ids(export_csv(*in, *dir, *force, *id_once));
    note_incomplete(*in);
    std::cout << "exported " << *in << " -> " << *dir << "\n";
    return static_cast<int>(kExitOk);
  };
}

Action add_recover_command(CLI::App& app) {
  auto in = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand(
      "recover", "clear the open-for-write flags a killed sweep leaves (keeps every committed probe)");
  sub->add_option("results", *in, "results HDF5 file")->required();
  return [in] {
    clear_crash_flags(*in);
    std::cout << *in << ": " << committed_rows(*in) << " committed probes; readable by any HDF5 reader\n";
    return static_cast<int>(kExitOk);
  };
}

}  // namespace qk
