#include "store_schema.hpp"

#include <algorithm>
#include <set>

#include "h5_text.hpp"
#include "h5_util.hpp"
#include "input_error.hpp"

namespace qk {

const char* col_type_name(ColType t) {
  switch (t) {
    case ColType::F64:
      return "f64";
    case ColType::F32:
      return "f32";
    case ColType::I64:
      return "i64";
    case ColType::I32:
      return "i32";
    case ColType::U8:
      return "u8";
    case ColType::Str:
      return "str";
    case ColType::F16:
      return "f16";
    case ColType::BF16:
      return "bf16";
  }
  return "?";
}

size_t col_type_size(ColType t) {
  switch (t) {
    case ColType::F64:
    case ColType::I64:
      return 8;
    case ColType::F32:
    case ColType::I32:
      return 4;
    case ColType::U8:
      return 1;
    case ColType::F16:
    case ColType::BF16:
      return 2;
    case ColType::Str:
      return sizeof(char*);
  }
  return 0;
}

std::string column_group(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

uint64_t row_elems(const std::vector<uint64_t>& row_shape) {
  uint64_t n = 1;
  for (uint64_t d : row_shape) n *= d;
  return n;
}

namespace {

bool valid_path(const std::string& p) {
  if (p.empty() || p.front() == '/' || p.back() == '/' || p.find('/') == std::string::npos ||
      p.find("//") != std::string::npos)
    return false;
  return true;
}

std::string shape_text(const std::vector<uint64_t>& s) {
  std::string out = "{";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "}";
}

std::string dims_text(const std::vector<std::string>& d) {
  std::string out = "{";
  for (size_t i = 0; i < d.size(); ++i) out += (i ? ", " : "") + d[i];
  return out + "}";
}

}  // namespace

std::vector<ColumnSpec> normalized_columns(const std::vector<ColumnSpec>& cols, const std::string& file) {
  std::vector<ColumnSpec> out = cols;
  std::set<std::string> seen;
  bool have_index = false;
  for (ColumnSpec& c : out) {
    const std::string where = "column '" + c.path + "'";
    if (!valid_path(c.path))
      throw InputError(file, where + ": a column path is \"group/name\" (no leading '/')");
    if (!seen.insert(c.path).second) throw InputError(file, where + " is given twice");
    if (c.type == ColType::Str && !c.row_shape.empty())
      throw InputError(file, where + ": a text column holds one value per row (no row axes)");
    if (c.dims.empty())
      for (size_t i = 0; i < c.row_shape.size(); ++i) c.dims.push_back("dim" + std::to_string(i));
    if (c.dims.size() != c.row_shape.size())
      throw InputError(file, where + ": " + std::to_string(c.dims.size()) +
                                 " dims names for a row_shape of rank " + std::to_string(c.row_shape.size()));
    std::set<std::string> dn;
    for (const auto& d : c.dims)
      if (d.empty() || !dn.insert(d).second)
        throw InputError(file, where + ": dims names must be distinct and non-empty");
    if (!c.labels.empty() && (c.row_shape.empty() || c.row_shape.back() != c.labels.size()))
      throw InputError(file, where + ": " + std::to_string(c.labels.size()) +
                                 " labels for a row whose last axis is not of that size");
    if (c.ragged && column_group(c.path) == kKeyGroup)
      throw InputError(file, where + ": ragged columns cannot be in group 'probe'");
    if (c.path == kIndexColumn) {
      if (c.type != ColType::I64 || !c.row_shape.empty() || c.ragged)
        throw InputError(file, where + " must be a scalar, per-probe i64 column");
      have_index = true;
    }
  }
  if (!have_index) throw InputError(file, std::string("no column '") + kIndexColumn + "' (i64)");
  for (const auto& g : ragged_groups(out))
    for (const auto& name : {g + "/offset", g + "/count"})
      if (seen.count(name))
        throw InputError(
            file, "column '" + name + "' is kept by the store itself for the ragged group '" + g + "'");
  return out;
}

std::vector<std::string> ragged_groups(const std::vector<ColumnSpec>& cols) {
  std::vector<std::string> out;
  for (const auto& c : cols) {
    if (!c.ragged) continue;
    const std::string g = column_group(c.path);
    bool have = false;
    for (const auto& o : out) have = have || o == g;
    if (!have) out.push_back(g);
  }
  return out;
}

namespace {

// The store's i64 column group/<name> of a ragged group; `what` (e.g. "first row") says what it
// holds for each probe.
ColumnSpec ragged_index_column(const std::string& group, const char* name, const char* what) {
  ColumnSpec c;
  c.path = group + "/" + name;
  c.type = ColType::I64;
  c.units = "rows";
  c.description = std::string(what) + " of this probe in the ragged (per-token) datasets of '" + group + "'";
  return c;
}

}  // namespace

ColumnSpec offset_column(const std::string& group) {
  return ragged_index_column(group, "offset", "first row");
}

ColumnSpec count_column(const std::string& group) {
  return ragged_index_column(group, "count", "number of rows");
}

std::vector<ColumnSpec> read_columns(hid_t file, const std::string& path) {
  bool found = false;
  const std::vector<std::string> names = h5::read_strings_attr(file, "columns", &found);
  if (!found) throw InputError(path, "not a qkgeom results store (no root attribute 'columns')");
  std::vector<ColumnSpec> out;
  for (const auto& name : names) {
    const std::string where = "dataset '/" + name + "'";
    if (H5Lexists(file, name.c_str(), H5P_DEFAULT) <= 0 ||
        H5Oexists_by_name(file, name.c_str(), H5P_DEFAULT) <= 0)
      throw InputError(path, where + " (listed in 'columns') is missing");
    h5::Id ds(H5Dopen2(file, name.c_str(), H5P_DEFAULT));
    if (!ds.ok()) throw InputError(path, where + " cannot be opened");
    ColumnSpec c;
    c.path = name;
    h5::Id type(H5Dget_type(ds.get()));
    if (!type.ok() || !h5::col_type_of(type.get(), &c.type))
      throw InputError(path, where + " has an element type the store does not use");
    if (h5::is_text_column(ds.get())) c.type = ColType::Str;  // its rows: i64 end offsets
    const std::vector<hsize_t> dims = h5::dataset_dims(ds.get(), path, name);
    if (dims.empty()) throw InputError(path, where + " is a scalar, expected rows");
    c.row_shape.assign(dims.begin() + 1, dims.end());
    c.ragged = h5::read_int_attr(ds.get(), "ragged") != 0;
    c.units = h5::read_string_attr(ds.get(), "units");
    c.description = h5::read_string_attr(ds.get(), "description");
    c.dims = h5::read_strings_attr(ds.get(), "dims");
    c.labels = h5::read_strings_attr(ds.get(), "labels");  // none before 2026-11-30
    if (!c.labels.empty() && (c.row_shape.empty() || c.row_shape.back() != c.labels.size()))
      throw InputError(path, where + " has " + std::to_string(c.labels.size()) +
                                 " labels for rows of shape " + shape_text(c.row_shape));
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<ColumnSpec> read_store_columns(const std::string& path) {
  h5::Id f = h5::open_for_read(path);
  return read_columns(f.get(), path);
}

void check_same_columns(const std::vector<ColumnSpec>& have, const std::vector<ColumnSpec>& want,
                        const std::string& where) {
  for (const auto& w : want) {
    const ColumnSpec* h = nullptr;
    for (const auto& c : have)
      if (c.path == w.path) h = &c;
    const std::string ds = "dataset '/" + w.path + "'";
    if (!h) throw InputError(where, ds + " is missing (the columns differ)");
    if (h->type != w.type)
      throw InputError(where,
                       ds + " holds " + col_type_name(h->type) + ", expected " + col_type_name(w.type));
    if (h->row_shape != w.row_shape)
      throw InputError(
          where, ds + " has row shape " + shape_text(h->row_shape) + ", expected " + shape_text(w.row_shape));
    if (h->ragged != w.ragged)
      throw InputError(where, ds + (h->ragged ? " is ragged" : " is per-probe") + ", expected " +
                                  (w.ragged ? "ragged" : "per-probe"));
    if (h->dims != w.dims)
      throw InputError(where, ds + " has dims " + dims_text(h->dims) + ", expected " + dims_text(w.dims));
  }
  for (const auto& h : have) {
    bool wanted = false;
    for (const auto& w : want) wanted = wanted || w.path == h.path;
    if (!wanted)
      throw InputError(where, "dataset '/" + h.path + "' is in the file but not among the columns");
  }
}

}  // namespace qk
