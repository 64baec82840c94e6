#include "store_export.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "h5_stored.hpp"
#include "h5_util.hpp"
#include "input_error.hpp"
#include "output_path.hpp"
#include "store_error.hpp"
#include "store_schema.hpp"

namespace qk {

namespace {

constexpr int64_t kBlockProbes = 4096;  // probes read per block

struct Table {
  std::string group;
  std::string file;  // e.g. "bo_per_layer" (".csv" added)
  std::vector<uint64_t> row_shape;
  std::vector<std::string> dims;
  std::vector<size_t> cols;         // indices into the store's columns
  std::vector<std::string> labels;  // names of a 1-D row's entries (column `<dim>_label`)
};

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"') out += '"';
    out += ch;
  }
  return out + "\"";
}

// Bytes of the string that quoted() wrote as `field` (its quotes and doubled '"' not counted).
uint64_t unquoted_bytes(const std::string& field) {
  const auto quotes = static_cast<uint64_t>(std::count(field.begin(), field.end(), '"'));
  return field.size() - 2 - (quotes - 2) / 2;
}

std::string header_field(const std::string& s) {
  return s.find_first_of(",\"\r\n") == std::string::npos ? s : quoted(s);
}

// All `total` values of the selection `fspace` of dataset `ds`, read as memory type `mtype`.
template <typename T>
std::vector<T> read_values(hid_t ds, hid_t mtype, hid_t mspace, hid_t fspace, size_t total,
                           const std::string& path, const std::string& what) {
  std::vector<T> v(total);
  h5::check_status(H5Dread(ds, mtype, mspace, fspace, H5P_DEFAULT, v.data()), path, what);
  return v;
}

// A column's rows [start, start + n) as CSV fields, row-major.
std::vector<std::string> read_cells(hid_t ds, const ColumnSpec& c, int64_t start, int64_t n,
                                    const std::string& path) {
  const uint64_t elems = row_elems(c.row_shape);
  const size_t total = static_cast<size_t>(n) * elems;
  std::vector<std::string> out;
  out.reserve(total);
  if (total == 0) return out;
  h5::Id fspace(H5Dget_space(ds));
  std::vector<hsize_t> off(1 + c.row_shape.size(), 0), cnt{static_cast<hsize_t>(n)};
  off[0] = static_cast<hsize_t>(start);
  for (uint64_t d : c.row_shape) cnt.push_back(d);
  H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, off.data(), nullptr, cnt.data(), nullptr);
  const hsize_t m = total;
  h5::Id mspace(H5Screate_simple(1, &m, nullptr));
  h5::Id mtype(h5::memory_type(c.type));
  const std::string what = "cannot read dataset '/" + c.path + "'";
  const hid_t mt = mtype.get(), ms = mspace.get(), fs = fspace.get();
  char buf[64];
  switch (c.type) {
    case ColType::F64:
      for (double x : read_values<double>(ds, mt, ms, fs, total, path, what))
        out.emplace_back(buf, static_cast<size_t>(std::snprintf(buf, sizeof buf, "%.17g", x)));
      break;
    case ColType::F32:
      for (float x : read_values<float>(ds, mt, ms, fs, total, path, what))
        out.emplace_back(buf,
                         static_cast<size_t>(std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(x))));
      break;
    case ColType::F16:
    case ColType::BF16: {  // read converted to f32 by HDF5 (exact: f32 holds every value)
      h5::Id f32(H5Tcopy(H5T_NATIVE_FLOAT));
      for (float x : read_values<float>(ds, f32.get(), ms, fs, total, path, what))
        out.emplace_back(buf,
                         static_cast<size_t>(std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(x))));
      break;
    }
    case ColType::I64:
      for (int64_t x : read_values<int64_t>(ds, mt, ms, fs, total, path, what))
        out.push_back(std::to_string(x));
      break;
    case ColType::I32:
      for (int32_t x : read_values<int32_t>(ds, mt, ms, fs, total, path, what))
        out.push_back(std::to_string(x));
      break;
    case ColType::U8:
      for (uint8_t x : read_values<uint8_t>(ds, mt, ms, fs, total, path, what))
        out.push_back(std::to_string(static_cast<unsigned>(x)));
      break;
    case ColType::Str:
      for (const std::string& v : h5::read_string_rows(ds, fs, m, path, "dataset '/" + c.path + "'"))
        out.push_back(quoted(v));
      break;
  }
  return out;
}

std::string table_file(const std::string& group, const std::vector<std::string>& dims) {
  std::string name = group;
  for (char& ch : name)
    if (ch == '/') ch = '_';
  if (!dims.empty()) {
    name += "_per";
    for (const auto& d : dims) name += "_" + d;
  }
  return name;
}

// The committed probes of a store: the rows of its index column `ds[index_col]`;
// InputError when the file does not store them all, or a per-probe column is shorter.
int64_t committed_rows(const std::vector<ColumnSpec>& cols, const std::vector<h5::Id>& ds, size_t index_col,
                       const std::string& h5path) {
  const hid_t index = ds[index_col].get();
  const std::vector<hsize_t> dims = h5::dataset_dims(index, h5path, kIndexColumn);
  if (dims.size() != 1) throw InputError(h5path, "dataset '/probe/index' is not one row per probe");
  h5::require_stored(index, dims, sizeof(int64_t), sizeof(int64_t), "i64",
                     h5path + ": dataset '/probe/index'");
  for (size_t i = 0; i < cols.size(); ++i)
    if (!cols[i].ragged) h5::require_rows(ds[i].get(), dims[0], h5path, cols[i].path);
  return static_cast<int64_t>(dims[0]);
}

// A store's columns with their open datasets, the key columns and the committed row count.
struct StoreColumns {
  std::vector<ColumnSpec> cols;
  std::vector<h5::Id> ds;  // one open dataset per column
  int index_col = -1;      // the probe/index column
  int id_col = -1;         // the scalar probe/id column, -1 when absent
  int64_t n = 0;           // committed probes
};

// Opens every column dataset of the store `f` and finds its key columns; InputError when
// the file is not a results store.
StoreColumns open_columns(hid_t f, const std::string& h5path) {
  StoreColumns s;
  s.cols = read_columns(f, h5path);
  for (const auto& c : s.cols)
    s.ds.emplace_back(
        h5::check(H5Dopen2(f, c.path.c_str(), H5P_DEFAULT), h5path, "cannot open dataset '/" + c.path + "'"));
  for (size_t i = 0; i < s.cols.size(); ++i) {
    if (s.cols[i].path == kIndexColumn) s.index_col = static_cast<int>(i);
    if (s.cols[i].path == "probe/id" && s.cols[i].row_shape.empty() && !s.cols[i].ragged)
      s.id_col = static_cast<int>(i);
  }
  if (s.index_col < 0) throw InputError(h5path, "no dataset '/probe/index': not a results store");
  s.n = committed_rows(s.cols, s.ds, static_cast<size_t>(s.index_col), h5path);
  return s;
}

// A row's axis names: `dims`, one renamed to <name>_<size> when `sizes` (name -> size,
// updated) already has it with another size. qkgeom.open's rule (python/qkgeom/reader.py,
// unique_dims), so CSV and xarray name an axis alike: bo/features7's `feature` is `feature_7`.
std::vector<std::string> unique_dims(const std::vector<std::string>& dims, const std::vector<uint64_t>& shape,
                                     std::map<std::string, uint64_t>& sizes) {
  std::vector<std::string> out;
  for (size_t i = 0; i < dims.size() && i < shape.size(); ++i) {
    std::string d = dims[i];
    if (sizes.emplace(d, shape[i]).first->second != shape[i]) {
      d += "_" + std::to_string(shape[i]);
      sizes.emplace(d, shape[i]);
    }
    out.push_back(d);
  }
  return out;
}

// The CSV tables in order of first appearance: per group, per (row shape, axis names); the
// key columns (index, id) are written in every table, not as value columns.
std::vector<Table> plan_tables(const StoreColumns& s) {
  std::vector<Table> tables;
  std::set<std::string> names;
  std::map<std::string, uint64_t> sizes;
  for (size_t i = 0; i < s.cols.size(); ++i) {
    const ColumnSpec& c = s.cols[i];
    if (c.ragged) continue;
    const std::string group = column_group(c.path);
    const bool key = static_cast<int>(i) == s.index_col || static_cast<int>(i) == s.id_col;
    const std::vector<std::string> dims = unique_dims(c.dims, c.row_shape, sizes);
    Table* t = nullptr;
    for (auto& x : tables)
      if (x.group == group && x.row_shape == c.row_shape && x.dims == dims) t = &x;
    if (!t) {
      std::string name = table_file(group, dims);
      if (names.count(name))
        for (uint64_t d : c.row_shape) name += "_" + std::to_string(d);
      names.insert(name);
      tables.push_back(Table{group, name, c.row_shape, dims, {}});
      t = &tables.back();
    }
    if (!key) t->cols.push_back(i);
    if (t->labels.empty()) t->labels = c.labels;
  }
  return tables;
}

// The output file of table `t` in directory `dir`.
std::string table_path(const std::string& dir, const Table& t) {
  return (std::filesystem::path(dir) / (t.file + ".csv")).string();
}

// Creates `dir`; StoreError when it cannot, InputError when a table file exists without `force`.
void prepare_dir(const std::string& dir, const std::vector<Table>& tables, bool force) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw StoreError(dir, "cannot create the directory: " + ec.message());
  for (const Table& t : tables)
    if (!force && std::filesystem::exists(table_path(dir, t)))
      throw InputError(table_path(dir, t), "exists; pass --force to replace it");
}

// Whether table `t` has the id column: the store has ids, and `id_once` keeps them to probe.csv.
bool has_id(const Table& t, const StoreColumns& s, bool id_once) {
  return s.id_col >= 0 && (!id_once || t.file == "probe");
}

// The header line of table `t`: index[,id], the dims, [<last dim>_label], the value column names.
void write_header(std::ostream& out, const Table& t, const StoreColumns& s, bool with_id) {
  out << "index";
  if (with_id) out << ",id";
  for (const auto& d : t.dims) out << "," << header_field(d);
  if (!t.labels.empty()) out << "," << header_field(t.dims.back() + "_label");
  for (size_t ci : t.cols) {
    const std::string& p = s.cols[ci].path;
    out << "," << header_field(p.substr(p.rfind('/') + 1));
  }
  out << "\n";
}

// The lines of table `t` for probes [start, start + m): one line per probe per row element;
// with `ids` (not null) the id column, its longest id (bytes) and lines counted there.
void write_block(std::ostream& out, const Table& t, const StoreColumns& s, int64_t start, int64_t m,
                 const std::string& h5path, CsvIds* ids) {
  const uint64_t elems = row_elems(t.row_shape);
  const auto index = read_cells(s.ds[static_cast<size_t>(s.index_col)].get(),
                                s.cols[static_cast<size_t>(s.index_col)], start, m, h5path);
  std::vector<std::string> id;
  if (ids) {
    id = read_cells(s.ds[static_cast<size_t>(s.id_col)].get(), s.cols[static_cast<size_t>(s.id_col)], start,
                    m, h5path);
    for (const std::string& x : id) ids->longest_bytes = std::max(ids->longest_bytes, unquoted_bytes(x));
    ids->repeated_lines += static_cast<uint64_t>(m) * elems;
  }
  std::vector<std::vector<std::string>> cells;
  for (size_t ci : t.cols) cells.push_back(read_cells(s.ds[ci].get(), s.cols[ci], start, m, h5path));
  std::vector<uint64_t> pos(t.row_shape.size(), 0);
  for (int64_t p = 0; p < m; ++p)
    for (uint64_t e = 0; e < elems; ++e) {
      out << index[static_cast<size_t>(p)];
      if (ids) out << "," << id[static_cast<size_t>(p)];
      uint64_t rest = e;
      for (size_t d = t.row_shape.size(); d-- > 0;) {
        pos[d] = rest % t.row_shape[d];
        rest /= t.row_shape[d];
      }
      for (uint64_t x : pos) out << "," << x;
      if (!t.labels.empty()) out << "," << quoted(t.labels[pos.back()]);
      for (const auto& col : cells) out << "," << col[static_cast<size_t>(p) * elems + e];
      out << "\n";
    }
}

// Writes table `t` (all committed probes, in blocks) to `out_path`, replacing it atomically;
// `ids` as write_block's.
void write_table(const std::string& out_path, const Table& t, const StoreColumns& s, bool force,
                 const std::string& h5path, CsvIds* ids) {
  write_atomically(out_path, force, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    if (!out) throw StoreError(out_path, "cannot be written");
    write_header(out, t, s, ids != nullptr);
    for (int64_t start = 0; start < s.n; start += kBlockProbes)
      write_block(out, t, s, start, std::min(kBlockProbes, s.n - start), h5path, ids);
    out.flush();
    if (!out) throw StoreError(out_path, "write failed (disk full?)");
  });
}

}  // namespace

CsvIds export_csv(const std::string& h5path, const std::string& dir, bool force, bool id_once) {
  h5::Id f = h5::open_for_read(h5path);
  const StoreColumns s = open_columns(f.get(), h5path);
  const std::vector<Table> tables = plan_tables(s);
  prepare_dir(dir, tables, force);
  CsvIds ids, in_probe;
  for (const Table& t : tables) {
    CsvIds* counted = !has_id(t, s, id_once) ? nullptr : t.file == "probe" ? &in_probe : &ids;
    write_table(table_path(dir, t), t, s, force, h5path, counted);
  }
  ids.longest_bytes = std::max(ids.longest_bytes, in_probe.longest_bytes);
  return ids;
}

}  // namespace qk
