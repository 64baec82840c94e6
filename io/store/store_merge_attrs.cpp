#include "store_merge_attrs.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "h5_text.hpp"
#include "h5_util.hpp"
#include "input_error.hpp"
#include "json_limits.hpp"

namespace qk {

namespace {

// Attributes each shard has its own value of; recorded per shard in "merged_shards".
const std::set<std::string> kPerShard = {
    "shard",       "command_line", "hostname",         "model_path",    "probes_path",
    "device",      "gpu_name",     "batch_tokens",     "cpu_threads",   "started_at",
    "finished_at", "status",       "probes_committed", "skipped_count", "skipped",
    "batch_mode"};
// The engine build: identity, unless --allow-version-mix.
const std::set<std::string> kVersion = {"engine_version", "git_sha"};
// Written by the merge itself (and the store's column list).
const std::set<std::string> kMergeOwn = {"columns",       "merged_from",    "merged_shards",    "shard_count",
                                         "shards_merged", "shards_missing", "shards_incomplete"};
// Identity attributes compared first, in this order (any other one after them).
const char* const kIdentityOrder[] = {"model_config_sha256",
                                      "model_weights_index_sha256",
                                      "probes_sha256",
                                      "dtype",
                                      "template",
                                      "metrics",
                                      "mode",
                                      "save_kv",
                                      "on_nonfinite",
                                      "engine",
                                      "engine_version",
                                      "git_sha"};

bool is_identity(const std::string& key, bool mix) {
  return !kPerShard.count(key) && !kMergeOwn.count(key) && !(mix && kVersion.count(key));
}

// "i/N" with 0 <= i < N; false otherwise.
bool parse_shard(const std::string& s, int* i, int* n) {
  char rest = 0;
  return std::sscanf(s.c_str(), "%d/%d%c", i, n, &rest) == 2 && *n >= 1 && *i >= 0 && *i < *n;
}

// A shard file's provenance record: path, shard index, committed probes and its
// per-shard attributes ("status" = "unfinished" when it has none: killed or running).
nlohmann::json shard_record(const MergeInput& in, int index, int64_t rows) {
  nlohmann::json r = {
      {"path", std::filesystem::absolute(in.path).string()}, {"shard", index}, {"probes", rows}};
  for (const auto& [k, v] : in.attrs)
    if ((kPerShard.count(k) || kVersion.count(k)) && k != "shard" && k != "probes_committed") {
      try {
        (void)nlohmann::json(v).dump();  // the provenance record is JSON: UTF-8 only
      } catch (const nlohmann::json::type_error&) {
        throw InputError(in.path, "attribute '" + k + "' is not valid UTF-8");
      }
      r[k] = v;
    }
  if (!r.contains("status")) r["status"] = "unfinished";
  return r;
}

// The shards an earlier merge's output covers, from its "shard_count" and "merged_shards".
void read_merged_input(MergeInput& in) {
  const auto n = in.attrs.find("shard_count"), list = in.attrs.find("merged_shards");
  if (n == in.attrs.end() || list == in.attrs.end())
    throw InputError(in.path, "is a merged file without 'shard_count' and 'merged_shards' attributes");
  check_json_limits(list->second, in.path + ": attribute 'merged_shards'");
  try {
    in.shard_count = std::stoi(n->second);
    for (const nlohmann::json& r : nlohmann::json::parse(list->second)) {
      const int i = r.at("shard").get<int>();
      if (i < 0 || i >= in.shard_count || !in.covers.insert(i).second) throw std::out_of_range("shard");
      in.records.push_back(r);
    }
  } catch (const std::exception&) {
    throw InputError(in.path, "attribute 'merged_shards' is not a list of distinct shards of " + n->second);
  }
}

std::string quoted(const std::map<std::string, std::string>& m, const std::string& key) {
  const auto it = m.find(key);
  return it == m.end() ? "missing" : "'" + it->second + "'";
}

// InputError(b) at the first identity attribute whose value differs from a's.
void compare_attrs(const MergeInput& a, const MergeInput& b, bool mix) {
  std::vector<std::string> keys(std::begin(kIdentityOrder), std::end(kIdentityOrder));
  std::set<std::string> rest;
  for (const auto* m : {&a.attrs, &b.attrs})
    for (const auto& kv : *m)
      if (std::find(keys.begin(), keys.end(), kv.first) == keys.end()) rest.insert(kv.first);
  keys.insert(keys.end(), rest.begin(), rest.end());
  for (const std::string& k : keys) {
    if (!is_identity(k, mix)) continue;
    const std::string va = quoted(a.attrs, k), vb = quoted(b.attrs, k);
    if (va != vb)
      throw InputError(b.path, "attribute '" + k + "' is " + vb + " here but " + va + " in " + a.path +
                                   ": not a shard of the same sweep (docs/sweep.md, \"Merging shards\")");
  }
}

std::string joined(const std::vector<int>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

// Appends each per-shard attribute (but shard, status, probes_committed) that every
// record has with one value.
void add_agreed(const std::vector<nlohmann::json>& records, bool mix, Attrs& out) {
  std::set<std::string> keys = kPerShard;
  if (mix) keys.insert(kVersion.begin(), kVersion.end());
  for (const char* own : {"shard", "status", "probes_committed"}) keys.erase(own);
  for (const std::string& k : keys) {
    const nlohmann::json first = records.front().value(k, nlohmann::json());
    auto agrees = [&](const nlohmann::json& r) { return r.value(k, nlohmann::json()) == first; };
    if (first.is_string() && std::all_of(records.begin(), records.end(), agrees))
      out.emplace_back(k, first.get<std::string>());
  }
}

// Whether stores of schema versions `a` and `b` merge: equal, or v4 and v5, whose columns
// differ only in how strings are stored (merge reads both), so that a merge of v4 shards
// (v5) merges with the other v4 shards.
bool same_layout(int64_t a, int64_t b) {
  const int64_t text = h5::kTextSchemaVersion;
  return a == b || (std::min(a, b) == text - 1 && std::max(a, b) == text);
}

}  // namespace

MergeInput read_merge_input(hid_t file, const std::string& path, int64_t rows) {
  MergeInput in;
  in.path = path;
  for (auto& [k, v] : h5::read_string_attrs(file)) in.attrs[k] = v;
  in.schema_version = h5::read_int_attr(file, "schema_version", &in.has_version);
  const auto shard = in.attrs.find("shard");
  if (shard == in.attrs.end())
    throw InputError(path, "attribute 'shard' is missing: not a sweep shard (sweep --shard i/N writes it)");
  if (shard->second == "merged") {
    read_merged_input(in);
    return in;
  }
  int i = 0, n = 0;
  if (!parse_shard(shard->second, &i, &n))
    throw InputError(path, "attribute 'shard' is '" + shard->second + "', not i/N with 0 <= i < N");
  in.shard_count = n;
  in.covers.insert(i);
  in.records.push_back(shard_record(in, i, rows));
  return in;
}

void check_one_run(const std::vector<MergeInput>& in, bool allow_version_mix) {
  const MergeInput& a = in.front();
  std::map<int, const MergeInput*> owner;
  for (const MergeInput& b : in) {
    if (b.has_version != a.has_version || !same_layout(b.schema_version, a.schema_version))
      throw InputError(b.path, "attribute 'schema_version' is " + std::to_string(b.schema_version) +
                                   " here but " + std::to_string(a.schema_version) + " in " + a.path);
    if (b.shard_count != a.shard_count)
      throw InputError(b.path, "attribute 'shard' is of " + std::to_string(b.shard_count) +
                                   " shards here but of " + std::to_string(a.shard_count) + " in " + a.path);
    if (&b != &a) compare_attrs(a, b, allow_version_mix);
    for (int i : b.covers) {
      const auto [it, fresh] = owner.emplace(i, &b);
      if (!fresh)
        throw InputError(b.path, "holds shard " + std::to_string(i) + "/" + std::to_string(b.shard_count) +
                                     ", as " + it->second->path + " does");
    }
  }
}

MergeCoverage merge_coverage(const std::vector<MergeInput>& in) {
  MergeCoverage cov;
  cov.shard_count = in.front().shard_count;
  std::map<int, std::string> status;
  for (const MergeInput& m : in)
    for (const nlohmann::json& r : m.records) status[r.at("shard").get<int>()] = r.value("status", "");
  for (int i = 0; i < cov.shard_count; ++i) {
    const auto it = status.find(i);
    if (it == status.end()) {
      cov.missing.push_back(i);
      continue;
    }
    cov.merged.push_back(i);
    if (it->second != "complete") cov.incomplete.push_back(i);
  }
  return cov;
}

Attrs merged_attrs(const std::vector<MergeInput>& in, const MergeCoverage& cov, int64_t probes,
                   bool allow_version_mix) {
  Attrs out;
  for (const auto& [k, v] : in.front().attrs)
    if (is_identity(k, allow_version_mix)) out.emplace_back(k, v);
  std::vector<nlohmann::json> records;
  std::string from;
  for (const MergeInput& m : in) {
    records.insert(records.end(), m.records.begin(), m.records.end());
    from += (from.empty() ? "" : "\n") + m.path;
  }
  std::sort(records.begin(), records.end(), [](const nlohmann::json& x, const nlohmann::json& y) {
    return x.at("shard").get<int>() < y.at("shard").get<int>();
  });
  add_agreed(records, allow_version_mix, out);
  const Attrs own = {{"shard", "merged"},
                     {"status", cov.status()},
                     {"probes_committed", std::to_string(probes)},
                     {"shard_count", std::to_string(cov.shard_count)},
                     {"shards_merged", joined(cov.merged)},
                     {"shards_missing", joined(cov.missing)},
                     {"shards_incomplete", joined(cov.incomplete)},
                     {"merged_from", from},
                     {"merged_shards", nlohmann::json(records).dump()}};
  out.insert(out.end(), own.begin(), own.end());
  return out;
}

}  // namespace qk
