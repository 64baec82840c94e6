#include "results_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "h5_text.hpp"
#include "h5_util.hpp"
#include "input_error.hpp"
#include "store_schema.hpp"
#include "writer_lock.hpp"

namespace qk {

namespace {

constexpr uint64_t kChunkTarget = 64 * 1024;  // bytes of a chunk along the row axis
constexpr uint64_t kChunkMax = 1024 * 1024;   // a chunk never exceeds this (rows split)
constexpr unsigned kMaxCompactAttrs = 4096;   // root attributes stay in its object header

// What a writer is told when another holds the store's WriterLock.
constexpr const char* kBusyWriting =
    "is being written by another process (a sweep still running: a duplicate job, or the run a "
    "--resume would continue); wait for it to end or stop it, then try again";

bool file_exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

// Renames the finished `tmp` onto `path`. Without `overwrite` an existing `path` is never
// replaced (renameat2 RENAME_NOREPLACE; a plain rename where the file system lacks it):
// InputError when another process created it since create() checked.
void publish(const std::string& tmp, const std::string& path, bool overwrite) {
  if (!overwrite && renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) == 0) return;
  if (!overwrite && errno == EEXIST)
    throw InputError(path,
                     "exists: another process created it while this one was creating it "
                     "(two sweeps with one --out?)");
  if (!overwrite && errno != EINVAL && errno != ENOSYS)
    throw StoreError(path, "cannot rename " + tmp + " to it: " + std::strerror(errno));
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw StoreError(path, "cannot rename " + tmp + " to it: " + std::strerror(errno));
}

// The type of column `c`'s rows: a text column's are i64 end offsets (h5_text.hpp).
ColType row_type(const ColumnSpec& c) { return c.type == ColType::Str ? ColType::I64 : c.type; }

// Bytes of one stored element of column `c`.
uint64_t stored_elem_bytes(const ColumnSpec& c) { return col_type_size(row_type(c)); }

// Chunk dims of a column: [rows, row_shape...] of ~kChunkTarget bytes, at most kChunkMax
// (a zero-sized row axis gets chunk size 1: HDF5 chunks have no empty axes).
std::vector<hsize_t> chunk_dims(const ColumnSpec& c) {
  std::vector<hsize_t> chunk;
  for (uint64_t d : c.row_shape) chunk.push_back(std::max<uint64_t>(d, 1));
  uint64_t row_bytes = stored_elem_bytes(c);
  for (hsize_t d : chunk) row_bytes *= d;
  while (row_bytes > kChunkMax) {
    auto largest = std::max_element(chunk.begin(), chunk.end());
    const hsize_t half = (*largest + 1) / 2;
    row_bytes = row_bytes / *largest * half;
    *largest = half;
  }
  chunk.insert(chunk.begin(), static_cast<hsize_t>(std::max<uint64_t>(1, kChunkTarget / row_bytes)));
  return chunk;
}

// Creates the empty, extendible 1-D u8 dataset `name` of a text column's bytes, chunked
// as the columns are.
void create_text_bytes(hid_t file, const std::string& name, const std::string& col, const std::string& path) {
  const std::string what = "dataset '/" + name + "'";
  const hsize_t zero = 0, unlimited = H5S_UNLIMITED, chunk = kChunkTarget;
  h5::Id space(
      h5::check(H5Screate_simple(1, &zero, &unlimited), path, "cannot make the dataspace of " + what));
  h5::Id dcpl(H5Pcreate(H5P_DATASET_CREATE));
  h5::check_status(H5Pset_chunk(dcpl.get(), 1, &chunk), path, "cannot set the chunks of " + what);
  h5::Id type(h5::file_type(ColType::U8));
  h5::Id ds(
      h5::check(H5Dcreate2(file, name.c_str(), type.get(), space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                path, "cannot create " + what));
  h5::write_string_attr(ds.get(), "units", "bytes", path);
  h5::write_string_attr(ds.get(), "description",
                        "UTF-8 bytes of the values of '" + col + "', whose rows give each value's end offset",
                        path);
}

// Creates the empty, extendible dataset of column `c` (a text column: also its bytes
// dataset). Chunks are stored unfiltered: an append then rewrites the last chunk in
// place, its committed rows with the same bytes, so no kill can damage them and an SWMR
// reader never follows a moved chunk.
void create_column(hid_t file, const ColumnSpec& c, const std::string& path) {
  const std::string what = "dataset '/" + c.path + "'";
  std::vector<hsize_t> dims{0}, maxdims{H5S_UNLIMITED};
  for (uint64_t d : c.row_shape) {
    dims.push_back(d);
    maxdims.push_back(d == 0 ? H5S_UNLIMITED : d);  // a chunk cannot exceed a fixed 0
  }
  h5::Id space(h5::check(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), maxdims.data()), path,
                         "cannot make the dataspace of " + what));
  h5::Id dcpl(H5Pcreate(H5P_DATASET_CREATE));
  const std::vector<hsize_t> chunk = chunk_dims(c);
  h5::check_status(H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()), path,
                   "cannot set the chunks of " + what);
  h5::Id lcpl(H5Pcreate(H5P_LINK_CREATE));
  H5Pset_create_intermediate_group(lcpl.get(), 1);
  h5::Id type(h5::file_type(row_type(c)));
  h5::Id ds(h5::check(
      H5Dcreate2(file, c.path.c_str(), type.get(), space.get(), lcpl.get(), dcpl.get(), H5P_DEFAULT), path,
      "cannot create " + what));
  h5::write_string_attr(ds.get(), "units", c.units, path);
  h5::write_string_attr(ds.get(), "description", c.description, path);
  h5::write_strings_attr(ds.get(), "dims", c.dims, path);
  h5::write_int_attr(ds.get(), "ragged", c.ragged ? 1 : 0, path);
  if (!c.labels.empty()) h5::write_strings_attr(ds.get(), "labels", c.labels, path);
  if (c.type != ColType::Str) return;
  const std::string bytes = h5::text_bytes_path(c.path);
  if (H5Lexists(file, bytes.c_str(), H5P_DEFAULT) > 0)
    throw InputError(path, "column '" + c.path + "' needs the name '" + bytes + "' for its bytes");
  h5::write_string_attr(ds.get(), h5::kTextBytesAttr, bytes, path);
  create_text_bytes(file, bytes, c.path, path);
}

// A file creation list whose root group keeps its attributes in its object header.
hid_t store_fcpl() {
  hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
  H5Pset_attr_phase_change(fcpl, kMaxCompactAttrs, 0);
  return fcpl;
}

}  // namespace

bool is_end_of_run_attr(const std::string& name) {
  for (const char* a : kEndOfRunAttrs)
    if (name == a) return true;
  return false;
}

namespace {

bool reserved_attr(const std::string& name) { return name == "schema_version" || name == "columns"; }

// InputError unless every attribute the caller gives is one it may write, NUL-free.
void check_root_attrs(const Attrs& attrs, const std::string& path) {
  for (const auto& a : attrs) {
    if (reserved_attr(a.first))
      throw InputError(path, "root attribute '" + a.first + "' is written by the store itself");
    h5::require_no_nul(a.first, path, "a root attribute name");
    h5::require_no_nul(a.second, path, "root attribute '" + a.first + "'");
  }
}

}  // namespace

struct ResultsStore::Impl {
  struct Col {
    ColumnSpec spec;
    h5::Id ds;
    uint64_t elems = 1;      // elements per row
    int group = -1;          // ragged group of a ragged column
    int64_t extent = 0;      // rows in the file (more than committed after a crash)
    h5::Id bytes;            // a text column's bytes dataset
    int64_t text_bytes = 0;  // its committed bytes
    int64_t byte_extent = 0;
  };
  struct Group {
    std::string name;
    int offset_col = -1, count_col = -1;
    std::vector<int> members;
    int64_t total = 0;  // committed rows of its ragged columns
  };

  std::string path;
  std::vector<ColumnSpec> user;  // the caller's columns; cols[i] for i < user.size()
  WriterLock lock;               // held until after the file is closed
  h5::Id file;
  std::vector<Col> cols;  // user columns, then each group's offset and count
  std::vector<Group> groups;
  int index_col = -1;
  int64_t rows = 0;
  bool failed = false;

  // Builds cols/groups for `user` (datasets not opened).
  void layout() {
    cols.clear();
    groups.clear();
    for (const auto& g : ragged_groups(user)) groups.push_back(Group{g, -1, -1, {}, 0});
    auto add = [&](const ColumnSpec& s) {
      Col c;
      c.spec = s;
      c.elems = row_elems(s.row_shape);
      if (s.ragged)
        for (size_t g = 0; g < groups.size(); ++g)
          if (groups[g].name == column_group(s.path)) {
            c.group = static_cast<int>(g);
            groups[g].members.push_back(static_cast<int>(cols.size()));
          }
      if (s.path == kIndexColumn) index_col = static_cast<int>(cols.size());
      cols.push_back(std::move(c));
    };
    for (const auto& s : user) add(s);
    for (auto& g : groups) {
      g.offset_col = static_cast<int>(cols.size());
      add(offset_column(g.name));
      g.count_col = static_cast<int>(cols.size());
      add(count_column(g.name));
    }
  }

  // InputError unless each ragged group's offset and count datasets are i64 rows.
  void check_group_columns() const {
    for (const auto& g : groups)
      for (int ci : {g.offset_col, g.count_col}) {
        const std::string& name = cols[static_cast<size_t>(ci)].spec.path;
        h5::Id ds(H5Dopen2(file.get(), name.c_str(), H5P_DEFAULT));
        h5::Id type(ds.ok() ? H5Dget_type(ds.get()) : -1);
        ColType t;
        if (!type.ok() || !h5::col_type_of(type.get(), &t) || t != ColType::I64 ||
            h5::dataset_dims(ds.get(), path, name).size() != 1)
          throw InputError(path, "dataset '/" + name + "' (kept by the store) is missing or not i64 rows");
      }
  }

  // InputError unless each text column holds i64 offsets and names its 1-D u8 bytes
  // dataset, "<column>_utf8" (h5_text.hpp), where appends go.
  void check_text_columns() const {
    for (const auto& c : cols) {
      if (c.spec.type != ColType::Str) continue;
      const std::string what = "dataset '/" + c.spec.path + "'";
      const h5::Id ds(
          h5::check(H5Dopen2(file.get(), c.spec.path.c_str(), H5P_DEFAULT), path, "cannot open " + what));
      std::string name;
      h5::open_text_bytes(ds.get(), path, what, &name);
      if (name != h5::text_bytes_path(c.spec.path))
        throw InputError(path, what + ": attribute '" + h5::kTextBytesAttr + "' names '" + name + "', not '" +
                                   h5::text_bytes_path(c.spec.path) + "': not a results store qkgeom wrote");
    }
  }

  void open_datasets() {
    for (auto& c : cols) {
      c.ds = h5::Id(h5::check(H5Dopen2(file.get(), c.spec.path.c_str(), H5P_DEFAULT), path,
                              "cannot open dataset '/" + c.spec.path + "'"));
      if (c.spec.type != ColType::Str) continue;
      const std::string bytes = h5::text_bytes_path(c.spec.path);
      c.bytes = h5::Id(h5::check(H5Dopen2(file.get(), bytes.c_str(), H5P_DEFAULT), path,
                                 "cannot open dataset '/" + bytes + "'"));
    }
  }

  void start_swmr() {
    for (auto& c : cols) {
      c.ds.reset();
      c.bytes.reset();
    }
    h5::check_status(H5Fstart_swmr_write(file.get()), path, "cannot enter SWMR write mode");
    open_datasets();
  }

  // Writes `nrows` rows at row `start` of column `c` from `data` (its rows' memory type),
  // extending the dataset when they reach past its rows.
  void write_rows(Col& c, int64_t start, int64_t nrows, const void* data) {
    if (nrows == 0) return;
    const std::string what = "dataset '/" + c.spec.path + "'";
    std::vector<hsize_t> dims{static_cast<hsize_t>(start + nrows)};
    for (uint64_t d : c.spec.row_shape) dims.push_back(d);
    if (start + nrows > c.extent) {
      h5::check_status(H5Dset_extent(c.ds.get(), dims.data()), path, "cannot extend " + what);
      c.extent = start + nrows;
    }
    if (c.elems == 0) return;
    h5::Id fspace(h5::check(H5Dget_space(c.ds.get()), path, "cannot get the space of " + what));
    std::vector<hsize_t> offset(dims.size(), 0), count = dims;
    offset[0] = static_cast<hsize_t>(start);
    count[0] = static_cast<hsize_t>(nrows);
    h5::check_status(
        H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, offset.data(), nullptr, count.data(), nullptr),
        path, "cannot select rows of " + what);
    const hsize_t n = static_cast<hsize_t>(nrows) * c.elems;
    h5::Id mspace(H5Screate_simple(1, &n, nullptr));
    h5::Id mtype(h5::memory_type(row_type(c.spec)));
    h5::check_status(
        H5Dwrite(c.ds.get(), mtype.get(), mspace.get(), fspace.get(), H5P_DEFAULT, data), path,
        "cannot write rows " + std::to_string(start) + ".." + std::to_string(start + nrows) + " of " + what);
  }

  // After a failed write: points the file's descriptor at /dev/null, so that nothing
  // HDF5 still writes (on close) reaches the file, which stays as the failed commit
  // left it, every earlier commit readable; and closing succeeds (HDF5 1.10 crashes at
  // exit on a file whose close failed).
  void abandon() {
    failed = true;
    void* handle = nullptr;
    if (!file.ok() || H5Fget_vfd_handle(file.get(), H5P_DEFAULT, &handle) < 0 || !handle) return;
    const int fd = *static_cast<int*>(handle);
    const int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd < 0) return;
    dup2(null_fd, fd);
    close(null_fd);
  }

  // Writes a text column's `text` after its committed bytes (not flushed).
  void write_text_bytes(Col& c, const std::string& text) {
    if (text.empty()) return;
    const std::string what = "dataset '/" + h5::text_bytes_path(c.spec.path) + "'";
    const hsize_t start = static_cast<hsize_t>(c.text_bytes), n = text.size(), end = start + n;
    if (static_cast<int64_t>(end) > c.byte_extent) {
      h5::check_status(H5Dset_extent(c.bytes.get(), &end), path, "cannot extend " + what);
      c.byte_extent = static_cast<int64_t>(end);
    }
    h5::Id fspace(h5::check(H5Dget_space(c.bytes.get()), path, "cannot get the space of " + what));
    h5::check_status(H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, &start, nullptr, &n, nullptr), path,
                     "cannot select bytes of " + what);
    h5::Id mspace(H5Screate_simple(1, &n, nullptr));
    h5::check_status(
        H5Dwrite(c.bytes.get(), H5T_NATIVE_UINT8, mspace.get(), fspace.get(), H5P_DEFAULT, text.data()), path,
        "cannot write bytes " + std::to_string(start) + ".." + std::to_string(end) + " of " + what);
  }

  // Flushes column `c` (a text column: its bytes first, then the offsets into them).
  void flush_dataset(const Col& c) {
    if (c.bytes.ok())
      h5::check_status(H5Dflush(c.bytes.get()), path,
                       "cannot flush dataset '/" + h5::text_bytes_path(c.spec.path) + "'");
    h5::check_status(H5Dflush(c.ds.get()), path, "cannot flush dataset '/" + c.spec.path + "'");
  }

  void flush(const std::string& step) {
    h5::check_status(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), path, "cannot flush (" + step + ")");
  }

  // Reads the row count of column `c` into c.extent; InputError when below `n` committed.
  void load_extent(Col& c, int64_t n) {
    c.extent = static_cast<int64_t>(h5::dataset_dims(c.ds.get(), path, c.spec.path)[0]);
    if (c.extent < n)
      throw InputError(path, "dataset '/" + c.spec.path + "' has " + std::to_string(c.extent) +
                                 " rows, fewer than the " + std::to_string(n) +
                                 " committed ones: not a consistent results store");
  }

  // A text column's committed bytes (the end offset of its last committed row) and its
  // bytes dataset's length; InputError when they disagree, or when the committed rows'
  // offsets are not ascending (a resume would append to a damaged column).
  void load_text(Col& c) {
    const int64_t n = committed(c);
    const std::string name = h5::text_bytes_path(c.spec.path);
    c.text_bytes = 0;
    const std::vector<int64_t> end = read_i64_rows(c, n);
    for (size_t i = 0; i < end.size(); ++i) {
      if (end[i] < c.text_bytes)
        throw InputError(path, "dataset '/" + c.spec.path + "': row " + std::to_string(i) + " ends at byte " +
                                   std::to_string(end[i]) + ", before byte " + std::to_string(c.text_bytes) +
                                   " where it starts: not a consistent results store");
      c.text_bytes = end[i];
    }
    c.byte_extent = static_cast<int64_t>(h5::dataset_dims(c.bytes.get(), path, name)[0]);
    if (c.text_bytes < 0 || c.text_bytes > c.byte_extent)
      throw InputError(path, "dataset '/" + c.spec.path + "' ends its committed rows at byte " +
                                 std::to_string(c.text_bytes) + ", but '/" + name + "' holds " +
                                 std::to_string(c.byte_extent) + ": not a consistent results store");
  }

  // Committed rows of column `c`: probes, or its ragged group's tokens.
  int64_t committed(const Col& c) const {
    return c.group >= 0 ? groups[static_cast<size_t>(c.group)].total : rows;
  }

  // Cuts every column back to its committed rows (rows a crashed run left and this one
  // did not overwrite), a text column's bytes to its committed bytes. Only uncommitted
  // rows change.
  void shrink_to_committed() {
    for (auto& c : cols) {
      if (c.bytes.ok() && c.byte_extent > c.text_bytes) {
        const hsize_t n = static_cast<hsize_t>(c.text_bytes);
        h5::check_status(
            H5Dset_extent(c.bytes.get(), &n), path,
            "cannot cut dataset '/" + h5::text_bytes_path(c.spec.path) + "' to its committed bytes");
        c.byte_extent = c.text_bytes;
      }
      const int64_t n = committed(c);
      if (c.extent <= n) continue;
      std::vector<hsize_t> dims{static_cast<hsize_t>(n)};
      for (uint64_t d : c.spec.row_shape) dims.push_back(d);
      h5::check_status(H5Dset_extent(c.ds.get(), dims.data()), path,
                       "cannot cut dataset '/" + c.spec.path + "' to its committed rows");
      c.extent = n;
    }
  }

  // Rows [0, n) of i64 per-probe column `c`.
  std::vector<int64_t> read_i64_rows(const Col& c, int64_t n) {
    std::vector<int64_t> v(static_cast<size_t>(n));
    if (n == 0) return v;
    const h5::Id fspace(H5Dget_space(c.ds.get()));
    const hsize_t first = 0, count = static_cast<hsize_t>(n);
    H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, &first, nullptr, &count, nullptr);
    const h5::Id mspace(H5Screate_simple(1, &count, nullptr));
    h5::check_status(H5Dread(c.ds.get(), H5T_NATIVE_INT64, mspace.get(), fspace.get(), H5P_DEFAULT, v.data()),
                     path, "cannot read dataset '/" + c.spec.path + "'");
    return v;
  }

  int64_t read_one_i64(const Col& c, int64_t row) {
    h5::Id fspace(H5Dget_space(c.ds.get()));
    const hsize_t off = static_cast<hsize_t>(row), one = 1;
    H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, &off, nullptr, &one, nullptr);
    h5::Id mspace(H5Screate_simple(1, &one, nullptr));
    int64_t v = 0;
    h5::check_status(H5Dread(c.ds.get(), H5T_NATIVE_INT64, mspace.get(), fspace.get(), H5P_DEFAULT, &v), path,
                     "cannot read dataset '/" + c.spec.path + "'");
    return v;
  }

  // Per-probe column `name` of type `want`, else InputError.
  const Col& readable(const std::string& name, ColType want) const {
    for (const auto& c : cols)
      if (c.spec.path == name) {
        if (c.spec.ragged) throw InputError(path, "column '" + name + "' is ragged");
        if (c.spec.type != want)
          throw InputError(path, "column '" + name + "' holds " + col_type_name(c.spec.type) + ", not " +
                                     col_type_name(want));
        return c;
      }
    throw InputError(path, "no column '" + name + "'");
  }

  // The file space of the committed rows of per-probe column `c`.
  h5::Id committed_space(const Col& c) const {
    h5::Id fspace(H5Dget_space(c.ds.get()));
    std::vector<hsize_t> offset(1 + c.spec.row_shape.size(), 0), count{static_cast<hsize_t>(rows)};
    for (uint64_t d : c.spec.row_shape) count.push_back(d);
    H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, offset.data(), nullptr, count.data(), nullptr);
    return fspace;
  }

  // `values` of text column `c` joined into *text, and the end offset of each in its
  // bytes dataset once appended.
  static void join_text(const Col& c, const std::vector<std::string>& values, std::string* text,
                        std::vector<int64_t>* ends) {
    size_t total = 0;
    for (const auto& v : values) total += v.size();
    text->reserve(total);
    ends->reserve(values.size());
    for (const auto& v : values) {
      *text += v;
      ends->push_back(c.text_bytes + static_cast<int64_t>(text->size()));
    }
  }

  // append's parts: check and pack a batch; write one of its columns.
  struct Staged;
  Staged stage(const StoreBatch& b) const;
  int64_t column_rows(const StoreBatch& b, size_t i, const std::string& where) const;
  void write_column(const StoreBatch& b, const Staged& st, size_t i);

  // The committed rows of numeric column `c` into `buf` (rows x elems, its memory type).
  void read_rows(const Col& c, void* buf) const {
    if (rows == 0 || c.elems == 0) return;
    const h5::Id fspace = committed_space(c);
    const hsize_t n = static_cast<hsize_t>(rows) * c.elems;
    h5::Id mspace(H5Screate_simple(1, &n, nullptr));
    h5::Id mtype(h5::memory_type(c.spec.type));
    h5::check_status(H5Dread(c.ds.get(), mtype.get(), mspace.get(), fspace.get(), H5P_DEFAULT, buf), path,
                     "cannot read dataset '/" + c.spec.path + "'");
  }
};

ResultsStore::ResultsStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ResultsStore::ResultsStore(ResultsStore&&) noexcept = default;
ResultsStore& ResultsStore::operator=(ResultsStore&&) noexcept = default;
ResultsStore::~ResultsStore() = default;

ResultsStore ResultsStore::create(const std::string& path, const std::vector<ColumnSpec>& cols,
                                  const Attrs& attrs, int schema_version, bool overwrite) {
  h5::quiet();
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->user = normalized_columns(cols, path);
  check_root_attrs(attrs, path);
  if (!overwrite && file_exists(path))
    throw InputError(path, "already exists (pass overwrite to replace it)");
  impl->layout();
  // Built complete under a temporary name, then renamed: `path` never holds a file
  // without its attributes and columns.
  const std::string tmp = path + ".partial";
  // Held on the inode `path` will name: a --resume of it waits for this writer's end.
  impl->lock =
      WriterLock::acquire(tmp, "is being created by another process (two sweeps with one --out?)", true);
  try {
    h5::Id fapl(h5::store_fapl(false, path)), fcpl(store_fcpl());
    impl->file = h5::Id(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get()));
    if (!impl->file.ok())
      h5::fail(path, "cannot create the file (does its directory exist, is it writable?)");
    const hid_t f = impl->file.get();
    for (const auto& a : attrs)
      if (is_end_of_run_attr(a.first))
        h5::write_fixed_string_attr(f, a.first, a.second, kEndOfRunAttrBytes, path);
      else
        h5::write_string_attr(f, a.first, a.second, path);
    h5::write_int_attr(f, "schema_version", schema_version, path);
    std::vector<std::string> names;
    for (const auto& c : impl->user) names.push_back(c.path);
    h5::write_strings_attr(f, "columns", names, path);
    for (const auto& c : impl->cols) create_column(f, c.spec, path);
    impl->start_swmr();
    publish(tmp, path, overwrite);
  } catch (...) {
    impl.reset();
    unlink(tmp.c_str());
    throw;
  }
  return ResultsStore(std::move(impl));
}

ResultsStore ResultsStore::reopen(const std::string& path, const std::vector<ColumnSpec>& cols) {
  h5::quiet();
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->user = normalized_columns(cols, path);
  if (!file_exists(path)) throw InputError(path, "does not exist");
  h5::require_not_truncated(path);
  impl->layout();
  impl->lock = WriterLock::acquire(path, kBusyWriting);
  h5::Id fapl(h5::store_fapl(true, path));
  // Straight into SWMR write mode: the file is never "open for write" without SWMR, a
  // state in which SWMR readers cannot open it.
  impl->file = h5::Id(H5Fopen(path.c_str(), H5F_ACC_RDWR | H5F_ACC_SWMR_WRITE, fapl.get()));
  if (!impl->file.ok()) h5::fail_open(path, "cannot be opened for appending (not HDF5, or not writable)");
  // Committed metadata may lie past the end of allocation a crash left in the
  // superblock: allocate new space past the end of the file instead.
  h5::check_status(H5Fincrement_filesize(impl->file.get(), 0), path, "cannot set the file size");
  check_same_columns(read_columns(impl->file.get(), path), impl->user, path);
  impl->check_group_columns();
  impl->check_text_columns();
  impl->open_datasets();
  auto& index = impl->cols[static_cast<size_t>(impl->index_col)];
  impl->rows = static_cast<int64_t>(h5::dataset_dims(index.ds.get(), path, index.spec.path)[0]);
  for (auto& c : impl->cols)
    if (!c.spec.ragged) impl->load_extent(c, impl->rows);
  for (auto& g : impl->groups) {
    if (impl->rows > 0)
      g.total = impl->read_one_i64(impl->cols[static_cast<size_t>(g.offset_col)], impl->rows - 1) +
                impl->read_one_i64(impl->cols[static_cast<size_t>(g.count_col)], impl->rows - 1);
    for (int m : g.members) impl->load_extent(impl->cols[static_cast<size_t>(m)], g.total);
  }
  for (auto& c : impl->cols)
    if (c.spec.type == ColType::Str) impl->load_text(c);
  // Rows past the committed ones (a crash's) stay until appends overwrite them: a kill
  // now cannot touch a committed row.
  return ResultsStore(std::move(impl));
}

const std::string& ResultsStore::path() const { return impl_->path; }
const std::vector<ColumnSpec>& ResultsStore::columns() const { return impl_->user; }
int64_t ResultsStore::rows() const { return impl_->rows; }

int ResultsStore::column_index(const std::string& col) const {
  for (size_t i = 0; i < impl_->user.size(); ++i)
    if (impl_->user[i].path == col) return static_cast<int>(i);
  return -1;
}

std::vector<std::string> ResultsStore::read_strings(const std::string& col) const {
  const auto& c = impl_->readable(col, ColType::Str);
  if (impl_->rows == 0 || c.elems == 0) return {};
  const h5::Id fspace = impl_->committed_space(c);
  return h5::read_string_rows(c.ds.get(), fspace.get(), static_cast<hsize_t>(impl_->rows) * c.elems,
                              impl_->path, "dataset '/" + c.spec.path + "'");
}

std::vector<int64_t> ResultsStore::read_i64(const std::string& col) const {
  const auto& c = impl_->readable(col, ColType::I64);
  std::vector<int64_t> out(static_cast<size_t>(impl_->rows) * c.elems);
  impl_->read_rows(c, out.data());
  return out;
}

std::vector<double> ResultsStore::read_f64(const std::string& col) const {
  const auto& c = impl_->readable(col, ColType::F64);
  std::vector<double> out(static_cast<size_t>(impl_->rows) * c.elems);
  impl_->read_rows(c, out.data());
  return out;
}

// A batch checked against the store, ready to write: rows per column, a text column's
// values joined and their end offsets, and each ragged group's offsets and counts.
struct ResultsStore::Impl::Staged {
  std::vector<int64_t> nrows;
  std::vector<std::string> text;
  std::vector<std::vector<int64_t>> ends;
  std::vector<std::vector<int64_t>> offsets, counts;
};

// The rows column i of `b` holds: b.n, or the sum of its ragged counts (checked).
int64_t ResultsStore::Impl::column_rows(const StoreBatch& b, size_t i, const std::string& where) const {
  const Col& c = cols[i];
  const auto& d = b.cols[i];
  if (!c.spec.ragged) return b.n;
  if (d.counts.size() != static_cast<size_t>(b.n))
    throw InputError(path, where + ": needs one row count per probe");
  int64_t n = 0;
  for (int64_t k : d.counts) {
    if (k < 0) throw InputError(path, where + ": negative row count");
    n += k;
  }
  const int first = groups[static_cast<size_t>(c.group)].members.front();
  if (d.counts != b.cols[static_cast<size_t>(first)].counts)
    throw InputError(path, where + ": row counts differ from those of '" +
                               cols[static_cast<size_t>(first)].spec.path + "'");
  return n;
}

ResultsStore::Impl::Staged ResultsStore::Impl::stage(const StoreBatch& b) const {
  Staged st;
  st.nrows.resize(user.size());
  st.text.resize(user.size());
  st.ends.resize(user.size());
  for (size_t i = 0; i < user.size(); ++i) {
    const auto& c = cols[i];
    const auto& d = b.cols[i];
    const std::string where = "append: column '" + c.spec.path + "'";
    if (d.typed && d.type != c.spec.type)
      throw InputError(
          path, where + " given " + col_type_name(d.type) + " values, holds " + col_type_name(c.spec.type));
    st.nrows[i] = column_rows(b, i, where);
    const uint64_t elems = static_cast<uint64_t>(st.nrows[i]) * c.elems;
    const bool ok = c.spec.type == ColType::Str ? d.strings.size() == elems
                                                : d.bytes.size() == elems * col_type_size(c.spec.type);
    if (!ok)
      throw InputError(
          path, where + ": expected " + std::to_string(elems) + " " + col_type_name(c.spec.type) + " values");
    if (c.spec.type == ColType::Str) join_text(c, d.strings, &st.text[i], &st.ends[i]);
  }
  st.offsets.resize(groups.size());
  st.counts.resize(groups.size());
  for (size_t g = 0; g < groups.size(); ++g) {
    st.counts[g] = b.cols[static_cast<size_t>(groups[g].members.front())].counts;
    int64_t at = groups[g].total;
    for (int64_t k : st.counts[g]) {
      st.offsets[g].push_back(at);
      at += k;
    }
  }
  return st;
}

// Writes column i of a staged batch after the committed rows (not flushed).
void ResultsStore::Impl::write_column(const StoreBatch& b, const Staged& st, size_t i) {
  Col& c = cols[i];
  if (i < user.size()) {
    const int64_t start = c.spec.ragged ? groups[static_cast<size_t>(c.group)].total : rows;
    if (c.spec.type != ColType::Str) {
      write_rows(c, start, st.nrows[i], b.cols[i].bytes.data());
      return;
    }
    write_text_bytes(c, st.text[i]);
    write_rows(c, start, st.nrows[i], st.ends[i].data());
    return;
  }
  for (size_t g = 0; g < groups.size(); ++g) {
    if (static_cast<int>(i) == groups[g].offset_col) write_rows(c, rows, b.n, st.offsets[g].data());
    if (static_cast<int>(i) == groups[g].count_col) write_rows(c, rows, b.n, st.counts[g].data());
  }
}

void ResultsStore::append(const StoreBatch& b) {
  Impl& s = *impl_;
  if (s.failed) throw StoreError(s.path, "an earlier append failed; reopen the store to go on");
  if (!s.file.ok()) throw StoreError(s.path, "the store is finished");
  if (b.n < 0 || b.cols.size() != s.user.size())
    throw InputError(s.path, "append: a batch has " + std::to_string(b.cols.size()) + " columns, the store " +
                                 std::to_string(s.user.size()));
  if (b.n == 0) return;
  const Impl::Staged st = s.stage(b);  // everything checked before anything is written
  try {
    for (size_t i = 0; i < s.cols.size(); ++i)
      if (static_cast<int>(i) != s.index_col) s.write_column(b, st, i);
    // Datasets are flushed one by one, each its chunks before its metadata: a failed
    // chunk write stops there, before a chunk index could point at it.
    for (size_t i = 0; i < s.cols.size(); ++i)
      if (static_cast<int>(i) != s.index_col) s.flush_dataset(s.cols[i]);
    s.flush("data columns");
    s.write_column(b, st, static_cast<size_t>(s.index_col));
    s.flush_dataset(s.cols[static_cast<size_t>(s.index_col)]);
    s.flush("commit");
  } catch (...) {
    s.abandon();
    throw;
  }
  s.rows += b.n;
  for (size_t i = 0; i < s.user.size(); ++i)
    if (!st.ends[i].empty()) s.cols[i].text_bytes = st.ends[i].back();
  for (size_t g = 0; g < s.groups.size(); ++g)
    if (!st.offsets[g].empty()) s.groups[g].total = st.offsets[g].back() + st.counts[g].back();
}

void ResultsStore::set_attrs(const Attrs& attrs) {
  Impl& s = *impl_;
  check_root_attrs(attrs, s.path);
  if (s.failed) throw StoreError(s.path, "an earlier write failed; reopen the store to go on");
  if (!s.file.ok()) throw StoreError(s.path, "the store is finished");
  const hid_t f = s.file.get();
  for (const auto& a : attrs) {
    if (!is_end_of_run_attr(a.first))
      throw InputError(s.path, "root attribute '" + a.first + "' is written once, by create");
    if (H5Aexists(f, a.first.c_str()) <= 0)
      throw InputError(s.path,
                       "root attribute '" + a.first + "' was not created with the store (give it to create)");
    h5::padded(a.second, kEndOfRunAttrBytes, s.path, "attribute '" + a.first + "'");  // before any write
  }
  try {
    for (const auto& a : attrs) h5::overwrite_string_attr(f, a.first, a.second, s.path);
    s.flush("root attributes");
  } catch (...) {
    s.abandon();
    throw;
  }
}

void ResultsStore::finish(const Attrs& attrs) {
  Impl& s = *impl_;
  if (s.failed) throw StoreError(s.path, "an earlier write failed; the store cannot be finished");
  if (!s.file.ok()) throw StoreError(s.path, "the store is already finished");
  try {
    s.shrink_to_committed();
  } catch (...) {
    s.abandon();
    throw;
  }
  set_attrs(attrs);
  for (auto& c : s.cols) c.ds.reset();
  if (H5Fclose(s.file.release()) < 0) h5::fail(s.path, "cannot close the file");
}

int64_t committed_rows(const std::string& path) {
  h5::Id f = h5::open_for_read(path);
  if (H5Lexists(f.get(), "probe", H5P_DEFAULT) <= 0 || H5Lexists(f.get(), kIndexColumn, H5P_DEFAULT) <= 0)
    throw InputError(path, std::string("no dataset '/") + kIndexColumn + "': not a results store");
  h5::Id ds(h5::check(H5Dopen2(f.get(), kIndexColumn, H5P_DEFAULT), path,
                      std::string("cannot open dataset '/") + kIndexColumn + "'"));
  // Read the rows, not only the shape: a damaged index fails here.
  std::vector<int64_t> rows(h5::dataset_dims(ds.get(), path, kIndexColumn)[0]);
  if (!rows.empty())
    h5::check_status(H5Dread(ds.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows.data()), path,
                     std::string("cannot read dataset '/") + kIndexColumn + "'");
  return static_cast<int64_t>(rows.size());
}

void clear_crash_flags(const std::string& path) {
  h5::quiet();
  if (!file_exists(path)) throw InputError(path, "does not exist");
  h5::require_not_truncated(path);
  const WriterLock lock = WriterLock::acquire(path, kBusyWriting);
  h5::Id fapl(h5::store_fapl(true, path));
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl.get());
  if (f < 0) h5::fail_open(path, "cannot be opened to clear its status flags (not HDF5, or not writable)");
  // Keep everything written past the end of allocation the superblock records.
  const herr_t grown = H5Fincrement_filesize(f, 0);
  const herr_t closed = H5Fclose(f);
  h5::check_status(grown, path, "cannot set the file size");
  h5::check_status(closed, path, "cannot close the file after clearing its status flags");
}

}  // namespace qk
