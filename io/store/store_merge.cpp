#include "store_merge.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>

#include "h5_stored.hpp"
#include "h5_text.hpp"
#include "h5_util.hpp"
#include "input_error.hpp"
#include "output_path.hpp"
#include "results_store.hpp"
#include "store_merge_attrs.hpp"
#include "store_schema.hpp"

namespace qk {

namespace {

struct Shard {
  std::string path;
  h5::Id file;
  MergeInput in;                                    // attributes and shards covered
  std::vector<h5::Id> ds;                           // per column of the merged store
  std::vector<int64_t> index;                       // committed probe/index values
  std::vector<std::vector<int64_t>> offset, count;  // per ragged group, per probe
  std::vector<uint64_t> text;                       // per probe: bytes of its string values
};

struct Probe {
  int64_t index;
  int shard;
  int64_t row;
};

// A run of source rows copied to consecutive destination rows.
struct Run {
  int shard;
  int64_t src, len, dst;
};

// Rows [0, n) of i64 dataset `name`; InputError when it has fewer.
std::vector<int64_t> read_i64_rows(hid_t file, const std::string& name, int64_t n, const std::string& path) {
  if (n == 0) return {};
  h5::Id ds(
      h5::check(H5Dopen2(file, name.c_str(), H5P_DEFAULT), path, "cannot open dataset '/" + name + "'"));
  h5::require_rows(ds.get(), static_cast<uint64_t>(n), path, name);
  std::vector<int64_t> v(static_cast<size_t>(n));
  h5::Id fspace(H5Dget_space(ds.get()));
  const hsize_t off = 0, cnt = static_cast<hsize_t>(n);
  H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, &off, nullptr, &cnt, nullptr);
  h5::Id mspace(H5Screate_simple(1, &cnt, nullptr));
  h5::check_status(H5Dread(ds.get(), H5T_NATIVE_INT64, mspace.get(), fspace.get(), H5P_DEFAULT, v.data()),
                   path, "cannot read dataset '/" + name + "'");
  return v;
}

// The file space of rows [src, src + len) of column `c` in `ds`.
h5::Id run_space(hid_t ds, const ColumnSpec& c, int64_t src, int64_t len, const std::string& path) {
  h5::Id fspace(h5::check(H5Dget_space(ds), path, "cannot get the space of '/" + c.path + "'"));
  std::vector<hsize_t> off(1 + c.row_shape.size(), 0), cnt{static_cast<hsize_t>(len)};
  off[0] = static_cast<hsize_t>(src);
  for (uint64_t d : c.row_shape) cnt.push_back(d);
  h5::check_status(
      H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, off.data(), nullptr, cnt.data(), nullptr), path,
      "rows " + std::to_string(src) + ".." + std::to_string(src + len) + " are outside dataset '/" + c.path +
          "'");
  return fspace;
}

// Reads rows [src, src + len) of numeric column `c` in `ds` into `dst` (its memory layout).
void read_run(hid_t ds, const ColumnSpec& c, uint64_t elems, int64_t src, int64_t len, void* dst,
              const std::string& path) {
  if (elems == 0) return;
  const h5::Id fspace = run_space(ds, c, src, len, path);
  const hsize_t n = static_cast<hsize_t>(len) * elems;
  h5::Id mspace(H5Screate_simple(1, &n, nullptr));
  h5::Id mtype(h5::memory_type(c.type));
  h5::check_status(H5Dread(ds, mtype.get(), mspace.get(), fspace.get(), H5P_DEFAULT, dst), path,
                   "cannot read dataset '/" + c.path + "'");
}

// The strings of rows [src, src + len) of string column `c` in `ds`.
std::vector<std::string> read_string_run(hid_t ds, const ColumnSpec& c, uint64_t elems, int64_t src,
                                         int64_t len, const std::string& path) {
  if (elems == 0 || len == 0) return {};
  const h5::Id fspace = run_space(ds, c, src, len, path);
  return h5::read_string_rows(ds, fspace.get(), static_cast<hsize_t>(len) * elems, path,
                              "dataset '/" + c.path + "'");
}

// Runs sorted by shard and source row, adjacent ones joined.
std::vector<Run> joined(std::vector<Run> runs) {
  std::sort(runs.begin(), runs.end(), [](const Run& a, const Run& b) {
    return a.shard != b.shard ? a.shard < b.shard : a.src < b.src;
  });
  std::vector<Run> out;
  for (const Run& r : runs) {
    if (r.len == 0) continue;
    if (!out.empty() && out.back().shard == r.shard && out.back().src + out.back().len == r.src &&
        out.back().dst + out.back().len == r.dst)
      out.back().len += r.len;
    else
      out.push_back(r);
  }
  return out;
}

// Copies `runs` of column `ci` from the shards into one ColumnData of `rows` rows.
ColumnData gather(std::vector<Shard>& shards, size_t ci, const ColumnSpec& c, const std::vector<Run>& runs,
                  int64_t rows) {
  const uint64_t elems = row_elems(c.row_shape);
  const size_t n = static_cast<size_t>(rows) * elems;
  ColumnData d;
  d.typed = true;
  d.type = c.type;
  if (c.type == ColType::Str) {
    d.strings.resize(n);
    for (const Run& r : runs) {
      Shard& s = shards[static_cast<size_t>(r.shard)];
      std::vector<std::string> v = read_string_run(s.ds[ci].get(), c, elems, r.src, r.len, s.path);
      std::move(v.begin(), v.end(), d.strings.begin() + r.dst * static_cast<int64_t>(elems));
    }
    return d;
  }
  const size_t esize = col_type_size(c.type);
  d.bytes.resize(n * esize);
  for (const Run& r : runs) {
    Shard& s = shards[static_cast<size_t>(r.shard)];
    read_run(s.ds[ci].get(), c, elems, r.src, r.len,
             d.bytes.data() + static_cast<size_t>(r.dst) * elems * esize, s.path);
  }
  return d;
}

// Bytes of one row of column `c` in memory (a text column: its offset; its text is not
// counted).
uint64_t row_bytes(const ColumnSpec& c) {
  return row_elems(c.row_shape) * (c.type == ColType::Str ? sizeof(int64_t) : col_type_size(c.type));
}

// Opens every input: its attributes and committed probe indices.
std::vector<Shard> open_inputs(const std::vector<std::string>& paths) {
  std::vector<Shard> shards(paths.size());
  for (size_t i = 0; i < paths.size(); ++i) {
    Shard& s = shards[i];
    s.path = paths[i];
    s.file = h5::open_for_read(s.path);
    h5::Id index(h5::check(H5Dopen2(s.file.get(), kIndexColumn, H5P_DEFAULT), s.path,
                           "cannot open dataset '/probe/index'"));
    const std::vector<hsize_t> dims = h5::dataset_dims(index.get(), s.path, kIndexColumn);
    if (dims.size() != 1) throw InputError(s.path, "dataset '/probe/index' is not one row per probe");
    h5::require_stored(index.get(), dims, sizeof(int64_t), sizeof(int64_t), "i64",
                       s.path + ": dataset '/probe/index'");
    const int64_t n = static_cast<int64_t>(dims[0]);
    s.in = read_merge_input(s.file.get(), s.path, n);
    s.index = read_i64_rows(s.file.get(), kIndexColumn, n, s.path);
  }
  return shards;
}

// InputError unless input `s` holds its committed rows: every per-probe column, and in
// every column of a ragged group each probe's token rows [offset, offset + count).
void check_rows(const Shard& s, const std::vector<ColumnSpec>& cols, const std::vector<std::string>& groups) {
  const size_t n = s.index.size();
  for (size_t ci = 0; ci < cols.size(); ++ci)
    if (!cols[ci].ragged) h5::require_rows(s.ds[ci].get(), n, s.path, cols[ci].path);
  for (size_t g = 0; g < groups.size(); ++g) {
    int64_t end = 0;
    for (size_t r = 0; r < n; ++r) {
      const int64_t o = s.offset[g][r], c = s.count[g][r];
      if (o < 0 || c < 0 || o > INT64_MAX - c)
        throw InputError(s.path, "row " + std::to_string(r) + " of " + groups[g] + "/offset and " +
                                     groups[g] + "/count (" + std::to_string(o) + ", " + std::to_string(c) +
                                     ") is not a range of token rows");
      end = std::max(end, o + c);
    }
    for (size_t ci = 0; ci < cols.size(); ++ci)
      if (cols[ci].ragged && column_group(cols[ci].path) == groups[g])
        h5::require_rows(s.ds[ci].get(), static_cast<uint64_t>(end), s.path, cols[ci].path);
  }
}

// Bytes of each committed probe's per-probe string values in input `s` (text columns:
// from their end offsets; HDF5 strings: their width), to size the merge's blocks.
std::vector<uint64_t> probe_text_bytes(const Shard& s, const std::vector<ColumnSpec>& cols) {
  const size_t n = s.index.size();
  std::vector<uint64_t> out(n, 0);
  for (size_t ci = 0; ci < cols.size(); ++ci) {
    if (cols[ci].type != ColType::Str || cols[ci].ragged) continue;
    const hid_t ds = s.ds[ci].get();
    if (!h5::is_text_column(ds)) {
      const h5::Id type(H5Dget_type(ds));
      const uint64_t w = type.ok() && H5Tis_variable_str(type.get()) <= 0 ? H5Tget_size(type.get()) : 0;
      for (uint64_t& b : out) b += w;
      continue;
    }
    const std::vector<int64_t> end =
        read_i64_rows(s.file.get(), cols[ci].path, static_cast<int64_t>(n), s.path);
    for (size_t r = 0; r < n; ++r)
      out[r] += static_cast<uint64_t>(std::max<int64_t>(0, end[r] - (r ? end[r - 1] : 0)));
  }
  return out;
}

// The first input's columns, checked against every other input's; opens each column
// and reads the ragged extents. A string column may be stored as text (v5) or as HDF5
// strings (v4 and before) in any input: the output holds text.
std::vector<ColumnSpec> open_columns(std::vector<Shard>& shards) {
  std::vector<ColumnSpec> cols;
  for (Shard& s : shards) {
    std::vector<ColumnSpec> have = read_columns(s.file.get(), s.path);
    if (&s == &shards.front()) cols = normalized_columns(have, s.path);
    check_same_columns(have, cols, s.path);
  }
  const std::vector<std::string> groups = ragged_groups(cols);
  for (size_t k = 0; k < shards.size(); ++k) {
    Shard& s = shards[k];
    for (const auto& c : cols)
      s.ds.emplace_back(h5::check(H5Dopen2(s.file.get(), c.path.c_str(), H5P_DEFAULT), s.path,
                                  "cannot open dataset '/" + c.path + "'"));
    const int64_t n = static_cast<int64_t>(s.index.size());
    for (const auto& g : groups) {
      s.offset.push_back(read_i64_rows(s.file.get(), g + "/offset", n, s.path));
      s.count.push_back(read_i64_rows(s.file.get(), g + "/count", n, s.path));
    }
    check_rows(s, cols, groups);
    s.text = probe_text_bytes(s, cols);
  }
  return cols;
}

// InputError at a probe whose index is not of its input's shards (index % N).
void check_shard_membership(const Shard& s) {
  const int n = s.in.shard_count;
  for (size_t r = 0; r < s.index.size(); ++r) {
    const int64_t i = s.index[r];
    if (i < 0 || !s.in.covers.count(static_cast<int>(i % n)))
      throw InputError(s.path, "probe index " + std::to_string(i) + " (row " + std::to_string(r) +
                                   ") is not of this file's shard(s) (index % " + std::to_string(n) + ")");
  }
}

// Every committed probe of the shards, by ascending index; InputError at an index held twice.
std::vector<Probe> ordered_probes(const std::vector<Shard>& shards) {
  std::vector<Probe> probes;
  for (size_t i = 0; i < shards.size(); ++i)
    for (size_t r = 0; r < shards[i].index.size(); ++r)
      probes.push_back(Probe{shards[i].index[r], static_cast<int>(i), static_cast<int64_t>(r)});
  std::stable_sort(probes.begin(), probes.end(),
                   [](const Probe& a, const Probe& b) { return a.index < b.index; });
  for (size_t k = 1; k < probes.size(); ++k)
    if (probes[k].index == probes[k - 1].index)
      throw InputError(shards[static_cast<size_t>(probes[k].shard)].path,
                       "probe index " + std::to_string(probes[k].index) + " is also in " +
                           shards[static_cast<size_t>(probes[k - 1].shard)].path);
  return probes;
}

// The end of the block of probes starting at `at`: within `block_bytes` (at least one probe).
size_t block_end(const std::vector<Shard>& shards, const std::vector<Probe>& probes, size_t at, size_t groups,
                 uint64_t probe_bytes, uint64_t token_bytes, uint64_t block_bytes) {
  size_t end = at;
  uint64_t bytes = 0;
  while (end < probes.size()) {
    const Probe& p = probes[end];
    uint64_t tokens = 0;
    for (size_t g = 0; g < groups; ++g)
      tokens +=
          static_cast<uint64_t>(shards[static_cast<size_t>(p.shard)].count[g][static_cast<size_t>(p.row)]);
    const uint64_t b = probe_bytes + tokens * token_bytes +
                       shards[static_cast<size_t>(p.shard)].text[static_cast<size_t>(p.row)];
    if (end > at && bytes + b > block_bytes) break;
    bytes += b;
    ++end;
  }
  return end;
}

// Probes [at, end) of every column as one batch.
StoreBatch gather_block(std::vector<Shard>& shards, const std::vector<ColumnSpec>& cols,
                        const std::vector<std::string>& groups, const std::vector<Probe>& probes, size_t at,
                        size_t end) {
  StoreBatch batch;
  batch.n = static_cast<int64_t>(end - at);
  std::vector<Run> probe_runs;
  for (size_t k = at; k < end; ++k)
    probe_runs.push_back(Run{probes[k].shard, probes[k].row, 1, static_cast<int64_t>(k - at)});
  probe_runs = joined(probe_runs);
  std::vector<std::vector<Run>> token_runs(groups.size());
  std::vector<std::vector<int64_t>> token_counts(groups.size());
  std::vector<int64_t> token_rows(groups.size(), 0);
  for (size_t g = 0; g < groups.size(); ++g) {
    for (size_t k = at; k < end; ++k) {
      const Shard& s = shards[static_cast<size_t>(probes[k].shard)];
      const size_t r = static_cast<size_t>(probes[k].row);
      token_runs[g].push_back(Run{probes[k].shard, s.offset[g][r], s.count[g][r], token_rows[g]});
      token_counts[g].push_back(s.count[g][r]);
      token_rows[g] += s.count[g][r];
    }
    token_runs[g] = joined(token_runs[g]);
  }
  for (size_t ci = 0; ci < cols.size(); ++ci) {
    const ColumnSpec& c = cols[ci];
    if (!c.ragged) {
      batch.cols.push_back(gather(shards, ci, c, probe_runs, batch.n));
      continue;
    }
    const size_t g =
        static_cast<size_t>(std::find(groups.begin(), groups.end(), column_group(c.path)) - groups.begin());
    batch.cols.push_back(gather(shards, ci, c, token_runs[g], token_rows[g]));
    batch.cols.back().counts = token_counts[g];
  }
  return batch;
}

// Writes the merged store to `tmp`.
void write_merged(const std::string& tmp, std::vector<Shard>& shards, const std::vector<ColumnSpec>& cols,
                  const std::vector<Probe>& probes, const Attrs& attrs, uint64_t block_bytes) {
  const MergeInput& first = shards.front().in;
  // Its text columns are those of schema v5, whatever the inputs' version.
  const int version = first.has_version
                          ? static_cast<int>(std::max<int64_t>(first.schema_version, h5::kTextSchemaVersion))
                          : 1;
  ResultsStore store = ResultsStore::create(tmp, cols, attrs, version, true);
  const std::vector<std::string> groups = ragged_groups(cols);
  uint64_t probe_bytes = 0, token_bytes = 0;
  for (const auto& c : cols) (c.ragged ? token_bytes : probe_bytes) += row_bytes(c);
  for (size_t at = 0; at < probes.size();) {
    const size_t end = block_end(shards, probes, at, groups.size(), probe_bytes, token_bytes, block_bytes);
    store.append(gather_block(shards, cols, groups, probes, at, end));
    at = end;
  }
  store.finish({});
}

// InputError when an input is named twice (same device and inode: links included).
void check_distinct_inputs(const std::vector<std::string>& paths) {
  for (size_t i = 0; i < paths.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (same_file(paths[i], paths[j]))
        throw InputError(paths[i], "is given twice (the same file as " + paths[j] + ")");
}

}  // namespace

MergeSummary merge_stores(const std::string& out, const std::vector<std::string>& inputs,
                          const MergeOptions& options) {
  h5::quiet();
  if (inputs.empty()) throw InputError(out, "merge needs at least one shard");
  check_not_an_input(out, inputs);
  check_new_output(out, options.force);
  check_distinct_inputs(inputs);
  std::vector<Shard> shards = open_inputs(inputs);
  std::vector<MergeInput> in;
  for (const Shard& s : shards) in.push_back(s.in);
  check_one_run(in, options.allow_version_mix);
  const std::vector<ColumnSpec> cols = open_columns(shards);
  for (const Shard& s : shards) check_shard_membership(s);
  const std::vector<Probe> probes = ordered_probes(shards);
  MergeSummary sum;
  const MergeCoverage cov = merge_coverage(in);
  sum.status = cov.status();
  sum.probes = static_cast<int64_t>(probes.size());
  sum.shard_count = cov.shard_count;
  sum.merged = cov.merged;
  sum.missing = cov.missing;
  sum.incomplete = cov.incomplete;
  const Attrs attrs = merged_attrs(in, cov, sum.probes, options.allow_version_mix);
  try {
    write_atomically(out, options.force, [&](const std::string& tmp) {
      write_merged(tmp, shards, cols, probes, attrs, options.block_bytes);
    });
  } catch (const StoreError& e) {  // named by the temporary file, in HDF5's words
    if (const int err = disk_full_errno(e.what()))
      throw StoreError(out, std::string(err == 27 ? "the file-size limit was reached" : "no space left") +
                                " while merging; nothing was written (free space and merge again)");
    throw;
  }
  return sum;
}

}  // namespace qk
