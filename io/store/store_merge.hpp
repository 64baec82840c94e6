#pragma once
// Merging the shards of a sweep into one results store (docs/hdf5-schema.md, "Merge").
#include <cstdint>
#include <string>
#include <vector>

namespace qk {

struct MergeOptions {
  bool force = false;                  // replace an existing output (never an input)
  bool allow_version_mix = false;      // shards may differ in engine_version and git_sha
  uint64_t block_bytes = 64ull << 20;  // rows are copied in blocks of about this size
};

// What a merge wrote.
struct MergeSummary {
  std::string status;  // "complete", or "partial": a shard missing or not complete
  int64_t probes = 0;
  int shard_count = 0;                           // N of the shards' i/N
  std::vector<int> merged, missing, incomplete;  // shard indices, ascending
};

// Writes `out` atomically (a temporary file in its directory, renamed onto it) holding
// every committed probe of `inputs` (shard files, or earlier merges) in ascending
// "probe/index", ragged columns and their offsets rebuilt: the datasets a single run
// appending in index order writes. Before any writing, InputError (exit 3) when `out`
// exists without `force`, is one of the inputs (same device and inode), an input is
// given twice, the inputs' identity attributes or columns differ (naming the attribute
// or dataset), two inputs hold one shard or one probe index, or a probe's index is not
// of its shard (index % N). Root attributes: see merged_attrs (store_merge_attrs.hpp).
MergeSummary merge_stores(const std::string& out, const std::vector<std::string>& inputs,
                          const MergeOptions& options = {});

}  // namespace qk
