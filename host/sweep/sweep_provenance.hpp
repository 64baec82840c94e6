#pragma once
// A sweep's provenance (root attributes of its store: the run record of host/core plus
// the sweep's own) and the resume check against it.
#include <hdf5.h>

#include <map>
#include <string>
#include <vector>

#include "results_store.hpp"
#include "run_record.hpp"
#include "sweep_runner.hpp"

namespace qk {

// Attributes fixed at creation: engine, command line, model and probe hashes, the
// options that shape the results, device and dtype, start time; with the attention
// metric and attention_softcap > 0 (the model's logit soft-cap), attention_logit_softcap.
Attrs sweep_attrs(const SweepOptions& o, const std::string& device, const std::string& gpu_name,
                  const std::string& dtype, double attention_softcap);

// The root string attributes of an HDF5 file (read-only open; the file must be closed
// cleanly or have had its crash flags cleared).
std::map<std::string, std::string> read_root_attrs(const std::string& path);

// Throws InputError naming `path` and the attribute when a resumed sweep's options or
// inputs differ from those the store was made with: the inputs and result-shaping options,
// the dtype, and unless `mixed_numerics` the device kind, GPU name and (on the CPU) the
// thread count.
void check_resume_compatible(const std::string& path, const std::map<std::string, std::string>& stored,
                             const Attrs& now, bool mixed_numerics);

}  // namespace qk
