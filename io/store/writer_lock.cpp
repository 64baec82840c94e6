#include "writer_lock.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "store_error.hpp"

namespace qk {

namespace {

// The locked byte: far past the end of any store, below every off_t limit.
constexpr off_t kLockByte = off_t{1} << 60;

}  // namespace

WriterLock WriterLock::acquire(const std::string& path, const std::string& busy, bool create) {
  WriterLock lock;
  lock.fd_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0666);
  if (lock.fd_ < 0)
    throw StoreError(path, std::string("cannot be opened for writing: ") + std::strerror(errno));
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = kLockByte;
  fl.l_len = 1;
  if (fcntl(lock.fd_, F_OFD_SETLK, &fl) == 0) return lock;
  const int err = errno;
  if (err == EAGAIN || err == EACCES) throw StoreError(path, busy);
  ::close(lock.fd_);  // no such locks here: nothing to hold
  lock.fd_ = -1;
  return lock;
}

WriterLock::WriterLock(WriterLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }

WriterLock& WriterLock::operator=(WriterLock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

WriterLock::~WriterLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace qk
