#pragma once
// The root attributes of a merge (docs/hdf5-schema.md, "Merge"): reading each input's
// shard and provenance, checking that the inputs come from one run (the identity
// attributes agree), and the merged file's attributes.
#include <hdf5.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "results_store.hpp"

namespace qk {

// One input of a merge: a shard file ("shard" = "i/N"), or an earlier merge's output
// ("shard" = "merged"), which covers the shards it lists in "merged_shards".
struct MergeInput {
  std::string path;
  std::map<std::string, std::string> attrs;  // string root attributes
  bool has_version = false;
  int64_t schema_version = 0;
  int shard_count = 0;                  // N
  std::set<int> covers;                 // shard indices, each in [0, N)
  std::vector<nlohmann::json> records;  // per-shard provenance, one per covered shard
};

// The input at `path` (open as `file`, `rows` committed probes). InputError naming the
// attribute when "shard" is missing or malformed.
MergeInput read_merge_input(hid_t file, const std::string& path, int64_t rows);

// InputError(input path, naming the attribute and both values) at the first identity
// attribute that differs from the first input's, at a different shard count, or at a
// shard index covered twice. engine_version and git_sha count as per-shard with
// `allow_version_mix`.
void check_one_run(const std::vector<MergeInput>& in, bool allow_version_mix);

// What the merged file holds of the run's shards.
struct MergeCoverage {
  int shard_count = 0;
  std::vector<int> merged, missing, incomplete;  // ascending shard indices
  std::string status() const { return missing.empty() && incomplete.empty() ? "complete" : "partial"; }
};

MergeCoverage merge_coverage(const std::vector<MergeInput>& in);

// The merged file's string root attributes: the identity attributes, the per-shard ones
// every shard agrees on, and the merge's own (shard, status, probes_committed,
// shard_count, shards_merged/missing/incomplete, merged_from, merged_shards).
Attrs merged_attrs(const std::vector<MergeInput>& in, const MergeCoverage& cov, int64_t probes,
                   bool allow_version_mix);

}  // namespace qk
