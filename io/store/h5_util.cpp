#include "h5_util.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "h5_text.hpp"
#include "input_error.hpp"
#include "store_error.hpp"

namespace qk::h5 {

void Id::reset() {
  if (id_ < 0) return;
  switch (H5Iget_type(id_)) {
    case H5I_FILE:
      H5Fclose(id_);
      break;
    case H5I_GROUP:
      H5Gclose(id_);
      break;
    case H5I_DATATYPE:
      H5Tclose(id_);
      break;
    case H5I_DATASPACE:
      H5Sclose(id_);
      break;
    case H5I_DATASET:
      H5Dclose(id_);
      break;
    case H5I_ATTR:
      H5Aclose(id_);
      break;
    case H5I_GENPROP_LST:
      H5Pclose(id_);
      break;
    default:
      break;
  }
  id_ = -1;
}

void quiet() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

namespace {

struct ErrorWalk {
  std::string innermost, with_errno;
  bool corrupt = false;
};

// Whether an HDF5 error description says the file's bytes are damaged (a checksum,
// signature or decompression failure, an address past the end of the file).
bool says_corrupt(const std::string& desc) {
  for (const char* k : {"checksum", "signature", "truncated", "inflate", "filter returned failure",
                        "addr overflow", "address overflow", "bad version", "past the end"})
    if (desc.find(k) != std::string::npos) return true;
  return false;
}

herr_t walk_error(unsigned n, const H5E_error2_t* e, void* data) {
  auto* w = static_cast<ErrorWalk*>(data);
  const std::string desc = e->desc ? e->desc : "";
  if (n == 0) w->innermost = desc;
  if (w->with_errno.empty() && desc.find("errno") != std::string::npos) w->with_errno = desc;
  w->corrupt = w->corrupt || says_corrupt(desc);
  return 0;
}

}  // namespace

namespace {

ErrorWalk walk_errors() {
  ErrorWalk w;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_error, &w);
  return w;
}

}  // namespace

std::string last_error() {
  const ErrorWalk w = walk_errors();
  std::string out = w.with_errno.empty() ? w.innermost : w.with_errno;
  for (char& ch : out)
    if (ch == '\n' || ch == '\r') ch = ' ';
  return out;
}

bool last_error_is_corruption() { return walk_errors().corrupt; }

void fail(const std::string& file, const std::string& what) {
  const std::string why = last_error();
  if (last_error_is_corruption())
    throw InputError(file, "corrupt or truncated HDF5: " + what + " (HDF5: " + why + ")");
  throw StoreError(file, why.empty() ? what : what + " (HDF5: " + why + ")");
}

void fail_open(const std::string& file, const std::string& what) {
  if (last_error().find("lock") != std::string::npos)
    throw StoreError(file,
                     "is open in another process (a reader or a writer holds HDF5's lock "
                     "on it); close it and try again (docs/hdf5-schema.md, file locks)");
  fail(file, what);
}

hid_t check(hid_t id, const std::string& file, const std::string& what) {
  if (id < 0) fail(file, what);
  return id;
}

void check_status(herr_t status, const std::string& file, const std::string& what) {
  if (status < 0) fail(file, what);
}

void require_no_nul(const std::string& s, const std::string& file, const std::string& what) {
  const size_t at = s.find('\0');
  if (at != std::string::npos)
    throw InputError(file, what + " holds U+0000 (NUL) at byte " + std::to_string(at) +
                               ": HDF5 strings end at a NUL, so it cannot be stored");
}

namespace {

hid_t utf8_string_type() {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
}

}  // namespace

namespace {

// A 16-bit float HDF5 type: IEEE half (5 exponent bits) or bfloat16 (8), little-endian;
// h5py reads the first as float16, the second converted to float32.
hid_t float16_type(bool bf16) {
  hid_t t = H5Tcopy(H5T_IEEE_F32LE);
  const size_t ebits = bf16 ? 8 : 5, mbits = 15 - ebits;
  H5Tset_fields(t, 15, mbits, ebits, 0, mbits);
  H5Tset_size(t, 2);
  H5Tset_ebias(t, bf16 ? 127 : 15);
  return t;
}

}  // namespace

hid_t file_type(ColType t) {
  switch (t) {
    case ColType::F16:
    case ColType::BF16:
      return float16_type(t == ColType::BF16);
    case ColType::F64:
      return H5Tcopy(H5T_IEEE_F64LE);
    case ColType::F32:
      return H5Tcopy(H5T_IEEE_F32LE);
    case ColType::I64:
      return H5Tcopy(H5T_STD_I64LE);
    case ColType::I32:
      return H5Tcopy(H5T_STD_I32LE);
    case ColType::U8:
      return H5Tcopy(H5T_STD_U8LE);
    case ColType::Str:
      return utf8_string_type();
  }
  return -1;
}

hid_t memory_type(ColType t) {
  switch (t) {
    case ColType::F16:
    case ColType::BF16:
      return float16_type(t == ColType::BF16);  // the bits as they are stored
    case ColType::F64:
      return H5Tcopy(H5T_NATIVE_DOUBLE);
    case ColType::F32:
      return H5Tcopy(H5T_NATIVE_FLOAT);
    case ColType::I64:
      return H5Tcopy(H5T_NATIVE_INT64);
    case ColType::I32:
      return H5Tcopy(H5T_NATIVE_INT32);
    case ColType::U8:
      return H5Tcopy(H5T_NATIVE_UINT8);
    case ColType::Str:
      return utf8_string_type();
  }
  return -1;
}

hid_t fixed_string_type(uint64_t bytes) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, static_cast<size_t>(std::max<uint64_t>(bytes, 1)));
  H5Tset_strpad(t, H5T_STR_NULLPAD);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
}

bool col_type_of(hid_t type, ColType* out) {
  const H5T_class_t cls = H5Tget_class(type);
  const size_t size = H5Tget_size(type);
  if (cls == H5T_FLOAT && size == 8)
    *out = ColType::F64;
  else if (cls == H5T_FLOAT && size == 4)
    *out = ColType::F32;
  else if (cls == H5T_FLOAT && size == 2)
    *out = H5Tget_ebias(type) == 127 ? ColType::BF16 : ColType::F16;
  else if (cls == H5T_INTEGER && H5Tget_sign(type) == H5T_SGN_2 && size == 8)
    *out = ColType::I64;
  else if (cls == H5T_INTEGER && H5Tget_sign(type) == H5T_SGN_2 && size == 4)
    *out = ColType::I32;
  else if (cls == H5T_INTEGER && H5Tget_sign(type) == H5T_SGN_NONE && size == 1)
    *out = ColType::U8;
  else if (cls == H5T_STRING)
    *out = ColType::Str;
  else
    return false;
  return true;
}

std::vector<std::string> read_string_rows(hid_t ds, hid_t fspace, hsize_t n, const std::string& file,
                                          const std::string& what) {
  if (is_text_column(ds)) {
    hsize_t first = 0;
    selected_run(fspace, n, &first, file, what);
    return read_text_rows(ds, first, n, file, what);
  }
  std::vector<std::string> out;
  const Id ftype(check(H5Dget_type(ds), file, "cannot get the type of " + what));
  if (H5Tget_class(ftype.get()) != H5T_STRING) throw InputError(file, what + " does not hold strings");
  if (n == 0) return out;
  const Id mspace(H5Screate_simple(1, &n, nullptr));
  out.reserve(n);
  if (H5Tis_variable_str(ftype.get()) > 0) {
    const Id mtype(utf8_string_type());
    std::vector<char*> ptrs(n, nullptr);
    const herr_t st = guarded_vlen_read(
        ds, [&] { return H5Dread(ds, mtype.get(), mspace.get(), fspace, H5P_DEFAULT, ptrs.data()); });
    for (char* p : ptrs) {
      out.emplace_back(p ? p : "");
      H5free_memory(p);
    }
    check_status(st, file, "cannot read " + what);
    return out;
  }
  const Id mtype(
      check(H5Tget_native_type(ftype.get(), H5T_DIR_ASCEND), file, "cannot get the string type of " + what));
  const size_t size = H5Tget_size(mtype.get());
  std::string buf(n * size, '\0');
  check_status(H5Dread(ds, mtype.get(), mspace.get(), fspace, H5P_DEFAULT, buf.data()), file,
               "cannot read " + what);
  const bool space_pad = H5Tget_strpad(mtype.get()) == H5T_STR_SPACEPAD;
  for (hsize_t i = 0; i < n; ++i) {
    std::string s = buf.substr(i * size, size);
    s.resize(space_pad ? s.find_last_not_of(' ') + 1 : std::min(s.find('\0'), s.size()));
    out.push_back(std::move(s));
  }
  return out;
}

namespace {

// Removes attribute `name` when present, then creates it with `type` and `space`.
Id fresh_attr(hid_t obj, const std::string& name, hid_t type, hid_t space, const std::string& file) {
  require_no_nul(name, file, "an attribute name");
  if (H5Aexists(obj, name.c_str()) > 0)
    check_status(H5Adelete(obj, name.c_str()), file, "cannot replace attribute '" + name + "'");
  return Id(check(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), file,
                  "cannot create attribute '" + name + "'"));
}

}  // namespace

void write_string_attr(hid_t obj, const std::string& name, const std::string& value,
                       const std::string& file) {
  require_no_nul(value, file, "attribute '" + name + "'");
  Id type(utf8_string_type());
  Id space(H5Screate(H5S_SCALAR));
  Id attr = fresh_attr(obj, name, type.get(), space.get(), file);
  const char* p = value.c_str();
  check_status(H5Awrite(attr.get(), type.get(), &p), file, "cannot write attribute '" + name + "'");
}

std::string padded(const std::string& value, size_t bytes, const std::string& file, const std::string& what,
                   const std::string& holder) {
  require_no_nul(value, file, what);
  if (value.size() > bytes)
    throw InputError(file, what + " has " + std::to_string(value.size()) + " bytes; " + holder +
                               " holds at most " + std::to_string(bytes));
  std::string buf(bytes, '\0');
  value.copy(buf.data(), value.size());
  return buf;
}

void write_fixed_string_attr(hid_t obj, const std::string& name, const std::string& value, uint64_t bytes,
                             const std::string& file) {
  const std::string buf =
      padded(value, static_cast<size_t>(std::max<uint64_t>(bytes, 1)), file, "attribute '" + name + "'");
  Id type(fixed_string_type(bytes));
  Id space(H5Screate(H5S_SCALAR));
  Id attr = fresh_attr(obj, name, type.get(), space.get(), file);
  check_status(H5Awrite(attr.get(), type.get(), buf.data()), file, "cannot write attribute '" + name + "'");
}

void overwrite_string_attr(hid_t obj, const std::string& name, const std::string& value,
                           const std::string& file) {
  const std::string what = "attribute '" + name + "'";
  Id attr(check(H5Aopen(obj, name.c_str(), H5P_DEFAULT), file, "cannot open " + what));
  Id stored(H5Aget_type(attr.get()));
  Id space(H5Aget_space(attr.get()));
  if (!stored.ok() || H5Tget_class(stored.get()) != H5T_STRING || H5Tis_variable_str(stored.get()) > 0 ||
      !space.ok() || H5Sget_simple_extent_npoints(space.get()) != 1)
    throw StoreError(file, what + " is not one fixed-length string: cannot overwrite it in place");
  const std::string buf = padded(value, H5Tget_size(stored.get()), file, what);
  check_status(H5Awrite(attr.get(), stored.get(), buf.data()), file, "cannot write " + what);
}

void write_strings_attr(hid_t obj, const std::string& name, const std::vector<std::string>& values,
                        const std::string& file) {
  for (size_t i = 0; i < values.size(); ++i)
    require_no_nul(values[i], file, "attribute '" + name + "'[" + std::to_string(i) + "]");
  Id type(utf8_string_type());
  const hsize_t n = values.size();
  Id space(H5Screate_simple(1, &n, nullptr));
  Id attr = fresh_attr(obj, name, type.get(), space.get(), file);
  std::vector<const char*> ptrs;
  for (const auto& v : values) ptrs.push_back(v.c_str());
  if (n > 0)
    check_status(H5Awrite(attr.get(), type.get(), ptrs.data()), file,
                 "cannot write attribute '" + name + "'");
}

void write_int_attr(hid_t obj, const std::string& name, int64_t value, const std::string& file) {
  Id space(H5Screate(H5S_SCALAR));
  Id attr = fresh_attr(obj, name, H5T_STD_I64LE, space.get(), file);
  check_status(H5Awrite(attr.get(), H5T_NATIVE_INT64, &value), file, "cannot write attribute '" + name + "'");
}

namespace {

// The strings of an open string attribute (scalar or 1-D, fixed or variable length).
bool read_attr_strings(hid_t attr, std::vector<std::string>* out) {
  Id type(H5Aget_type(attr));
  Id space(H5Aget_space(attr));
  if (!type.ok() || !space.ok() || H5Tget_class(type.get()) != H5T_STRING) return false;
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (n < 0) return false;
  out->clear();
  if (H5Tis_variable_str(type.get()) > 0) {
    Id mem(utf8_string_type());
    H5Tset_cset(mem.get(), H5Tget_cset(type.get()));
    std::vector<char*> ptrs(static_cast<size_t>(n), nullptr);
    if (n > 0 && guarded_vlen_read(attr, [&] { return H5Aread(attr, mem.get(), ptrs.data()); }) < 0)
      return false;
    for (char* p : ptrs) out->push_back(p ? p : "");
    if (n > 0) H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, ptrs.data());
    return true;
  }
  const size_t size = H5Tget_size(type.get());
  std::string buf(size * static_cast<size_t>(n), '\0');
  if (n > 0 && H5Aread(attr, type.get(), buf.data()) < 0) return false;
  for (hssize_t i = 0; i < n; ++i) {
    std::string s = buf.substr(static_cast<size_t>(i) * size, size);
    out->push_back(s.substr(0, s.find('\0')));
  }
  return true;
}

}  // namespace

std::string read_string_attr(hid_t obj, const std::string& name, bool* found) {
  std::vector<std::string> v;
  bool ok = false;
  if (H5Aexists(obj, name.c_str()) > 0) {
    Id attr(H5Aopen(obj, name.c_str(), H5P_DEFAULT));
    ok = attr.ok() && read_attr_strings(attr.get(), &v) && v.size() == 1;
  }
  if (found) *found = ok;
  return ok ? v[0] : std::string();
}

std::vector<std::string> read_strings_attr(hid_t obj, const std::string& name, bool* found) {
  std::vector<std::string> v;
  bool ok = false;
  if (H5Aexists(obj, name.c_str()) > 0) {
    Id attr(H5Aopen(obj, name.c_str(), H5P_DEFAULT));
    ok = attr.ok() && read_attr_strings(attr.get(), &v);
  }
  if (found) *found = ok;
  return ok ? v : std::vector<std::string>{};
}

int64_t read_int_attr(hid_t obj, const std::string& name, bool* found) {
  int64_t v = 0;
  bool ok = false;
  if (H5Aexists(obj, name.c_str()) > 0) {
    Id attr(H5Aopen(obj, name.c_str(), H5P_DEFAULT));
    Id type(attr.ok() ? H5Aget_type(attr.get()) : -1);
    Id space(attr.ok() ? H5Aget_space(attr.get()) : -1);
    ok = type.ok() && space.ok() && H5Tget_class(type.get()) == H5T_INTEGER &&
         H5Sget_simple_extent_npoints(space.get()) == 1 &&  // one value: H5Aread fills only v
         H5Aread(attr.get(), H5T_NATIVE_INT64, &v) >= 0;
  }
  if (found) *found = ok;
  return ok ? v : 0;
}

namespace {

herr_t collect_attr_name(hid_t, const char* name, const H5A_info_t*, void* data) {
  static_cast<std::vector<std::string>*>(data)->push_back(name);
  return 0;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> read_string_attrs(hid_t obj) {
  std::vector<std::string> names;
  hsize_t idx = 0;
  H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_attr_name, &names);
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& n : names) {
    bool found = false;
    std::string v = read_string_attr(obj, n, &found);
    if (found) out.emplace_back(n, v);
  }
  return out;
}

void set_read_attempts(hid_t fapl, const std::string& file) {
  check_status(H5Pset_metadata_read_attempts(fapl, kMetadataReadAttempts), file,
               "cannot bound the metadata read attempts");
}

hid_t store_fapl(bool clear_flags, const std::string& file) {
  hid_t fapl = check(H5Pcreate(H5P_FILE_ACCESS), file, "cannot create a file access list");
  check_status(H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST), file,
               "cannot ask for the latest file format");
  set_read_attempts(fapl, file);
  if (clear_flags) {
    // Registered (private) properties of HDF5 1.10's file access class, as h5clear uses them.
    hbool_t yes = true;
    check_status(H5Pset(fapl, "clear_status_flags", &yes), file,
                 "this HDF5 has no 'clear_status_flags' file access property");
    check_status(H5Pset(fapl, "skip_eof_check", &yes), file,
                 "this HDF5 has no 'skip_eof_check' file access property");
  }
  return fapl;
}

Id open_for_read(const std::string& path) {
  quiet();
  struct stat st;
  if (stat(path.c_str(), &st) != 0) throw InputError(path, "does not exist");
  require_not_truncated(path);
  const Id fapl(check(H5Pcreate(H5P_FILE_ACCESS), path, "cannot create a file access list"));
  set_read_attempts(fapl.get(), path);
  Id f(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()));
  if (f.ok()) return f;
  f = Id(H5Fopen(path.c_str(), H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, fapl.get()));
  if (f.ok()) return f;
  const std::string why = last_error();
  if (last_error_is_corruption())
    throw InputError(path, "corrupt or truncated HDF5: cannot be opened (" + why + ")");
  throw InputError(path,
                   "cannot be opened as HDF5 (not a results store, truncated, or left "
                   "by a crash before its first commit: try `qkgeom recover`)" +
                       (why.empty() ? std::string() : ": " + why));
}

std::vector<hsize_t> dataset_dims(hid_t ds, const std::string& file, const std::string& name) {
  Id space(check(H5Dget_space(ds), file, "cannot read the shape of dataset '" + name + "'"));
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) fail(file, "cannot read the shape of dataset '" + name + "'");
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  return dims;
}

void write_array(hid_t parent, const std::string& name, const std::vector<hsize_t>& dims, hid_t file_type,
                 hid_t mem_type, const void* data, const std::string& file) {
  if (H5Lexists(parent, name.c_str(), H5P_DEFAULT) > 0) H5Ldelete(parent, name.c_str(), H5P_DEFAULT);
  const Id space(check(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), file,
                       "cannot make the dataspace of '" + name + "'"));
  const Id ds(
      check(H5Dcreate2(parent, name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
            file, "cannot create dataset '" + name + "'"));
  hsize_t n = 1;
  for (hsize_t d : dims) n *= d;
  if (n > 0)
    check_status(H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), file,
                 "cannot write dataset '" + name + "'");
}

void write_strings(hid_t parent, const std::string& name, const std::vector<std::string>& values,
                   const std::string& file) {
  std::vector<const char*> p;
  for (const std::string& v : values) {
    require_no_nul(v, file, "dataset '" + name + "' row " + std::to_string(p.size()));
    p.push_back(v.c_str());
  }
  const Id ft(file_type(ColType::Str)), mt(memory_type(ColType::Str));
  write_array(parent, name, {static_cast<hsize_t>(p.size())}, ft.get(), mt.get(), p.data(), file);
}

void write_file_atomically(const std::string& path, const std::function<void(const std::string&)>& write) {
  quiet();
  const std::string tmp = path + ".tmp";
  try {
    write(tmp);
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw StoreError(path, "cannot rename " + tmp + " to it: " + ec.message());
}

}  // namespace qk::h5
