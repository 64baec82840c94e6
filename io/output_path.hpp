#pragma once
// Output files: checks, before any long work, that a result file can be written where it
// is asked for and does not replace an existing file without --force, and an atomic
// writer (a temporary file in the same directory, renamed onto the target).
#include <functional>
#include <string>
#include <vector>

namespace qk {

// InputError naming `path` when its directory does not exist, is not a directory or is
// not writable, or when `path` is an existing directory.
void check_output_path(const std::string& path);

// check_output_path, and unless `force` an InputError when `path` exists (a dangling
// symlink counts): "exists; pass --force to replace it".
void check_new_output(const std::string& path, bool force);

// Whether two paths name one file: same device and inode, symlinks followed (so hard
// links and symlinks to one file are the same). False when either does not exist.
bool same_file(const std::string& a, const std::string& b);

// InputError naming `out` when it is (same_file) one of `inputs`: an output never
// replaces an input, --force or not.
void check_not_an_input(const std::string& out, const std::vector<std::string>& inputs);

// InputError naming `out` when it is (same_file) one of the files of the model directory
// `model_dir` its loaders read (config.json, tokenizer files, *.safetensors and their
// index), --force or not.
void check_not_a_model_file(const std::string& out, const std::string& model_dir);

// The two steps of write_atomically, for a writer that cannot take a callback: a new,
// empty temporary file "<path>.tmp-XXXXXX" beside `path` (mode 0666 less the umask), and
// its rename onto `path` (without `force`, InputError when `path` exists by then).
std::string new_temp_file(const std::string& path);
void rename_onto(const std::string& tmp, const std::string& path, bool force);

// Writes `path` by `write(tmp)`, `tmp` a new, empty file "<path>.tmp-XXXXXX" in the same
// directory (mode 0666 less the umask), then renames it onto `path`: a reader sees the
// old file or the new one, never a part, and the old one is never truncated. A symlink
// at `path` is replaced, not written through. Without `force` the rename refuses
// (InputError) a `path` that exists by then. `tmp` is removed when anything fails.
void write_atomically(const std::string& path, bool force,
                      const std::function<void(const std::string& tmp)>& write);

}  // namespace qk
