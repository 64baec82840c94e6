#pragma once
// The lock a writer holds on a results store from create/reopen until it closes it, so
// that a second writer (a duplicate job, a `--resume` of a file a sweep is still writing,
// `recover`) stops instead of writing the same file: HDF5's own flock lock does not do
// this, as HDF5 drops it when the file enters SWMR write mode (docs/hdf5-schema.md,
// "File locks"). It is an open file description lock (fcntl F_OFD_SETLK) on one byte far
// past any data, so it never meets HDF5's flock locks or a reader's.
#include <string>

namespace qk {

class WriterLock {
 public:
  WriterLock() = default;
  // Takes the lock on the file `path` (made empty first when `create` and missing):
  // StoreError naming it when another process holds it (`busy` says what that process is
  // doing) or the file cannot be opened. On a file system without such locks (EINVAL,
  // ENOLCK, ...) it holds nothing.
  static WriterLock acquire(const std::string& path, const std::string& busy, bool create = false);

  WriterLock(WriterLock&& o) noexcept;
  WriterLock& operator=(WriterLock&& o) noexcept;
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;
  ~WriterLock();  // releases the lock (closes its descriptor)

 private:
  int fd_ = -1;
};

}  // namespace qk
