// Reads of variable-length strings that end the process cleanly on a damaged file:
// HDF5 1.10 copies a global-heap object by the size the heap records, unchecked (no
// checksum guards the heap), and one flipped bit there makes it fault inside memcpy.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "h5_util.hpp"

namespace qk::h5 {

namespace {

char g_message[1024];
size_t g_message_len = 0;

// SIGSEGV/SIGBUS while a guarded read runs: report the file, exit 3 (bad input).
void on_fault(int) {
  ssize_t ignored = write(STDERR_FILENO, g_message, g_message_len);
  (void)ignored;
  _exit(3);
}

}  // namespace

herr_t guarded_vlen_read(hid_t obj, const std::function<herr_t()>& read) {
  char name[512] = "";
  if (H5Fget_name(obj, name, sizeof name) < 0) name[0] = '\0';
  const int n = std::snprintf(g_message, sizeof g_message,
                              "qkgeom: error: %s: corrupt or truncated HDF5: a string heap is "
                              "damaged (HDF5 faulted reading it)\n",
                              name);
  g_message_len = n < 0 ? 0 : std::min(static_cast<size_t>(n), sizeof g_message - 1);
  struct sigaction act = {}, old_segv = {}, old_bus = {};
  act.sa_handler = on_fault;
  sigemptyset(&act.sa_mask);
  sigaction(SIGSEGV, &act, &old_segv);
  sigaction(SIGBUS, &act, &old_bus);
  const herr_t status = read();
  sigaction(SIGSEGV, &old_segv, nullptr);
  sigaction(SIGBUS, &old_bus, nullptr);
  return status;
}

}  // namespace qk::h5
