// Test driver of the results store (tests/reference/test_results_store_h5py.py):
//   store_writer_tool create FILE [--batches N] [--batch B] [--sleep-ms MS] [--wide]
//                                 [--fsize-limit BYTES]
//     appends batches of B probes (indices 0, 1, 2, ...; N = 0: forever), printing
//     "committed <rows>" after each commit, then finishes (status "finished").
//   store_writer_tool resume FILE --total T [--batch B]
//     reopens, checks the committed indices are 0..rows-1, appends up to T, finishes.
//   store_writer_tool recover FILE      clears a crashed writer's status flags
//   store_writer_tool rows FILE         prints the committed count
// Exit: 0 ok, 2 usage, 3 store error (message on stderr), 5 wrong committed data.
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "results_store.hpp"
#include "store_test_data.hpp"

namespace {

int usage() {
  std::fprintf(stderr, "usage: store_writer_tool create|resume|recover|rows FILE [options]\n");
  return 2;
}

void committed(int64_t rows) {
  std::printf("committed %lld\n", static_cast<long long>(rows));
  std::fflush(stdout);
}

// The options after FILE (counts in probes, sleep in milliseconds, file size limit in bytes).
struct Options {
  int64_t batches = 0, batch = 4, total = 0, sleep_ms = 0, fsize = 0;
  bool wide = false;
};

// Parses argv[3..]; false on an unknown option (a missing value reads as -1).
bool parse_options(int argc, char** argv, Options& o) {
  for (int i = 3; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> int64_t { return i + 1 < argc ? std::atoll(argv[++i]) : -1; };
    if (a == "--batches")
      o.batches = next();
    else if (a == "--batch")
      o.batch = next();
    else if (a == "--total")
      o.total = next();
    else if (a == "--sleep-ms")
      o.sleep_ms = next();
    else if (a == "--fsize-limit")
      o.fsize = next();
    else if (a == "--wide")
      o.wide = true;
    else
      return false;
  }
  return true;
}

// Writes past `fsize` bytes fail with EFBIG instead of killing us with SIGXFSZ.
void limit_file_size(int64_t fsize) {
  std::signal(SIGXFSZ, SIG_IGN);
  const rlimit lim{static_cast<rlim_t>(fsize), static_cast<rlim_t>(fsize)};
  setrlimit(RLIMIT_FSIZE, &lim);
}

namespace st = qk::store_test;

// `create`: a new store, then batches of o.batch probes (o.batches = 0: forever); exit code.
int run_create(const std::string& file, const Options& o) {
  qk::ResultsStore s = qk::ResultsStore::create(
      file, st::columns(o.wide), {{"model", "test-model"}, {"shard", "0/1"}, {"status", "running"}}, 1, true);
  committed(s.rows());
  for (int64_t k = 0; o.batches == 0 || k < o.batches; ++k) {
    s.append(st::batch(st::range(k * o.batch, (k + 1) * o.batch), o.wide));
    committed(s.rows());
    if (o.sleep_ms > 0) usleep(static_cast<useconds_t>(o.sleep_ms * 1000));
  }
  s.finish({{"status", "finished"}});
  return 0;
}

// `resume`: checks the committed indices are 0..rows-1 (else 5), appends up to o.total; exit code.
int run_resume(const std::string& file, const Options& o) {
  qk::ResultsStore s = qk::ResultsStore::reopen(file, st::columns(o.wide));
  const std::vector<int64_t> have = s.read_i64("probe/index");
  if (have != st::range(0, s.rows())) {
    std::fprintf(stderr, "committed indices are not 0..%lld\n", static_cast<long long>(s.rows()) - 1);
    return 5;
  }
  committed(s.rows());
  while (s.rows() < o.total) {
    s.append(st::batch(st::range(s.rows(), std::min(o.total, s.rows() + o.batch)), o.wide));
    committed(s.rows());
  }
  s.finish({{"status", "finished"}});
  return 0;
}

// Runs command `cmd` on `file`; the exit code, or -1 for an unknown command.
int run_command(const std::string& cmd, const std::string& file, const Options& o) {
  if (cmd == "recover") {
    qk::clear_crash_flags(file);
    return 0;
  }
  if (cmd == "rows") {
    std::printf("%lld\n", static_cast<long long>(qk::committed_rows(file)));
    return 0;
  }
  if (cmd == "create") return run_create(file, o);
  if (cmd == "resume") return run_resume(file, o);
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  const std::string cmd = argv[1], file = argv[2];
  Options o;
  if (!parse_options(argc, argv, o)) return usage();
  if (o.batch <= 0) return usage();
  if (o.fsize > 0) limit_file_size(o.fsize);
  int rc = -1;
  try {
    rc = run_command(cmd, file, o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    // After a failed write HDF5 1.10 may crash in its exit handler: skip it.
    std::fflush(nullptr);
    std::_Exit(3);
  }
  return rc >= 0 ? rc : usage();
}
