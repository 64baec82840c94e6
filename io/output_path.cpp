#include "output_path.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "input_error.hpp"

namespace qk {

namespace fs = std::filesystem;

void check_output_path(const std::string& path) {
  std::error_code ec;
  const fs::path p(path);
  if (fs::is_directory(p, ec)) throw InputError(path, "is a directory, not a file to write");
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec))
    throw InputError(path, "cannot be written: directory '" + dir.string() + "' does not exist");
  if (access(dir.c_str(), W_OK) != 0)
    throw InputError(path, "cannot be written: directory '" + dir.string() + "' is not writable");
}

void check_new_output(const std::string& path, bool force) {
  check_output_path(path);
  struct stat st;
  if (!force && lstat(path.c_str(), &st) == 0) throw InputError(path, "exists; pass --force to replace it");
}

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa, sb;
  return stat(a.c_str(), &sa) == 0 && stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

void check_not_an_input(const std::string& out, const std::vector<std::string>& inputs) {
  for (const std::string& in : inputs)
    if (same_file(out, in))
      throw InputError(out, "is the input " + in + " (same file); write the output elsewhere");
}

namespace {

// Whether `name` is a file a Hugging Face model directory holds for its loaders: the
// config, tokenizer files and the safetensors weights with their index.
bool model_file_name(const std::string& name) {
  static const char* const kNames[] = {"config.json", "tokenizer.json", "tokenizer_config.json",
                                       "special_tokens_map.json", "generation_config.json"};
  for (const char* n : kNames)
    if (name == n) return true;
  const auto ends = [&](const std::string& tail) {
    return name.size() >= tail.size() && name.compare(name.size() - tail.size(), tail.size(), tail) == 0;
  };
  return ends(".safetensors") || ends(".safetensors.index.json");
}

}  // namespace

void check_not_a_model_file(const std::string& out, const std::string& model_dir) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(model_dir, ec))
    if (model_file_name(e.path().filename().string()) && same_file(out, e.path().string()))
      throw InputError(out, "is the model's own " + e.path().filename().string() + " (in " + model_dir +
                                "); write the output elsewhere");
}

std::string new_temp_file(const std::string& path) {
  std::string tmp = path + ".tmp-XXXXXX";
  const int fd = mkstemp(tmp.data());
  if (fd < 0) throw std::runtime_error(tmp + ": cannot create a temporary file: " + std::strerror(errno));
  const mode_t mask = umask(0);
  umask(mask);
  const int rc = fchmod(fd, 0666 & ~mask);
  close(fd);
  if (rc != 0) {
    std::remove(tmp.c_str());
    throw std::runtime_error(tmp + ": cannot set its mode: " + std::strerror(errno));
  }
  return tmp;
}

// Without `force` the check is atomic where the file system has RENAME_NOREPLACE.
void rename_onto(const std::string& tmp, const std::string& path, bool force) {
  if (!force) {
    if (renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) == 0) return;
    const int err = errno;
    if (err == EEXIST) throw InputError(path, "exists; pass --force to replace it");
    if (err != EINVAL && err != ENOSYS)
      throw std::runtime_error(path + ": cannot rename " + tmp + " to it: " + std::strerror(err));
    struct stat st;  // no RENAME_NOREPLACE on this file system
    if (lstat(path.c_str(), &st) == 0) throw InputError(path, "exists; pass --force to replace it");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw std::runtime_error(path + ": cannot rename " + tmp + " to it: " + std::strerror(errno));
}

void write_atomically(const std::string& path, bool force,
                      const std::function<void(const std::string& tmp)>& write) {
  const std::string tmp = new_temp_file(path);
  try {
    write(tmp);
    rename_onto(tmp, path, force);
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
}

}  // namespace qk
