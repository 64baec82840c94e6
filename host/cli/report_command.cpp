// `qkgeom report RESULTS.h5 [--static STATIC.h5] [--compare CMP.h5] [--rope ROPE.h5] [--out FILE.html]
// [--force]`:
// one self-contained HTML page of a sweep (docs/report.md). The page is drawn in Python:
// this command replaces the process by `python3 -m qkgeom.report` with PYTHONPATH set to
// the build's python/ folder, found next to this executable.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "input_error.hpp"

namespace qk {

namespace {

namespace fs = std::filesystem;

struct ReportOptions {
  std::string results, static_h5, compare, rope, out;
  bool force = false;
};

// The build's python/ folder (build/python beside build/qkgeom), or empty when the
// executable's path cannot be read.
fs::path python_dir() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : self.parent_path() / "python";
}

// The interpreter: the one the build was configured with when it is there, else python3.
std::string python_interpreter() {
  std::error_code ec;
#if defined(QK_PYTHON)
  if (fs::exists(QK_PYTHON, ec)) return QK_PYTHON;
#endif
  return "python3";
}

// Bad input (exit 3) unless `path` (given as `what`) is a file.
void require_file(const std::string& path, const char* what) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw InputError(path, std::string("no such file (") + what + ")");
  if (fs::is_directory(path, ec))
    throw InputError(path, std::string("a directory, not a file (") + what + ")");
}

// Runs python -m qkgeom.report with the options; returns only when that cannot start.
int exec_report(const ReportOptions& o) {
  require_file(o.results, "RESULTS.h5");
  if (!o.static_h5.empty()) require_file(o.static_h5, "--static");
  if (!o.compare.empty()) require_file(o.compare, "--compare");
  if (!o.rope.empty()) require_file(o.rope, "--rope");
  const fs::path dir = python_dir();
  std::error_code ec;
  if (dir.empty() || !fs::exists(dir / "qkgeom" / "report" / "__main__.py", ec)) {
    std::cerr << "qkgeom: error: the Python package qkgeom is not built next to this executable ("
              << (dir.empty() ? "its path cannot be read" : (dir / "qkgeom").string())
              << "): run make build\n";
    return kExitRuntime;
  }
  const char* old = std::getenv("PYTHONPATH");
  const std::string path = dir.string() + (old != nullptr && *old != '\0' ? ":" + std::string(old) : "");
  setenv("PYTHONPATH", path.c_str(), 1);
  const std::string python = python_interpreter();
  std::vector<std::string> args = {python, "-m", "qkgeom.report", o.results};
  if (!o.static_h5.empty()) args.insert(args.end(), {"--static", o.static_h5});
  if (!o.compare.empty()) args.insert(args.end(), {"--compare", o.compare});
  if (!o.rope.empty()) args.insert(args.end(), {"--rope", o.rope});
  if (!o.out.empty()) args.insert(args.end(), {"--out", o.out});
  if (o.force) args.emplace_back("--force");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  execvp(argv[0], argv.data());
  std::cerr << "qkgeom: error: report runs " << python << " -m qkgeom.report, and " << python
            << " cannot be run: " << std::strerror(errno) << " (install Python 3 with make deps)\n";
  return kExitRuntime;
}

}  // namespace

Action add_report_command(CLI::App& app) {
  auto o = std::make_shared<ReportOptions>();
  CLI::App* sub = app.add_subcommand(
      "report", "one self-contained HTML page of a sweep's figures (with --static, its static geometry too)");
  sub->add_option("results", o->results,
                  "sweep store (qkgeom sweep); a running one is read up to its committed "
                  "probes")
      ->required();
  sub->add_option("--static", o->static_h5, "the same model's STATIC.h5 (qkgeom weights, then align)");
  sub->add_option("--compare", o->compare, "a CMP.h5 of qkgeom compare: its figures too");
  sub->add_option("--rope", o->rope,
                  "the same model's ROPE.h5 (qkgeom rope-geometry): band profiles, operator by offset, "
                  "implied vs measured attention by distance");
  sub->add_option("--out", o->out, "the HTML page (default: RESULTS with .html in place of .h5)");
  sub->add_flag("--force", o->force, "replace the page when it exists");
  sub->footer("Needs Python 3 with numpy, h5py, xarray, pandas and matplotlib (make deps). docs/report.md");
  return [o] { return exec_report(*o); };
}

}  // namespace qk
