// Results-store utilities (docs/cli.md):
//   `qkgeom merge OUT.h5 SHARD.h5...`: one store from a sweep's shards, ordered by probe index;
//   `qkgeom export RESULTS.h5 --csv DIR`: one CSV per table;
//   `qkgeom recover RESULTS.h5`: clear the flags a killed sweep leaves, so any reader opens it.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "results_store.hpp"
#include "store_export.hpp"
#include "store_merge.hpp"

namespace qk {

Action add_merge_command(CLI::App& app) {
  auto out = std::make_shared<std::string>();
  auto shards = std::make_shared<std::vector<std::string>>();
  CLI::App* sub = app.add_subcommand("merge", "join sweep shards into one store, in probe-index order");
  sub->add_option("out", *out, "merged HDF5 file to write")->required();
  sub->add_option("shards", *shards, "shard files (from --shard i/N runs)")->required()->expected(1, -1);
  return [out, shards] {
    merge_stores(*out, *shards);
    std::cout << "merged " << shards->size() << " shard(s), " << committed_rows(*out) << " probes -> "
              << *out << "\n";
    return static_cast<int>(kExitOk);
  };
}

Action add_export_command(CLI::App& app) {
  auto in = std::make_shared<std::string>();
  auto dir = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand("export", "write a results store's tables as CSV files");
  sub->add_option("results", *in, "results HDF5 file")->required();
  sub->add_option("--csv", *dir, "directory for the CSV files (created if missing)")->required();
  return [in, dir] {
    export_csv(*in, *dir);
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
