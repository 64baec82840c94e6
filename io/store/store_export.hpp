#pragma once
// CSV export of a results store (docs/hdf5-schema.md, "CSV export").
#include <cstdint>
#include <string>

namespace qk {

// What export_csv wrote of the probe ids: the longest id (UTF-8 bytes, as stored, not its
// quoted CSV field) and the lines outside probe.csv that repeat an id.
struct CsvIds {
  uint64_t longest_bytes = 0;
  uint64_t repeated_lines = 0;
};

// Writes one CSV per table into `dir` (created if missing): for each group and each
// distinct row shape of its per-probe columns, `<group>.csv` (scalars: index,id,cols...)
// or `<group>_per_<dim1>[_<dim2>...].csv` (long format: index,id,dim1,...,cols...); with
// `id_once` the id is written in probe.csv only (the other tables keep `index`).
// Ragged columns and the store's own offset/count columns are not exported. Committed
// rows only; f64 as %.17g, f32 as %.9g, strings always quoted (RFC 4180). Each file is
// written to a temporary file and renamed onto its name; without `force`, InputError
// before any writing when one of them exists.
CsvIds export_csv(const std::string& h5, const std::string& dir, bool force = false, bool id_once = false);

}  // namespace qk
