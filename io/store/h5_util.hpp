#pragma once
// HDF5 plumbing of the results store: owned identifiers, error messages built from
// the HDF5 error stack, attributes, element types, file opening. Internal to io/store.
#include <hdf5.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "column_spec.hpp"

namespace qk::h5 {

// Owns an HDF5 identifier; closes it with the close function of its kind.
class Id {
 public:
  Id() = default;
  explicit Id(hid_t id) : id_(id) {}
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  Id(Id&& o) noexcept : id_(o.id_) { o.id_ = -1; }
  Id& operator=(Id&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = o.id_;
      o.id_ = -1;
    }
    return *this;
  }
  ~Id() { reset(); }
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }
  void reset();      // closes it now (a failing close is ignored)
  hid_t release() {  // gives up ownership
    const hid_t id = id_;
    id_ = -1;
    return id;
  }

 private:
  hid_t id_ = -1;
};

// Turns off HDF5's printing of its error stack (we build our own messages).
void quiet();

// The innermost HDF5 error message of the current stack, e.g. "... errno = 27,
// error message = 'File too large' ...", or "".
std::string last_error();

// `read()` (an HDF5 read of variable-length strings of `obj`'s file) such that a fault
// inside HDF5 on a damaged string heap (HDF5 1.10 trusts the heap's object sizes) ends
// the process with exit 3 and "<file>: corrupt or truncated HDF5" (h5_fault_guard.cpp).
herr_t guarded_vlen_read(hid_t obj, const std::function<herr_t()>& read);

// Whether the current HDF5 error stack says the file's bytes are damaged (checksum,
// signature, decompression, address past the end).
bool last_error_is_corruption();

// Throws StoreError(file, what + HDF5's reason); InputError(file, "corrupt or
// truncated HDF5: " ...) when the reason is damage to the file (exit 3).
[[noreturn]] void fail(const std::string& file, const std::string& what);

// fail(file, what), or when HDF5 could not lock the file, StoreError(file, "is open in
// another process ...") (a reader, or a writer, holds HDF5's lock on it).
[[noreturn]] void fail_open(const std::string& file, const std::string& what);

// `id` when valid, else fail(file, what).
hid_t check(hid_t id, const std::string& file, const std::string& what);
void check_status(herr_t status, const std::string& file, const std::string& what);

// InputError(file, what + " holds U+0000 ...") when `s` holds a NUL: an HDF5 string
// ends at its first NUL, so the rest would be lost. Every string write checks this.
void require_no_nul(const std::string& s, const std::string& file, const std::string& what);

// File and memory types of a column type.
hid_t file_type(ColType t);    // caller closes
hid_t memory_type(ColType t);  // caller closes

// A fixed-length UTF-8 string type of max(1, bytes) bytes, NUL padded (caller closes).
hid_t fixed_string_type(uint64_t bytes);

// The ColType of a dataset's stored type (an HDF5 string: Str); false when none matches.
bool col_type_of(hid_t type, ColType* out);

// The `n` strings selected by `fspace` in string column `ds`: a text column (h5_text.hpp,
// one run of rows), or an HDF5 string dataset (fixed or variable length, schema v4 and
// before; padding removed). InputError(file, "<what> does not hold strings") when `ds`
// is neither; StoreError / InputError(file, what ...) on failure.
std::vector<std::string> read_string_rows(hid_t ds, hid_t fspace, hsize_t n, const std::string& file,
                                          const std::string& what);

// Attributes (created or replaced): a UTF-8 string, an array of strings, an int.
void write_string_attr(hid_t obj, const std::string& name, const std::string& value, const std::string& file);
void write_strings_attr(hid_t obj, const std::string& name, const std::vector<std::string>& values,
                        const std::string& file);
void write_int_attr(hid_t obj, const std::string& name, int64_t value, const std::string& file);
// `value` NUL padded to `bytes` (a fixed-length string's storage); InputError(file, what
// + " has N bytes; " + holder + " holds at most B") when longer, or naming the NUL.
std::string padded(const std::string& value, size_t bytes, const std::string& file, const std::string& what,
                   const std::string& holder = "it");

// A fixed-length UTF-8 string attribute of `bytes` bytes (NUL padded) holding `value`;
// InputError when `value` is longer. Its value lives in the object header itself.
void write_fixed_string_attr(hid_t obj, const std::string& name, const std::string& value, uint64_t bytes,
                             const std::string& file);
// Writes a new value into the existing fixed-length scalar string attribute `name` in
// place: one rewrite of the object header block holding it, no attribute created or
// deleted, no heap touched (safe in SWMR write mode, and a kill leaves the old value or
// the new one). InputError when `value` is longer than the attribute; StoreError when it
// is missing or not a fixed-length string.
void overwrite_string_attr(hid_t obj, const std::string& name, const std::string& value,
                           const std::string& file);

// Attribute readers; `found` (when given) says whether it exists with a usable type.
std::string read_string_attr(hid_t obj, const std::string& name, bool* found = nullptr);
std::vector<std::string> read_strings_attr(hid_t obj, const std::string& name, bool* found = nullptr);
int64_t read_int_attr(hid_t obj, const std::string& name, bool* found = nullptr);

// Every string-valued attribute of an object, in name order.
std::vector<std::pair<std::string, std::string>> read_string_attrs(hid_t obj);

// Attempts HDF5 makes to read a metadata block whose checksum fails. Under SWMR-read
// its default is 100 with a doubling sleep between them (hours for one flipped bit);
// a concurrent writer's torn read succeeds on the second.
constexpr unsigned kMetadataReadAttempts = 3;
void set_read_attempts(hid_t fapl, const std::string& file);

// InputError(file, "truncated (S of E bytes) ...") when the file is shorter than the
// end-of-file address its HDF5 superblock records; changes nothing. Files that are
// not HDF5 pass (the open that follows reports them).
void require_not_truncated(const std::string& file);

// A file access property list with the latest file format (SWMR needs it); with
// `clear_flags`, opening also clears the status flags a crashed writer leaves and
// skips the end-of-file check (what `h5clear -s` does).
hid_t store_fapl(bool clear_flags, const std::string& file);

// Opens a store for reading: plainly, or in SWMR-read mode when a writer is running
// or crashed. InputError when it is absent or not HDF5.
Id open_for_read(const std::string& path);

// Creates (replacing) a whole dataset `name` under `parent` from `data` in `mem_type`,
// stored as `file_type`; dims may hold zeros (nothing is written then).
void write_array(hid_t parent, const std::string& name, const std::vector<hsize_t>& dims, hid_t file_type,
                 hid_t mem_type, const void* data, const std::string& file);
// A 1-D dataset of variable-length UTF-8 strings.
void write_strings(hid_t parent, const std::string& name, const std::vector<std::string>& values,
                   const std::string& file);
// Writes a whole file by `write(tmp)` on `path`.tmp, then renames it onto `path`; the
// temporary file is removed when writing fails. StoreError when the rename fails.
void write_file_atomically(const std::string& path, const std::function<void(const std::string&)>& write);

// Shape of a dataset.
std::vector<hsize_t> dataset_dims(hid_t ds, const std::string& file, const std::string& name);

}  // namespace qk::h5

namespace qk {

// The caller's columns of an open store file, in creation order (store_schema.cpp).
std::vector<ColumnSpec> read_columns(hid_t file, const std::string& path);

}  // namespace qk
