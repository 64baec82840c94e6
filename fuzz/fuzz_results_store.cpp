// libFuzzer: a results file opened read-only the ways resume, export and merge open it
// (io/store): its committed count, a CSV export and a one-shard merge. InputError (bad
// file) and StoreError (HDF5 refused the file) are the expected answers; anything else
// is a bug.
#include <cstdint>
#include <string>

#include "fuzz_file.hpp"
#include "input_error.hpp"
#include "results_store.hpp"
#include "store_export.hpp"
#include "store_merge.hpp"

namespace {

template <typename F>
void expect_clean(F&& f) {
  try {
    f();
  } catch (const qk::InputError&) {
  } catch (const qk::StoreError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  qk::fuzz::FuzzFile f(data, size, ".h5");
  const std::string csv_dir = qk::fuzz::scratch_path("_csv");
  const std::string merged = qk::fuzz::scratch_path("_merged.h5");
  expect_clean([&] { qk::committed_rows(f.path); });
  expect_clean([&] { qk::export_csv(f.path, csv_dir); });
  expect_clean([&] { qk::merge_stores(merged, {f.path}); });
  for (const auto& p : {csv_dir, merged, merged + ".tmp"}) qk::fuzz::remove_scratch(p);
  return 0;
}
