#pragma once
// An append-only, columnar HDF5 results store that survives SIGKILL at any moment
// (docs/hdf5-schema.md). One row per probe in per-probe columns; ragged columns hold
// one row per token, located by "<group>/offset" and "<group>/count".
//
// Commit protocol of append(): write every column but "probe/index", flush (datasets
// one by one, then the file); then "probe/index", flush. The committed count is the
// length of "probe/index"; other columns may hold extra trailing rows after a crash,
// which later appends overwrite and finish() cuts. A text column (Str) is written as
// its bytes, then its rows' end offsets into them (h5_text.hpp), both before the commit.
// Chunks are unfiltered and every dataset only grows, so no write touches a committed byte. The file is in
// SWMR write mode from create/reopen to finish, which never reopens it: SWMR readers may stay attached.
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "column_spec.hpp"
#include "store_error.hpp"

namespace qk {

// One column's new rows: raw native-endian elements for numeric columns (rows x
// row_shape, row-major), strings for Str columns, and for a ragged column the row
// (token) count of each of the batch's probes.
struct ColumnData {
  std::vector<uint8_t> bytes;
  std::vector<std::string> strings;
  std::vector<int64_t> counts;  // ragged only: n entries
  bool typed = false;           // set by the helpers below: `type` is checked on append
  ColType type = ColType::F64;

  template <typename T>
  static ColumnData of(const std::vector<T>& values);
  static ColumnData of(std::vector<std::string> values);
};

// n probes' rows, one ColumnData per column in the order of the store's columns.
struct StoreBatch {
  int64_t n = 0;
  std::vector<ColumnData> cols;
};

using Attrs = std::vector<std::pair<std::string, std::string>>;

// Root attributes a run changes at its end (ResultsStore::set_attrs, finish). They are
// fixed-length strings of kEndOfRunAttrBytes, so that a change is one in-place rewrite
// of the object header block holding them (a variable-length string would go through
// HDF5's global heap, and a kill between the two writes left it unreadable); h5py reads
// them as bytes. Every other attribute is written once, by create.
inline constexpr const char* kEndOfRunAttrs[] = {"status", "finished_at", "probes_committed", "on_nonfinite"};
inline constexpr uint64_t kEndOfRunAttrBytes = 64;
bool is_end_of_run_attr(const std::string& name);

class ResultsStore {
 public:
  // Creates `path` (InputError when it exists, unless `overwrite`): builds it as
  // "<path>.partial" with the root attributes (`attrs` as strings, including those
  // set_attrs/finish will overwrite; "schema_version", "columns") and every column (plus
  // "<group>/offset" and "<group>/count" per ragged group), enters SWMR write mode, then
  // renames it to `path` (without `overwrite`, never onto a file another process made
  // meanwhile: InputError). The store holds its WriterLock (writer_lock.hpp) until closed.
  static ResultsStore create(const std::string& path, const std::vector<ColumnSpec>& cols, const Attrs& attrs,
                             int schema_version, bool overwrite = false);

  // Reopens a store left by a finished or crashed run: clears the crash status flags,
  // checks its columns equal `cols` (InputError naming the dataset), enters SWMR write
  // mode. rows() is the committed count; rows a crash left past it are overwritten by
  // the next appends (never cut here). StoreError when another process holds the file
  // (a reader's HDF5 lock, or a writer's WriterLock: a sweep still writing it).
  static ResultsStore reopen(const std::string& path, const std::vector<ColumnSpec>& cols);

  ResultsStore(ResultsStore&&) noexcept;
  ResultsStore& operator=(ResultsStore&&) noexcept;
  ~ResultsStore();  // closes the file (without finish: no final attributes)

  const std::string& path() const;
  const std::vector<ColumnSpec>& columns() const;  // the caller's columns, dims filled in
  int64_t rows() const;                            // committed probes
  int column_index(const std::string& col) const;  // position in columns(), -1 if absent

  // Committed rows of a per-probe Str / I64 / F64 column (e.g. "probe/id" to resume).
  std::vector<std::string> read_strings(const std::string& col) const;
  std::vector<int64_t> read_i64(const std::string& col) const;
  std::vector<double> read_f64(const std::string& col) const;

  // Appends `b` with the commit protocol above. On failure (StoreError) the rows
  // committed before stay in the file and the store refuses further appends. HDF5
  // 1.10.8 may then crash in its exit handler (a failed flush leaves its metadata cache
  // unable to close the file): a program should report the error and leave with
  // std::_Exit (after flushing its own output).
  void append(const StoreBatch& b);

  // Overwrites end-of-run root attributes given to create (e.g. status) with `attrs`, in
  // place, in SWMR mode (readers may stay attached). InputError when one was not
  // created, is not an end-of-run attribute, or is longer than kEndOfRunAttrBytes.
  void set_attrs(const Attrs& attrs);

  // Cuts columns back to the committed rows (rows a crashed run left beyond them),
  // set_attrs(attrs) (e.g. finished_at, status), closes the file. No reopen: readers
  // stay attached.
  void finish(const Attrs& attrs);

 private:
  struct Impl;
  explicit ResultsStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Committed probes of a store file, also one a crashed writer left (opened read-only,
// in SWMR-read mode when needed).
int64_t committed_rows(const std::string& path);

// Clears the "open for write" status flags a killed writer leaves, so that any HDF5
// reader opens the file (what `h5clear -s` does; `qkgeom recover FILE`). Keeps data.
// InputError, the file untouched, when it is shorter than its superblock records;
// StoreError when a writer still holds it (its WriterLock).
void clear_crash_flags(const std::string& path);

template <typename T>
ColumnData ColumnData::of(const std::vector<T>& values) {
  static_assert(std::is_arithmetic_v<T>, "numeric values, or strings");
  ColumnData d;
  d.typed = true;
  if constexpr (std::is_same_v<T, double>)
    d.type = ColType::F64;
  else if constexpr (std::is_same_v<T, float>)
    d.type = ColType::F32;
  else if constexpr (std::is_same_v<T, int64_t>)
    d.type = ColType::I64;
  else if constexpr (std::is_same_v<T, int32_t>)
    d.type = ColType::I32;
  else if constexpr (std::is_same_v<T, uint8_t>)
    d.type = ColType::U8;
  else
    static_assert(sizeof(T) == 0, "f64, f32, i64, i32 or u8 values");
  d.bytes.resize(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(d.bytes.data(), values.data(), d.bytes.size());
  return d;
}

inline ColumnData ColumnData::of(std::vector<std::string> values) {
  ColumnData d;
  d.typed = true;
  d.type = ColType::Str;
  d.strings = std::move(values);
  return d;
}

}  // namespace qk
