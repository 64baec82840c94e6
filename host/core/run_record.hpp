#pragma once
// The run record: which engine computed an output file, from which model, where and when.
// Every result file (sweep store, STATIC.h5, simplex, headdim) and every JSON output
// carries it. The device and thread facts come from the command (core links no libtorch).
#include <hdf5.h>

#include <string>

#include <nlohmann/json.hpp>

#include "results_store.hpp"

namespace qk {

// Where and when a run computed: filled by the command that ran it.
struct RunPlace {
  std::string device = "cpu";           // "cpu", "cuda:N"
  std::string gpu_name;                 // "" on the CPU
  int threads = 0;                      // CPU threads the run computed with
  std::string started_at, finished_at;  // utc_now_iso8601()
};

// "2026-11-23T01:54:15Z".
std::string utc_now_iso8601();

// sha256 of the model's weight index: model.safetensors.index.json when sharded, else
// the header (8-byte length and JSON) of model.safetensors. "" when neither exists.
std::string weights_index_sha256(const std::string& model_dir);

// The engine (name, version, git sha), the command line and the model (absolute path,
// sha256 of config.json and of the weight index). No model attributes when `model_dir`
// is empty.
Attrs engine_model_attrs(const std::string& command_line, const std::string& model_dir);

// Writes string attributes on an HDF5 object; StoreError naming `file` on failure.
void write_attrs(hid_t obj, const Attrs& attrs, const std::string& file);

// The root attributes of a result file written once (STATIC.h5, simplex, headdim):
// engine_model_attrs, `hostname`, `device`, `gpu_name`, `cpu_threads` (decimal string,
// as in a sweep store), `started_at` and `finished_at` (fixed-length, 64 bytes, as the
// sweep store's end-of-run attribute of that name). docs/hdf5-schema.md, "Run record".
void write_run_record(hid_t root, const std::string& command_line, const std::string& model_dir,
                      const RunPlace& place, const std::string& file);

// The machine's host name.
std::string host_name();

// The `engine` block of every JSON output: name ("qkgeom"), version, sha, and the device
// and CPU threads of this run (engine_settings, exec_context.hpp; "cpu" and 0 for a
// command that computes nothing).
nlohmann::json engine_json();

// `j` with the `engine` block added.
nlohmann::json with_engine(nlohmann::json j);

}  // namespace qk
