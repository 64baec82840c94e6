#pragma once
// The registry of stored quantities: every column a sweep stores, with its row axes,
// unit, element type and description, and where each output puts it (HDF5 dataset,
// score's JSON field, CSV table and column). The sweep's column specs
// (host/sweep/sweep_schema.cpp), score's JSON field names and the table in
// docs/hdf5-schema.md come from here (tests/reference/test_quantities_doc.py).
//
// Naming: one name per quantity, its HDF5 path "group/name"; the CSV column is `name`
// in a table of `group`, score's JSON field is `name` (group bo, top level) or
// `attention.name`. Units live in the unit field, never in names.
#include <string>
#include <vector>

#include "column_spec.hpp"

namespace qk {

// A row axis: its name (the dataset's `dims` entry) and its size, a symbol of the
// sweep's layout (L, L-1, Hq, Hkv, A, d) or a number.
struct QuantityAxis {
  std::string name, size;
};

// Which sweeps store a quantity.
enum class QuantityWhen { Always, Bo, Attention, KvK, KvQkv, Store };  // Store: kept by the store itself

struct Quantity {
  std::string path;  // HDF5 dataset "group/name"
  ColType type = ColType::F64;
  std::vector<QuantityAxis> axes;  // row axes (after the probe or token axis)
  bool ragged = false;             // one row per token
  std::string units, description;
  QuantityWhen when = QuantityWhen::Always;
  std::string json;                 // field of `score --json` ("" when score prints none)
  std::vector<std::string> labels;  // names of the entries of the last row axis (attribute "labels")
};

// Every stored quantity, in the sweep's column order.
const std::vector<Quantity>& quantities();

// The quantity stored at `path`; std::logic_error when none is.
const Quantity& quantity(const std::string& path);

// The part of a quantity's path after the group: its CSV column and JSON name.
std::string quantity_name(const Quantity& q);

// The CSV table a quantity goes to (io/store/store_export.cpp's rule: `<group>.csv` for
// one value per probe, `<group>_per_<dims>.csv` else; "" for ragged ones, not exported).
std::string quantity_csv_table(const Quantity& q);

// The registry as the markdown table of docs/hdf5-schema.md, "Sweep columns".
std::string quantities_markdown();

}  // namespace qk
