#pragma once
// Merging the shards of a sweep into one results store (docs/hdf5-schema.md, "Merge").
#include <cstdint>
#include <string>
#include <vector>

namespace qk {

// Writes `out` (via out + ".tmp", then a rename) holding every committed probe of
// `shards` in ascending "probe/index", ragged columns and their offsets rebuilt: the
// same datasets a single run appending in index order writes. Root attributes come
// from the first shard, with "shard" = "merged" and "merged_from" = the shard paths,
// one a line. InputError when the shards' columns differ (naming shard and dataset)
// or an index appears twice. Copies in row blocks of about `block_bytes` (at least
// one probe a block).
void merge_stores(const std::string& out, const std::vector<std::string>& shards,
                  uint64_t block_bytes = 64ull << 20);

}  // namespace qk
