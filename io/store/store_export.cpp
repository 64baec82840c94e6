#include "store_export.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
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

std::string header_field(const std::string& s) {
  return s.find_first_of(",\"\r\n") == std::string::npos ? s : quoted(s);
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
  char buf[64];
  switch (c.type) {
    case ColType::F64: {
      std::vector<double> v(total);
      h5::check_status(H5Dread(ds, mtype.get(), mspace.get(), fspace.get(), H5P_DEFAULT, v.data()), path,
                       what);
      for (double x : v)
        out.emplace_back(buf, static_cast<size_t>(std::snprintf(buf, sizeof buf, "%.17g", x)));
      break;
    }
    case ColType::F32: {
      std::vector<float> v(total);
      h5::check_status(H5Dread(ds, mtype.get(), mspace.get(), fspace.get(), H5P_DEFAULT, v.data()), path,
                       what);
      for (float x : v)
        out.emplace_back(buf,
                         static_cast<size_t>(std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(x))));
      break;
    }
    case ColType::I64: {
      std::vector<int64_t> v(total);
      h5::check_status(H5Dread(ds, mtype.get(), mspace.get(), fspace.get(), H5P_DEFAULT, v.data()), path,
                       what);
      for (int64_t x : v) out.push_back(std::to_string(x));
      break;
    }
    case ColType::I32: {
      std::vector<int32_t> v(total);
      h5::check_status(H5Dread(ds, mtype.get(), mspace.get(), fspace.get(), H5P_DEFAULT, v.data()), path,
                       what);
      for (int32_t x : v) out.push_back(std::to_string(x));
      break;
    }
    case ColType::U8: {
      std::vector<uint8_t> v(total);
      h5::check_status(H5Dread(ds, mtype.get(), mspace.get(), fspace.get(), H5P_DEFAULT, v.data()), path,
                       what);
      for (uint8_t x : v) out.push_back(std::to_string(static_cast<unsigned>(x)));
      break;
    }
    case ColType::Str:
      for (const std::string& v :
           h5::read_string_rows(ds, fspace.get(), m, path, "dataset '/" + c.path + "'"))
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

}  // namespace

void export_csv(const std::string& h5path, const std::string& dir, bool force) {
  h5::Id f = h5::open_for_read(h5path);
  const std::vector<ColumnSpec> cols = read_columns(f.get(), h5path);
  std::vector<h5::Id> ds;
  for (const auto& c : cols)
    ds.emplace_back(h5::check(H5Dopen2(f.get(), c.path.c_str(), H5P_DEFAULT), h5path,
                              "cannot open dataset '/" + c.path + "'"));
  int index_col = -1, id_col = -1;
  for (size_t i = 0; i < cols.size(); ++i) {
    if (cols[i].path == kIndexColumn) index_col = static_cast<int>(i);
    if (cols[i].path == "probe/id" && cols[i].row_shape.empty() && !cols[i].ragged)
      id_col = static_cast<int>(i);
  }
  if (index_col < 0) throw InputError(h5path, "no dataset '/probe/index': not a results store");
  const int64_t n = committed_rows(cols, ds, static_cast<size_t>(index_col), h5path);

  // Tables in order of first appearance: per group, per (row shape, dims).
  std::vector<Table> tables;
  std::set<std::string> names;
  for (size_t i = 0; i < cols.size(); ++i) {
    const ColumnSpec& c = cols[i];
    if (c.ragged) continue;
    const std::string group = column_group(c.path);
    const bool key = static_cast<int>(i) == index_col || static_cast<int>(i) == id_col;
    Table* t = nullptr;
    for (auto& x : tables)
      if (x.group == group && x.row_shape == c.row_shape && x.dims == c.dims) t = &x;
    if (!t) {
      std::string name = table_file(group, c.dims);
      if (names.count(name))
        for (uint64_t d : c.row_shape) name += "_" + std::to_string(d);
      names.insert(name);
      tables.push_back(Table{group, name, c.row_shape, c.dims, {}});
      t = &tables.back();
    }
    if (!key) t->cols.push_back(i);
    if (t->labels.empty()) t->labels = c.labels;
  }

  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw StoreError(dir, "cannot create the directory: " + ec.message());
  auto file_of = [&dir](const Table& t) { return (std::filesystem::path(dir) / (t.file + ".csv")).string(); };
  for (const Table& t : tables)
    if (!force && std::filesystem::exists(file_of(t)))
      throw InputError(file_of(t), "exists; pass --force to replace it");
  for (const Table& t : tables) {
    const std::string out_path = file_of(t);
    write_atomically(out_path, force, [&](const std::string& tmp) {
      std::ofstream out(tmp, std::ios::binary);
      if (!out) throw StoreError(out_path, "cannot be written");
      out << "index";
      if (id_col >= 0) out << ",id";
      for (const auto& d : t.dims) out << "," << header_field(d);
      if (!t.labels.empty()) out << "," << header_field(t.dims[0] + "_label");
      for (size_t ci : t.cols) {
        const std::string& p = cols[ci].path;
        out << "," << header_field(p.substr(p.rfind('/') + 1));
      }
      out << "\n";
      const uint64_t elems = row_elems(t.row_shape);
      for (int64_t start = 0; start < n; start += kBlockProbes) {
        const int64_t m = std::min(kBlockProbes, n - start);
        const auto index = read_cells(ds[static_cast<size_t>(index_col)].get(),
                                      cols[static_cast<size_t>(index_col)], start, m, h5path);
        std::vector<std::string> id;
        if (id_col >= 0)
          id = read_cells(ds[static_cast<size_t>(id_col)].get(), cols[static_cast<size_t>(id_col)], start, m,
                          h5path);
        std::vector<std::vector<std::string>> cells;
        for (size_t ci : t.cols) cells.push_back(read_cells(ds[ci].get(), cols[ci], start, m, h5path));
        std::vector<uint64_t> pos(t.row_shape.size(), 0);
        for (int64_t p = 0; p < m; ++p)
          for (uint64_t e = 0; e < elems; ++e) {
            out << index[static_cast<size_t>(p)];
            if (id_col >= 0) out << "," << id[static_cast<size_t>(p)];
            uint64_t rest = e;
            for (size_t d = t.row_shape.size(); d-- > 0;) {
              pos[d] = rest % t.row_shape[d];
              rest /= t.row_shape[d];
            }
            for (uint64_t x : pos) out << "," << x;
            if (!t.labels.empty()) out << "," << quoted(t.labels[pos[0]]);
            for (const auto& col : cells) out << "," << col[static_cast<size_t>(p) * elems + e];
            out << "\n";
          }
      }
      out.flush();
      if (!out) throw StoreError(out_path, "write failed (disk full?)");
    });
  }
}

}  // namespace qk
