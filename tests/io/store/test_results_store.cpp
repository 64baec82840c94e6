// Results store (io/store): create / append / reopen, crash and EFBIG survival,
// schema errors, merge against a single run, CSV export.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "expect_input_error.hpp"
#include "h5_arrays.hpp"
#include "h5_text.hpp"
#include "h5_util.hpp"
#include "input_error.hpp"
#include "results_store.hpp"
#include "store_export.hpp"
#include "store_merge.hpp"
#include "store_test_data.hpp"

namespace {

namespace st = qk::store_test;

// A per-process scratch directory (runs from several build trees may overlap), removed
// when the tests end.
const std::string& temp_dir() {
  static const std::string dir = [] {
    const std::string d = ::testing::TempDir() + "qk_store_" + std::to_string(getpid()) + "/";
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

class TempDirCleanup : public ::testing::Environment {
 public:
  void TearDown() override { std::filesystem::remove_all(temp_dir()); }
};
const auto* const kCleanup = ::testing::AddGlobalTestEnvironment(new TempDirCleanup);

std::string temp_path(const std::string& name) {
  const std::string p = temp_dir() + name;
  std::filesystem::remove_all(p);
  return p;
}

qk::ResultsStore make_store(const std::string& p) {
  return qk::ResultsStore::create(p, st::columns(), {{"model", "m"}, {"shard", "0/1"}, {"status", "running"}},
                                  1);
}

// Every dataset of a file: shape and contents (numbers as native bytes, strings as text).
struct Dataset {
  std::vector<hsize_t> dims;
  std::vector<uint8_t> bytes;
  std::vector<std::string> strings;
  bool operator==(const Dataset& o) const {
    return dims == o.dims && bytes == o.bytes && strings == o.strings;
  }
};
using Dump = std::map<std::string, Dataset>;

herr_t visit(hid_t obj, const char* name, const H5O_info_t* info, void* data) {
  if (info->type != H5O_TYPE_DATASET) return 0;
  hid_t ds = H5Dopen2(obj, name, H5P_DEFAULT);
  hid_t type = H5Dget_type(ds);
  hid_t space = H5Dget_space(ds);
  Dataset d;
  d.dims.resize(static_cast<size_t>(H5Sget_simple_extent_ndims(space)));
  H5Sget_simple_extent_dims(space, d.dims.data(), nullptr);
  const size_t n = static_cast<size_t>(H5Sget_simple_extent_npoints(space));
  if (qk::h5::is_text_column(ds)) {  // its values; the bytes dataset is dumped as bytes
    d.strings = qk::h5::read_text_rows(ds, 0, n, name, name);
  } else if (H5Tget_class(type) == H5T_STRING && H5Tis_variable_str(type) <= 0) {  // fixed, NUL padded
    const size_t w = H5Tget_size(type);
    std::string buf(n * w, '\0');
    if (n) H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data());
    for (size_t i = 0; i < n; ++i) d.strings.push_back(buf.substr(i * w, w).c_str());
  } else if (H5Tget_class(type) == H5T_STRING) {
    hid_t mem = H5Tcopy(H5T_C_S1);
    H5Tset_size(mem, H5T_VARIABLE);
    H5Tset_cset(mem, H5T_CSET_UTF8);
    std::vector<char*> p(n, nullptr);
    if (n) H5Dread(ds, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, p.data());
    for (char* s : p) {
      d.strings.emplace_back(s ? s : "");
      H5free_memory(s);
    }
    H5Tclose(mem);
  } else {
    hid_t mem = H5Tget_native_type(type, H5T_DIR_ASCEND);
    d.bytes.resize(n * H5Tget_size(mem));
    if (n) H5Dread(ds, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, d.bytes.data());
    H5Tclose(mem);
  }
  H5Sclose(space);
  H5Tclose(type);
  H5Dclose(ds);
  (*static_cast<Dump*>(data))[name] = std::move(d);
  return 0;
}

Dump dump(const std::string& p) {
  Dump out;
  hid_t f = H5Fopen(p.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  EXPECT_GE(f, 0) << p;
  if (f < 0) return out;
  H5Ovisit2(f, H5_INDEX_NAME, H5_ITER_INC, visit, &out, H5O_INFO_BASIC);
  H5Fclose(f);
  return out;
}

std::string root_attr(const std::string& p, const std::string& name) {
  hid_t f = H5Fopen(p.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t a = H5Aopen(f, name.c_str(), H5P_DEFAULT);
  hid_t mem = H5Tcopy(H5T_C_S1);
  H5Tset_size(mem, H5T_VARIABLE);
  H5Tset_cset(mem, H5T_CSET_UTF8);
  char* s = nullptr;
  std::string out = "<absent>";
  const hid_t stored = a >= 0 ? H5Aget_type(a) : -1;
  if (stored >= 0 && H5Tis_variable_str(stored) <= 0) {  // fixed-length: the end-of-run ones
    std::string buf(H5Tget_size(stored), '\0');
    if (H5Aread(a, stored, buf.data()) >= 0) out = buf.c_str();
  } else if (a >= 0 && H5Aread(a, mem, &s) >= 0 && s) {
    out = s;
  }
  if (stored >= 0) H5Tclose(stored);
  H5free_memory(s);
  H5Tclose(mem);
  if (a >= 0) H5Aclose(a);
  H5Fclose(f);
  return out;
}

bool plain_open_works(const std::string& p) {
  hid_t f = H5Fopen(p.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f >= 0) H5Fclose(f);
  return f >= 0;
}

// Adds `extra` rows of garbage to dataset `name` (what a crash between phases leaves).
void grow(const std::string& p, const std::string& name, hsize_t extra) {
  hid_t f = H5Fopen(p.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  hid_t ds = H5Dopen2(f, name.c_str(), H5P_DEFAULT);
  hid_t space = H5Dget_space(ds);
  std::vector<hsize_t> dims(static_cast<size_t>(H5Sget_simple_extent_ndims(space)));
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  dims[0] += extra;
  ASSERT_GE(H5Dset_extent(ds, dims.data()), 0);
  H5Sclose(space);
  H5Dclose(ds);
  H5Fclose(f);
}

TEST(ResultsStore, CreateAppendReopenFinish) {
  const std::string p = temp_path("basic.h5");
  {
    qk::ResultsStore s = make_store(p);
    EXPECT_EQ(s.rows(), 0);
    s.append(st::batch(st::range(0, 3)));
    s.append(st::batch(st::range(3, 8)));
    EXPECT_EQ(s.rows(), 8);
    EXPECT_EQ(s.read_i64("probe/index"), st::range(0, 8));
    EXPECT_EQ(s.read_strings("probe/id")[3], "p3,\"q\"");
    EXPECT_EQ(qk::committed_rows(p), 8);
  }  // closed without finish
  {
    qk::ResultsStore s = qk::ResultsStore::reopen(p, st::columns());
    EXPECT_EQ(s.rows(), 8);
    s.append(st::batch(st::range(8, 11)));
    s.finish({{"status", "finished"}});
  }
  EXPECT_EQ(qk::committed_rows(p), 11);
  EXPECT_EQ(root_attr(p, "status"), "finished");
  EXPECT_EQ(root_attr(p, "model"), "m");
  const Dump d = dump(p);
  const Dump want = dump([&] {
    const std::string q = temp_path("basic_ref.h5");
    qk::ResultsStore s = make_store(q);
    s.append(st::batch(st::range(0, 11)));
    s.finish({});
    return q;
  }());
  EXPECT_EQ(d.size(), 13u);  // 9 columns + 2 text bytes datasets + kv/offset + kv/count
  EXPECT_TRUE(d == want);
  int64_t tokens = 0;
  for (int64_t i = 0; i < 11; ++i) tokens += st::tokens(i);
  EXPECT_EQ(d.at("kv/k").dims, (std::vector<hsize_t>{static_cast<hsize_t>(tokens), st::kDim}));
  EXPECT_EQ(d.at("attention/entropy").dims, (std::vector<hsize_t>{11, st::kLayers, st::kHeads}));
  std::vector<int64_t> offset(11);
  std::memcpy(offset.data(), d.at("kv/offset").bytes.data(), 11 * 8);
  EXPECT_EQ(offset[0], 0);
  EXPECT_EQ(offset[10], tokens - st::tokens(10));
  std::vector<float> k(static_cast<size_t>(tokens) * st::kDim);
  std::memcpy(k.data(), d.at("kv/k").bytes.data(), k.size() * 4);
  EXPECT_EQ(k[static_cast<size_t>(offset[9] + 2) * st::kDim + 3], 9 * 100 + 2 * 4 + 3);
  EXPECT_EQ(d.at("kv/token").strings[static_cast<size_t>(offset[7] + 1)], "t7.1");
}

// Rows a crash left past the committed ones are overwritten by later appends, and those
// no append reached are cut by finish: the file then equals an uninterrupted run's.
TEST(ResultsStore, UncommittedRowsAreOverwrittenThenCut) {
  const std::string p = temp_path("trunc.h5");
  {
    qk::ResultsStore s = make_store(p);
    s.append(st::batch(st::range(0, 6)));
  }
  grow(p, "bo/composite", 5);
  grow(p, "kv/k", 7);
  grow(p, "kv/offset", 2);
  grow(p, "probe/id", 1);
  {
    qk::ResultsStore s = qk::ResultsStore::reopen(p, st::columns());
    EXPECT_EQ(s.rows(), 6);
    s.append(st::batch(st::range(6, 9)));
    s.finish({});
  }
  const std::string q = temp_path("trunc_ref.h5");
  {
    qk::ResultsStore s = make_store(q);
    s.append(st::batch(st::range(0, 9)));
    s.finish({});
  }
  EXPECT_TRUE(dump(p) == dump(q));
}

TEST(ResultsStore, SurvivesSigkill) {
  const std::string p = temp_path("kill.h5");
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    qk::ResultsStore s = make_store(p);
    for (int64_t k = 0; k < 5; ++k) s.append(st::batch(st::range(k * 4, k * 4 + 4)));
    kill(getpid(), SIGKILL);
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(qk::committed_rows(p), 20);
  EXPECT_FALSE(plain_open_works(p)) << "a killed SWMR writer leaves its status flags";
  qk::clear_crash_flags(p);
  EXPECT_TRUE(plain_open_works(p));
  qk::ResultsStore s = qk::ResultsStore::reopen(p, st::columns());
  EXPECT_EQ(s.rows(), 20);
  EXPECT_EQ(s.read_i64("probe/index"), st::range(0, 20));
}

TEST(ResultsStore, ReopenCrashedFileDirectly) {
  const std::string p = temp_path("kill2.h5");
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    qk::ResultsStore s = make_store(p);
    s.append(st::batch(st::range(0, 3)));
    kill(getpid(), SIGKILL);
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  qk::ResultsStore s = qk::ResultsStore::reopen(p, st::columns());
  EXPECT_EQ(s.rows(), 3);
  s.append(st::batch(st::range(3, 5)));
  s.finish({});
  EXPECT_TRUE(plain_open_works(p));
  EXPECT_EQ(qk::committed_rows(p), 5);
}

TEST(ResultsStore, CreateErrors) {
  const std::string p = temp_path("errors.h5");
  make_store(p).finish({});
  expect_input_error([](const std::string& q) { make_store(q); }, p, "already exists");
  auto create_with = [](std::vector<qk::ColumnSpec> cols) {
    return [cols](const std::string& q) { qk::ResultsStore::create(q, cols, {}, 1, true); };
  };
  auto cols = st::columns();
  cols.erase(cols.begin());
  expect_input_error(create_with(cols), temp_path("e1.h5"), "probe/index");
  cols = st::columns();
  cols.push_back(cols[2]);
  expect_input_error(create_with(cols), temp_path("e2.h5"), "twice");
  cols = st::columns();
  cols.push_back({"kv/offset", qk::ColType::I64, {}, false, "", "", {}});
  expect_input_error(create_with(cols), temp_path("e3.h5"), "kv/offset");
  cols = st::columns();
  cols[3].dims = {"layer", "head"};
  expect_input_error(create_with(cols), temp_path("e4.h5"), "bo/layer");
  expect_input_error(
      [](const std::string& q) {
        qk::ResultsStore::create(q, st::columns(), {{"columns", "x"}}, 1, true);
      },
      temp_path("e5.h5"), "columns");
  EXPECT_THROW(qk::ResultsStore::create("/nonexistent_dir_qk/x.h5", st::columns(), {}, 1), qk::StoreError);
}

TEST(ResultsStore, ReopenSchemaMismatch) {
  const std::string p = temp_path("schema.h5");
  make_store(p).finish({});
  auto reopen_with = [](std::vector<qk::ColumnSpec> cols) {
    return [cols](const std::string& q) { qk::ResultsStore::reopen(q, cols); };
  };
  auto cols = st::columns();
  cols[2].type = qk::ColType::F32;
  expect_input_error(reopen_with(cols), p, "dataset '/bo/composite' holds f64, expected f32");
  cols = st::columns();
  cols[3].row_shape = {4};
  expect_input_error(reopen_with(cols), p, "dataset '/bo/layer' has row shape {3}, expected {4}");
  cols = st::columns();
  cols.push_back({"bo/extra", qk::ColType::F64, {}, false, "", "", {}});
  expect_input_error(reopen_with(cols), p, "dataset '/bo/extra' is missing");
  cols = st::columns();
  cols.erase(cols.begin() + 6);
  expect_input_error(reopen_with(cols), p, "dataset '/meta/neg' is in the file but not");
  expect_input_error(reopen_with(st::columns()), temp_path("absent.h5"), "does not exist");
}

TEST(ResultsStore, AppendChecksTheBatch) {
  const std::string p = temp_path("append_errors.h5");
  qk::ResultsStore s = make_store(p);
  qk::StoreBatch b = st::batch(st::range(0, 2));
  b.cols[2].bytes.pop_back();
  EXPECT_THROW(s.append(b), qk::InputError);
  b = st::batch(st::range(0, 2));
  b.cols[2] = qk::ColumnData::of(std::vector<float>{1, 2});
  EXPECT_THROW(s.append(b), qk::InputError);
  b = st::batch(st::range(0, 3));
  b.cols[8].counts[2] += 1;
  b.cols[8].strings.push_back("x");
  EXPECT_THROW(s.append(b), qk::InputError);
  EXPECT_EQ(s.rows(), 0);
  s.append(st::batch(st::range(0, 2)));  // nothing was half written by the refused ones
  EXPECT_EQ(s.rows(), 2);
  EXPECT_EQ(s.read_i64("probe/index"), st::range(0, 2));
}

// Writes `batches` (lists of indices) into a new store at p, as shard `shard` of a run of
// model `model`.
void write_store(const std::string& p, const std::vector<std::vector<int64_t>>& batches,
                 const std::string& shard, const std::string& model = "m") {
  qk::ResultsStore s = qk::ResultsStore::create(
      p, st::columns(), {{"model", model}, {"shard", shard}, {"status", "running"}}, 1, true);
  for (const auto& b : batches) s.append(st::batch(b));
  s.finish({{"status", "complete"}});
}

// No "<out>.tmp-*" file is left beside `out`.
bool no_temp_left(const std::string& out) {
  const std::filesystem::path o(out);
  for (const auto& e : std::filesystem::directory_iterator(o.parent_path()))
    if (e.path().filename().string().rfind(o.filename().string() + ".tmp", 0) == 0) return false;
  return true;
}

TEST(ResultsStore, MergeEqualsASingleRun) {
  const int64_t n = 47;
  const std::string single = temp_path("single.h5");
  write_store(single, {st::range(0, 10), st::range(10, 30), st::range(30, n)}, "0/1");
  // Shard 0: i % 3 == 0 ascending; shard 1: i % 3 == 1 descending; shard 2: shuffled.
  std::vector<int64_t> a, b, c;
  for (int64_t i = 0; i < n; ++i) (i % 3 == 0 ? a : i % 3 == 1 ? b : c).push_back(i);
  std::reverse(b.begin(), b.end());
  std::rotate(c.begin(), c.begin() + 5, c.end());
  const std::string s0 = temp_path("s0.h5"), s1 = temp_path("s1.h5"), s2 = temp_path("s2.h5");
  write_store(s0, {a}, "0/3");
  write_store(s1,
              {std::vector<int64_t>(b.begin(), b.begin() + 4), std::vector<int64_t>(b.begin() + 4, b.end())},
              "1/3");
  write_store(s2, {c}, "2/3");
  const std::string out = temp_path("merged.h5");
  const qk::MergeSummary sum = qk::merge_stores(out, {s0, s1, s2});
  EXPECT_TRUE(no_temp_left(out));
  EXPECT_EQ(sum.status, "complete");
  EXPECT_EQ(sum.probes, n);
  const Dump merged = dump(out), want = dump(single);
  ASSERT_EQ(merged.size(), want.size());
  for (const auto& [name, ds] : want) {
    ASSERT_TRUE(merged.count(name)) << name;
    EXPECT_TRUE(merged.at(name) == ds) << name;
  }
  EXPECT_EQ(root_attr(out, "shard"), "merged");
  EXPECT_EQ(root_attr(out, "merged_from"), s0 + "\n" + s1 + "\n" + s2);
  EXPECT_EQ(root_attr(out, "model"), "m");
  EXPECT_EQ(root_attr(out, "status"), "complete");
  EXPECT_EQ(root_attr(out, "probes_committed"), std::to_string(n));
  EXPECT_EQ(root_attr(out, "shards_merged"), "0,1,2");
  // In blocks of a few probes.
  const std::string small_blocks = temp_path("merged_blocks.h5");
  qk::MergeOptions blocks;
  blocks.block_bytes = 600;
  qk::merge_stores(small_blocks, {s2, s0, s1}, blocks);
  EXPECT_TRUE(dump(small_blocks) == want);
  // A shard whose tail was never committed (a crash) contributes its committed rows.
  std::vector<int64_t> even, odd;
  for (int64_t i = 0; i < n; ++i) (i % 2 ? odd : even).push_back(i);
  const std::string e = temp_path("even.h5"), o = temp_path("odd.h5");
  write_store(e, {even}, "0/2");
  write_store(o, {odd}, "1/2");
  grow(o, "kv/k", 3);
  grow(o, "bo/composite", 2);
  const std::string out2 = temp_path("merged2.h5");
  qk::merge_stores(out2, {o, e});
  EXPECT_EQ(qk::committed_rows(out2), n);
  EXPECT_TRUE(dump(out2) == want);
}

TEST(ResultsStore, MergeErrors) {
  const std::string s0 = temp_path("d0.h5"), s1 = temp_path("d1.h5"), out = temp_path("dm.h5");
  write_store(s0, {{0, 2}, {2}}, "0/2");
  write_store(s1, {{1, 4}}, "1/2");
  auto merge = [&](const std::vector<std::string>& in) {
    return [&, in](const std::string&) { qk::merge_stores(out, in); };
  };
  expect_input_error(merge({s0}), s0, "probe index 2 is also in " + s0);
  expect_input_error(merge({s1}), s1, "probe index 4 (row 1) is not of this file's shard");
  EXPECT_FALSE(std::filesystem::exists(out));
  EXPECT_TRUE(no_temp_left(out));
  write_store(s0, {{0, 2}}, "0/2");
  const std::string s2 = temp_path("d2.h5");
  auto cols = st::columns();
  cols[5].type = qk::ColType::I32;
  {
    qk::ResultsStore s = qk::ResultsStore::create(s2, cols, {{"model", "m"}, {"shard", "1/2"}}, 1);
    s.finish({});
  }
  expect_input_error(merge({s0, s2}), s2, "dataset '/attention/flag'");
  write_store(s1, {{1}}, "1/2", "other");
  expect_input_error(merge({s0, s1}), s1, "attribute 'model' is 'other' here but 'm' in " + s0);
  write_store(s1, {{1}}, "1/3");
  expect_input_error(merge({s0, s1}), s1, "attribute 'shard' is of 3 shards here but of 2");
  write_store(s1, {{4}}, "0/2");
  expect_input_error(merge({s0, s1}), s1, "holds shard 0/2, as " + s0 + " does");
  expect_input_error(merge({s0, s0}), s0, "is given twice");
  {
    qk::ResultsStore s = qk::ResultsStore::create(s2, st::columns(), {{"model", "m"}}, 1, true);
    s.finish({});
  }
  expect_input_error(merge({s2}), s2, "attribute 'shard' is missing");
  EXPECT_FALSE(std::filesystem::exists(out));
}

// An existing output is refused without force and replaced with it; an input never is.
TEST(ResultsStore, MergeOutputs) {
  const std::string s0 = temp_path("o0.h5"), out = temp_path("om.h5");
  write_store(s0, {{0, 2}}, "0/2");
  { std::ofstream(out) << "old"; }
  expect_input_error([&](const std::string&) { qk::merge_stores(out, {s0}); }, out, "exists; pass --force");
  qk::MergeOptions force;
  force.force = true;
  const qk::MergeSummary sum = qk::merge_stores(out, {s0}, force);
  EXPECT_EQ(qk::committed_rows(out), 2);
  EXPECT_EQ(sum.status, "partial");
  EXPECT_EQ(sum.missing, std::vector<int>{1});
  EXPECT_EQ(root_attr(out, "shards_missing"), "1");
  expect_input_error([&](const std::string&) { qk::merge_stores(s0, {s0}, force); }, s0, "is the input");
  EXPECT_TRUE(no_temp_left(out));
}

std::string read_text(const std::string& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(ResultsStore, ExportCsv) {
  const std::string p = temp_path("export.h5"), dir = temp_path("export_csv");
  write_store(p, {{3, 1}}, "0/1");
  qk::export_csv(p, dir);
  expect_input_error([&](const std::string&) { qk::export_csv(p, dir); }, dir, "exists; pass --force");
  qk::export_csv(p, dir, true);  // each file replaced
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) files.push_back(e.path().filename());
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, (std::vector<std::string>{"attention.csv", "attention_per_layer_head.csv", "bo.csv",
                                             "bo_per_layer.csv", "meta.csv", "probe.csv"}));
  EXPECT_EQ(read_text(dir + "/probe.csv"), "index,id\n3,\"p3,\"\"q\"\"\"\n1,\"p1\"\n");
  EXPECT_EQ(read_text(dir + "/bo.csv"), "index,id,composite\n3,\"p3,\"\"q\"\"\",1.75\n1,\"p1\",0.75\n");
  EXPECT_EQ(read_text(dir + "/bo_per_layer.csv"),
            "index,id,layer,layer\n"
            "3,\"p3,\"\"q\"\"\",0,3\n3,\"p3,\"\"q\"\"\",1,3.125\n3,\"p3,\"\"q\"\"\",2,3.25\n"
            "1,\"p1\",0,1\n1,\"p1\",1,1.125\n1,\"p1\",2,1.25\n");
  const std::string ent = read_text(dir + "/attention_per_layer_head.csv");
  EXPECT_EQ(ent.substr(0, ent.find('\n')), "index,id,layer,head,entropy");
  EXPECT_NE(ent.find("\n1,\"p1\",2,1,15\n"), std::string::npos) << ent;
  EXPECT_EQ(read_text(dir + "/attention.csv"), "index,id,flag\n3,\"p3,\"\"q\"\"\",3\n1,\"p1\",1\n");
  EXPECT_EQ(read_text(dir + "/meta.csv"), "index,id,neg\n3,\"p3,\"\"q\"\"\",-3\n1,\"p1\",-1\n");
}

TEST(ResultsStore, ExportFullPrecision) {
  const std::string p = temp_path("prec.h5"), dir = temp_path("prec_csv");
  std::vector<qk::ColumnSpec> cols = {{"probe/index", qk::ColType::I64, {}, false, "", "", {}},
                                      {"x/a", qk::ColType::F64, {}, false, "", "", {}},
                                      {"x/b", qk::ColType::F32, {}, false, "", "", {}}};
  qk::ResultsStore s = qk::ResultsStore::create(p, cols, {}, 1);
  qk::StoreBatch b;
  b.n = 1;
  b.cols = {qk::ColumnData::of(std::vector<int64_t>{0}), qk::ColumnData::of(std::vector<double>{0.1}),
            qk::ColumnData::of(std::vector<float>{0.1f})};
  s.append(b);
  s.finish({});
  qk::export_csv(p, dir);
  EXPECT_EQ(read_text(dir + "/x.csv"), "index,a,b\n0,0.10000000000000001,0.100000001\n");
}

// A row axis of size 0 (e.g. layer pairs of a 1-layer model) is stored as [N, 0].
TEST(ResultsStore, ZeroSizedRows) {
  const std::string p = temp_path("zero.h5"), dir = temp_path("zero_csv");
  std::vector<qk::ColumnSpec> cols = {{"probe/index", qk::ColType::I64, {}, false, "", "", {}},
                                      {"x/pairs", qk::ColType::F64, {0}, false, "", "", {"pair"}},
                                      {"x/a", qk::ColType::F64, {}, false, "", "", {}}};
  auto batch = [](int64_t i) {
    qk::StoreBatch b;
    b.n = 1;
    b.cols = {qk::ColumnData::of(std::vector<int64_t>{i}), qk::ColumnData::of(std::vector<double>{}),
              qk::ColumnData::of(std::vector<double>{0.5 * static_cast<double>(i)})};
    return b;
  };
  {
    qk::ResultsStore s = qk::ResultsStore::create(p, cols, {{"shard", "0/1"}}, 1);
    s.append(batch(1));
  }
  {
    qk::ResultsStore s = qk::ResultsStore::reopen(p, cols);
    s.append(batch(0));
    s.finish({});
  }
  const Dump d = dump(p);
  EXPECT_EQ(d.at("x/pairs").dims, (std::vector<hsize_t>{2, 0}));
  const std::string m = temp_path("zero_merged.h5");
  qk::merge_stores(m, {p});
  EXPECT_EQ(dump(m).at("x/pairs").dims, (std::vector<hsize_t>{2, 0}));
  qk::export_csv(m, dir);
  EXPECT_EQ(read_text(dir + "/x.csv"), "index,a\n0,0\n1,0.5\n");
  EXPECT_EQ(read_text(dir + "/x_per_pair.csv"), "index,pair,pairs\n");
}

// In a child limited to `limit` bytes per file: appends until a write fails; reports
// the rows committed and whether the error named the file and EFBIG, through a pipe.
TEST(ResultsStore, FileTooLargeKeepsCommittedRows) {
  const std::string p = temp_path("efbig.h5");
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    signal(SIGXFSZ, SIG_IGN);
    const rlimit lim{3000000, 3000000};
    setrlimit(RLIMIT_FSIZE, &lim);
    int64_t rows = -1;
    int named = 0;
    try {
      qk::ResultsStore s = qk::ResultsStore::create(p, st::columns(true), {}, 1);
      for (int64_t k = 0; k < 1000; ++k) {
        s.append(st::batch(st::range(k * 8, k * 8 + 8), true));
        rows = s.rows();
      }
    } catch (const qk::StoreError& e) {
      const std::string msg = e.what();
      named = msg.find(p) != std::string::npos && msg.find("too large") != std::string::npos;
      if (!named) std::fprintf(stderr, "message: %s\n", msg.c_str());
    } catch (...) {
    }
    const int64_t out[2] = {rows, named};
    if (write(fds[1], out, sizeof out) != sizeof out) _exit(2);
    _exit(0);
  }
  close(fds[1]);
  int64_t got[2] = {-2, 0};
  ASSERT_EQ(read(fds[0], got, sizeof got), static_cast<ssize_t>(sizeof got));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_GT(got[0], 0) << "no batch fitted under the limit";
  ASSERT_LT(got[0], 8000) << "the size limit never failed a write";
  EXPECT_TRUE(got[1]) << "the error should name the file and say 'File too large'";
  EXPECT_EQ(qk::committed_rows(p), got[0]);
  qk::ResultsStore s = qk::ResultsStore::reopen(p, st::columns(true));
  EXPECT_EQ(s.rows(), got[0]);
  EXPECT_EQ(s.read_i64("probe/index"), st::range(0, got[0]));
  s.append(st::batch(st::range(got[0], got[0] + 8), true));
  s.finish({});
  const Dump d = dump(p);
  std::vector<double> noise(static_cast<size_t>(got[0] + 8) * st::kWide);
  ASSERT_EQ(d.at("meta/noise").bytes.size(), noise.size() * 8);
  std::memcpy(noise.data(), d.at("meta/noise").bytes.data(), noise.size() * 8);
  for (int64_t i = 0; i < got[0] + 8; i += 5)
    EXPECT_EQ(noise[static_cast<size_t>(i) * st::kWide + 7], st::noise(i, 7));
}

// HDF5 strings end at a NUL: a string holding one is refused before anything is written
// (column values, root attributes), never stored cut short; other text is kept exactly.
// Text columns hold any bytes of any length, bitwise: NUL (an HDF5 string ended at it),
// emoji, bytes that are not UTF-8 (a lone surrogate's CESU-8 form, 0xFF), a 200 KB value
// among short ones (a fixed-length column took that width for every row: the file now
// grows by the bytes given); per probe and per token, through a reopen.
TEST(ResultsStore, StringsRoundTripBitwise) {
  const std::string p = temp_path("nul.h5");
  qk::ResultsStore s = make_store(p);
  const std::vector<std::string> odd = {"",
                                        std::string("p1\0x", 4),
                                        std::string("ends\0", 5),
                                        "\xC3\xA9\xF0\x9F\x98\x80\xE4\xB8\xAD",
                                        "lone \xED\xB3\xBF and \xFF",
                                        std::string(200000, 'x')};
  qk::StoreBatch b = st::batch(st::range(0, 6));
  b.cols[1].strings = odd;
  b.cols[8].strings[1] = std::string("\0", 1);  // a token of probe 2
  const std::vector<std::string> tokens = b.cols[8].strings;
  s.append(b);
  EXPECT_EQ(s.read_strings("probe/id"), odd);
  const auto size = [&] { return static_cast<int64_t>(std::filesystem::file_size(p)); };
  int64_t text = 0;
  for (const auto& v : odd) text += static_cast<int64_t>(v.size());
  EXPECT_LT(size(), text + 2 * 1024 * 1024);  // fixed width: 6 x 200 KB = 1.2 MB more
  { qk::ResultsStore s2 = std::move(s); }     // closed without finish, then resumed
  qk::ResultsStore r = qk::ResultsStore::reopen(p, st::columns());
  b = st::batch(st::range(6, 40));
  r.append(b);
  std::vector<std::string> ids = odd;
  ids.insert(ids.end(), b.cols[1].strings.begin(), b.cols[1].strings.end());
  EXPECT_EQ(r.read_strings("probe/id"), ids);
  EXPECT_LT(size(), text + 2 * 1024 * 1024);
  s = std::move(r);
  expect_input_error(
      [&](const std::string&) {
        s.finish({{"status", std::string("ok\0", 3)}});
      },
      p, "root attribute 'status' holds U+0000");
  s.finish({{"status", "complete"}});
  const Dump d = dump(p);
  EXPECT_EQ(d.at("probe/id").strings, ids);
  EXPECT_EQ(std::vector<std::string>(d.at("kv/token").strings.begin(),
                                     d.at("kv/token").strings.begin() + static_cast<int64_t>(tokens.size())),
            tokens);
  const std::string q = temp_path("nul_attr.h5");
  expect_input_error(
      [&](const std::string&) {
        qk::ResultsStore::create(q, st::columns(), {{"model", std::string("m\0x", 3)}}, 1);
      },
      q, "root attribute 'model' holds U+0000 (NUL) at byte 1");
  EXPECT_FALSE(std::filesystem::exists(q));
}

// Offsets that are not ascending or point past the bytes (a damaged file) are an
// InputError naming the row; rows past the committed ones (stale after a crash) are not read.
TEST(ResultsStore, DamagedTextOffsets) {
  const std::string p = temp_path("badtext.h5");
  {
    qk::ResultsStore s = make_store(p);
    s.append(st::batch(st::range(0, 5)));
    s.finish({});
  }
  hid_t f = H5Fopen(p.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  hid_t ds = H5Dopen2(f, "probe/id", H5P_DEFAULT);
  const std::vector<int64_t> bad = {2, 4, 1000, 1002, 1004};
  H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, bad.data());
  hid_t sp = H5Dget_space(ds);
  expect_input_error(
      [&](const std::string& path) { qk::h5::read_string_rows(ds, sp, 5, path, "'/probe/id'"); }, p,
      "'/probe/id': row 2 ends at byte 1000, not between 4 and the");
  // read_strings reads the committed rows only: damage among them is an InputError (it
  // used to stop before it, and compare then said the column had fewer rows).
  EXPECT_EQ(qk::read_strings(f, "probe/id", p, 2), (std::vector<std::string>{"p0", "p1"}));
  expect_input_error([&](const std::string& path) { qk::read_strings(f, "probe/id", path, 5); }, p,
                     "dataset '/probe/id': row 2 ends at byte 1000");
  // A resume of a file whose committed offsets go back: InputError (it appended to them).
  const std::vector<int64_t> back = {2, 1, 4, 6, 8};
  H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, back.data());
  H5Sclose(sp);
  H5Dclose(ds);
  H5Fclose(f);
  expect_input_error([&](const std::string& path) { qk::ResultsStore::reopen(path, st::columns()); }, p,
                     "dataset '/probe/id': row 1 ends at byte 1, before byte 2 where it starts");
  // A resume of a file whose bytes dataset is gone: InputError (it was exit 4, HDF5's words).
  f = H5Fopen(p.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  H5Ldelete(f, "probe/id_utf8", H5P_DEFAULT);
  H5Fclose(f);
  expect_input_error(
      [&](const std::string& path) { qk::ResultsStore::reopen(path, st::columns()); }, p,
      "dataset '/probe/id': its bytes dataset '/probe/id_utf8' (attribute 'utf8_bytes') is missing");
}

// An integer attribute of several values is not one value: H5Aread used to write them all
// into room for one (the class fuzz_snapshot_hdf5 found in the snapshot's dtype tag).
TEST(H5Util, IntAttributeOfManyValuesIsNotFound) {
  const std::string p = ::testing::TempDir() + "qk_store_intattr_" + std::to_string(getpid()) + ".h5";
  const hid_t f = H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  const hsize_t n = 64;
  const hid_t sp = H5Screate_simple(1, &n, nullptr);
  const hid_t a = H5Acreate2(f, "schema_version", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
  const std::vector<int64_t> values(n, 3);
  H5Awrite(a, H5T_NATIVE_INT64, values.data());
  H5Aclose(a);
  H5Sclose(sp);
  bool found = true;
  EXPECT_EQ(qk::h5::read_int_attr(f, "schema_version", &found), 0);
  EXPECT_FALSE(found);
  H5Fclose(f);
  std::filesystem::remove(p);
}

// A string column replaced by numbers (h5py: f['probe/id'] = np.arange(12)) is refused by
// name: its integers used to be read as fixed-length "strings" of their bytes.
TEST(H5Util, NumbersAreNotStrings) {
  const std::string p = ::testing::TempDir() + "qk_store_intid_" + std::to_string(getpid()) + ".h5";
  const hid_t f = H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  const hsize_t n = 12;
  const hid_t sp = H5Screate_simple(1, &n, nullptr);
  const hid_t g = H5Gcreate2(f, "probe", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const hid_t ds = H5Dcreate2(g, "id", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const std::vector<int64_t> ids = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, ids.data());
  expect_input_error([&](const std::string& path) { qk::read_strings(f, "probe/id", path, n); }, p,
                     "'/probe/id' does not hold strings");
  expect_input_error(
      [&](const std::string& path) { qk::h5::read_string_rows(ds, sp, n, path, "'/probe/id'"); }, p,
      "'/probe/id' does not hold strings");
  for (hid_t id : {ds, g}) H5Oclose(id);
  H5Sclose(sp);
  H5Fclose(f);
  std::filesystem::remove(p);
}

}  // namespace

// End-of-run attributes change in place (fixed-length, one header rewrite); every other
// attribute is written once, by create; a value past kEndOfRunAttrBytes is refused.
TEST(ResultsStore, OnlyEndOfRunAttributesChange) {
  const std::string p = temp_path("end_of_run.h5");
  qk::ResultsStore s = make_store(p);
  expect_input_error(
      [&](const std::string&) {
        s.set_attrs({{"model", "other"}});
      },
      p, "root attribute 'model' is written once, by create");
  expect_input_error(
      [&](const std::string&) {
        s.set_attrs({{"finished_at", "x"}});
      },
      p, "root attribute 'finished_at' was not created with the store");
  expect_input_error(
      [&](const std::string&) {
        s.set_attrs({{"status", std::string(65, 'x')}});
      },
      p, "attribute 'status' has 65 bytes; it holds at most 64");
  s.set_attrs({{"status", std::string(64, 'y')}});
  s.append(st::batch(st::range(0, 3)));
  s.finish({{"status", "complete"}});
  EXPECT_EQ(root_attr(p, "status"), "complete");
  EXPECT_EQ(root_attr(p, "model"), "m");
}
