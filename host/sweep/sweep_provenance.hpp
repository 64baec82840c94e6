#pragma once
// A sweep's provenance (root attributes of its store) and the resume check against it.
#include <hdf5.h>

#include <map>
#include <string>
#include <vector>

#include "results_store.hpp"
#include "sweep_runner.hpp"

namespace qk {

// sha256 of the model's weight index: model.safetensors.index.json when sharded, else
// the header (8-byte length and JSON) of model.safetensors. "" when neither exists.
std::string weights_index_sha256(const std::string& model_dir);

// The engine (name, version, git sha), the command line and the model (absolute path,
// sha256 of config.json and of the weight index): what every result file records.
Attrs engine_model_attrs(const std::string& command_line, const std::string& model_dir);

// Writes string attributes on an HDF5 object; StoreError naming `file` on failure.
void write_attrs(hid_t obj, const Attrs& attrs, const std::string& file);

// Attributes fixed at creation: engine, command line, model and probe hashes, the
// options that shape the results, device and dtype, start time.
Attrs sweep_attrs(const SweepOptions& o, const std::string& device, const std::string& gpu_name,
                  const std::string& dtype);

// The root string attributes of an HDF5 file (read-only open; the file must be closed
// cleanly or have had its crash flags cleared).
std::map<std::string, std::string> read_root_attrs(const std::string& path);

// Throws InputError naming `path` and the attribute when a resumed sweep's options or
// inputs differ from those the store was made with: the inputs and result-shaping options,
// the dtype, and unless `mixed_numerics` the device kind, GPU name and (on the CPU) the
// thread count.
void check_resume_compatible(const std::string& path, const std::map<std::string, std::string>& stored,
                             const Attrs& now, bool mixed_numerics);

// "2026-11-23T01:54:15Z".
std::string utc_now_iso8601();

}  // namespace qk
