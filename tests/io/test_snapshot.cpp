// Snapshot files: safetensors and HDF5 in f32 / f16 / bf16, shape validation, writing
// with metadata, and the attention options stored in the metadata.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "attn/snapshot_attention.hpp"
#include "expect_input_error.hpp"
#include "input_error.hpp"
#include "internal_error.hpp"
#include "safetensors.hpp"
#include "safetensors_writer.hpp"
#include "snapshot.hpp"

namespace {

std::string temp_path(const std::string& name) { return ::testing::TempDir() + "qk_snap_" + name; }

std::vector<float> iota(size_t n, float scale = 0.25f) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * static_cast<float>(static_cast<int>(i % 17) - 8);
  return v;
}

void expect_bad(const std::string& path, const std::string& needle) {
  expect_input_error([](const std::string& p) { qk::load_snapshot(p); }, path, needle);
}

TEST(Snapshot, SafetensorsKVQ) {
  const std::string p = temp_path("kvq.safetensors");
  qk::write_safetensors(
      p, {qk::f32_tensor("k", {2, 1, 3, 4}, iota(24)), qk::f32_tensor("v", {2, 1, 3, 4}, iota(24, 0.5f)),
          qk::f32_tensor("q", {2, 2, 3, 4}, iota(48))});
  const qk::Snapshot s = qk::load_snapshot(p);
  EXPECT_EQ(s.k.layers(), 2);
  EXPECT_EQ(s.k.heads(), 1);
  EXPECT_EQ(s.k.seq(), 3);
  EXPECT_EQ(s.k.head_dim(), 4);
  ASSERT_TRUE(s.v.has_value());
  ASSERT_TRUE(s.q.has_value());
  EXPECT_EQ(s.q->heads(), 2);
  EXPECT_EQ(s.k.data, iota(24));
  EXPECT_EQ(s.v->data, iota(24, 0.5f));
}

TEST(Snapshot, SafetensorsBf16AndF16) {
  const std::string p = temp_path("half.safetensors");
  qk::TensorToWrite k{"k", qk::DType::BF16, {1, 1, 1, 2}, {0x80, 0x3f, 0xa0, 0xc0}};  // 1, -5
  qk::TensorToWrite v{"v", qk::DType::F16, {1, 1, 1, 2}, {0x00, 0x3c, 0x00, 0xc0}};   // 1, -2
  qk::write_safetensors(p, {k, v});
  const qk::Snapshot s = qk::load_snapshot(p);
  EXPECT_EQ(s.k.data, (std::vector<float>{1.0f, -5.0f}));
  EXPECT_EQ(s.v->data, (std::vector<float>{1.0f, -2.0f}));
}

TEST(Snapshot, WrongRank) {
  const std::string p = temp_path("rank.safetensors");
  qk::write_safetensors(p, {qk::f32_tensor("k", {2, 3, 4}, iota(24))});
  expect_bad(p, "rank 3");
}

TEST(Snapshot, MissingK) {
  const std::string p = temp_path("nok.safetensors");
  qk::write_safetensors(p, {qk::f32_tensor("v", {1, 1, 1, 1}, {1})});
  expect_bad(p, "no tensor 'k'");
}

TEST(Snapshot, EmptyTensor) {
  const std::string p = temp_path("empty.safetensors");
  qk::write_safetensors(p, {qk::f32_tensor("k", {1, 1, 0, 4}, {})});
  expect_bad(p, "empty");
}

TEST(Snapshot, VShapedUnlikeK) {
  const std::string p = temp_path("vshape.safetensors");
  qk::write_safetensors(
      p, {qk::f32_tensor("k", {1, 1, 2, 2}, iota(4)), qk::f32_tensor("v", {1, 1, 1, 4}, iota(4))});
  expect_bad(p, "must match");
}

TEST(Snapshot, QHeadsNotMultiple) {
  const std::string p = temp_path("qheads.safetensors");
  qk::write_safetensors(
      p, {qk::f32_tensor("k", {1, 2, 2, 2}, iota(8)), qk::f32_tensor("q", {1, 3, 2, 2}, iota(12))});
  expect_bad(p, "not a multiple");
}

TEST(Snapshot, QSeqMismatch) {
  const std::string p = temp_path("qseq.safetensors");
  qk::write_safetensors(
      p, {qk::f32_tensor("k", {1, 1, 2, 2}, iota(4)), qk::f32_tensor("q", {1, 1, 3, 2}, iota(6))});
  expect_bad(p, "incompatible");
}

TEST(Snapshot, IntegerDtype) {
  const std::string p = temp_path("int.safetensors");
  qk::write_safetensors(p, {qk::TensorToWrite{"k", qk::DType::I32, {1, 1, 1, 1}, {1, 0, 0, 0}}});
  expect_bad(p, "not supported");
}

TEST(Snapshot, NanAndInfReported) {
  std::vector<float> k = iota(8);
  k[5] = std::numeric_limits<float>::quiet_NaN();
  k[6] = std::numeric_limits<float>::infinity();
  const std::string p = temp_path("nan.safetensors");
  qk::write_safetensors(p, {qk::f32_tensor("k", {1, 2, 2, 2}, k)});
  expect_bad(p, "2 non-finite value(s) (NaN or Inf), first at [0, 1, 0, 1]");
}

// Writes an HDF5 snapshot with /k of `type` holding `bytes`, optional attribute dtype.
void write_h5(const std::string& p, const std::vector<hsize_t>& dims, hid_t type, const void* data,
              const char* dtype_attr = nullptr) {
  const hid_t f = H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  const hid_t sp = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  const hid_t ds = H5Dcreate2(f, "k", type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  if (dtype_attr != nullptr) {
    const hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, std::strlen(dtype_attr));
    const hid_t as = H5Screate(H5S_SCALAR);
    const hid_t a = H5Acreate2(ds, "dtype", st, as, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, st, dtype_attr);
    H5Aclose(a);
    H5Sclose(as);
    H5Tclose(st);
  }
  H5Dclose(ds);
  H5Sclose(sp);
  H5Fclose(f);
}

TEST(Snapshot, Hdf5F32) {
  const std::string p = temp_path("f32.h5");
  const std::vector<float> k = iota(24);
  write_h5(p, {2, 1, 3, 4}, H5T_NATIVE_FLOAT, k.data());
  const qk::Snapshot s = qk::load_snapshot(p);
  EXPECT_EQ(s.k.shape, (std::array<int64_t, 4>{2, 1, 3, 4}));
  EXPECT_EQ(s.k.data, k);
}

TEST(Snapshot, Hdf5Bf16AsTaggedUint16) {
  const std::string p = temp_path("bf16.h5");
  const uint16_t k[2] = {0x3f80, 0xc0a0};
  write_h5(p, {1, 1, 1, 2}, H5T_NATIVE_UINT16, k, "bf16");
  EXPECT_EQ(qk::load_snapshot(p).k.data, (std::vector<float>{1.0f, -5.0f}));
}

TEST(Snapshot, Hdf5HalfFloatType) {
  const std::string p = temp_path("f16.h5");
  // IEEE half as an HDF5 float type: 1 sign, 5 exponent, 10 mantissa bits.
  const hid_t half = H5Tcopy(H5T_IEEE_F32LE);
  H5Tset_fields(half, 15, 10, 5, 0, 10);
  H5Tset_size(half, 2);
  H5Tset_ebias(half, 15);
  const uint16_t k[2] = {0x3c00, 0xc000};
  write_h5(p, {1, 1, 1, 2}, half, k);
  H5Tclose(half);
  EXPECT_EQ(qk::load_snapshot(p).k.data, (std::vector<float>{1.0f, -2.0f}));
}

TEST(Snapshot, Hdf5WrongRank) {
  const std::string p = temp_path("rank.h5");
  const std::vector<float> k = iota(6);
  write_h5(p, {2, 3}, H5T_NATIVE_FLOAT, k.data());
  expect_bad(p, "rank 2");
}

TEST(Snapshot, Hdf5Untagged16BitInteger) {
  const std::string p = temp_path("u16.h5");
  const uint16_t k[2] = {1, 2};
  write_h5(p, {1, 1, 1, 2}, H5T_NATIVE_UINT16, k);
  expect_bad(p, "not supported");
}

// A dtype attribute of several strings is not a tag: H5Aread used to write all of them
// into room for one pointer (a stack overflow).
TEST(Snapshot, Hdf5DtypeAttributeOfManyStringsIsNoTag) {
  const std::string p = temp_path("dtype_array.h5");
  const uint16_t k[2] = {0x3f80, 0xc0a0};
  write_h5(p, {1, 1, 1, 2}, H5T_NATIVE_UINT16, k);
  const hid_t f = H5Fopen(p.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  const hid_t ds = H5Dopen2(f, "k", H5P_DEFAULT);
  const hid_t st = H5Tcopy(H5T_C_S1);
  H5Tset_size(st, H5T_VARIABLE);
  const hsize_t n = 64;
  const hid_t as = H5Screate_simple(1, &n, nullptr);
  const hid_t a = H5Acreate2(ds, "dtype", st, as, H5P_DEFAULT, H5P_DEFAULT);
  const std::vector<const char*> tags(n, "bf16");
  H5Awrite(a, st, tags.data());
  H5Aclose(a);
  H5Sclose(as);
  H5Tclose(st);
  H5Dclose(ds);
  H5Fclose(f);
  expect_bad(p, "without a dtype attribute of bf16 or f16");
}

TEST(Snapshot, TruncatedHdf5) {
  const std::string full = temp_path("full.h5");
  const std::vector<float> k = iota(4096);
  write_h5(full, {1, 1, 64, 64}, H5T_NATIVE_FLOAT, k.data());
  std::FILE* in = std::fopen(full.c_str(), "rb");
  std::vector<char> bytes(20000);
  const size_t n = std::fread(bytes.data(), 1, bytes.size(), in);
  std::fclose(in);
  const std::string p = temp_path("cut.h5");
  std::FILE* out = std::fopen(p.c_str(), "wb");
  std::fwrite(bytes.data(), 1, n / 2, out);
  std::fclose(out);
  expect_bad(p, "");
}

// Creates /k of f32 `dims` (chunked by `chunk` when given, gzip-compressed with `gzip`)
// and writes its first `rows` entries along axis 0 (0: nothing is written).
void write_h5_partly(const std::string& p, const std::vector<hsize_t>& dims,
                     const std::vector<hsize_t>& chunk, bool gzip, hsize_t rows) {
  const hid_t f = H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  const hid_t sp = H5Screate_simple(4, dims.data(), nullptr);
  const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  if (!chunk.empty()) H5Pset_chunk(dcpl, 4, chunk.data());
  if (gzip) H5Pset_deflate(dcpl, 4);
  const hid_t ds = H5Dcreate2(f, "k", H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  if (rows > 0) {
    std::vector<hsize_t> count = dims;
    count[0] = rows;
    const std::vector<hsize_t> start(4, 0);
    H5Sselect_hyperslab(sp, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
    const hid_t mem = H5Screate_simple(4, count.data(), nullptr);
    const std::vector<float> data(static_cast<size_t>(H5Sget_select_npoints(sp)), 1.5f);
    H5Dwrite(ds, H5T_NATIVE_FLOAT, mem, sp, H5P_DEFAULT, data.data());
    H5Sclose(mem);
  }
  H5Dclose(ds);
  H5Pclose(dcpl);
  H5Sclose(sp);
  H5Fclose(f);
}

// A shape the file does not back is refused (exit 3) before anything is allocated: once
// std::bad_alloc (exit 4) or a read of fill values.
TEST(Snapshot, Hdf5HugeShapeRefusedBeforeAllocating) {
  const std::string huge = temp_path("huge.h5");
  write_h5_partly(huge, {100000, 1000, 1000, 1000}, {1, 1, 100, 100}, false, 0);
  expect_bad(huge,
             "dataset '/k': declares shape [100000, 1000, 1000, 1000]: 381469726 MiB as f32, more than this "
             "machine's");
  const std::string overflow = temp_path("overflow.h5");
  write_h5_partly(overflow, {1ull << 32, 1ull << 32, 4, 1}, {1, 1, 4, 1}, false, 0);
  expect_bad(overflow, "declares shape [4294967296, 4294967296, 4, 1]: too many elements");
  const std::string unwritten = temp_path("unwritten.h5");
  write_h5_partly(unwritten, {2, 2, 8, 1000000}, {1, 1, 8, 1000}, false, 0);
  expect_bad(unwritten,
             "declares shape [2, 2, 8, 1000000] (128000000 bytes) but stores 0 of its 4000 chunks");
}

TEST(Snapshot, Hdf5PartlyWrittenRefused) {
  const std::string gz = temp_path("half_gzip.h5");
  write_h5_partly(gz, {2, 2, 8, 64}, {1, 1, 8, 64}, true, 1);
  expect_bad(gz, "declares shape [2, 2, 8, 64] (8192 bytes) but stores 2 of its 4 chunks");
  const std::string contiguous = temp_path("never_written.h5");
  write_h5_partly(contiguous, {2, 2, 8, 64}, {}, false, 0);
  expect_bad(contiguous, "declares shape [2, 2, 8, 64] (8192 bytes) but stores no data");
}

// Fully written chunked data loads, edge chunks (shape not a multiple of the chunk) included.
TEST(Snapshot, Hdf5ChunkedFullyWrittenLoads) {
  for (const bool gzip : {false, true}) {
    const std::string p = temp_path(gzip ? "edge_gzip.h5" : "edge.h5");
    write_h5_partly(p, {3, 1, 5, 7}, {2, 1, 2, 3}, gzip, 3);
    const qk::Snapshot s = qk::load_snapshot(p);
    EXPECT_EQ(s.k.shape, (std::array<int64_t, 4>{3, 1, 5, 7}));
    EXPECT_EQ(s.k.data, std::vector<float>(105, 1.5f));
  }
}

// A snapshot of 3 layers, 2 KV and 4 query heads, 5 positions, head_dim 4, with metadata.
qk::Snapshot small_snapshot() {
  qk::Snapshot s;
  auto make = [](int64_t heads, float scale) {
    qk::Tensor4f t;
    t.shape = {3, heads, 5, 4};
    t.data = iota(static_cast<size_t>(t.numel()), scale);
    t.data[1] = 1e-40f;  // a subnormal survives bit for bit
    return t;
  };
  s.k = make(2, 0.25f);
  s.v = make(2, -0.5f);
  s.q = make(4, 0.125f);
  s.metadata = {{"attention_masks", "sliding,causal,sliding"}, {"tokens", "5"}, {"empty", ""}};
  return s;
}

void expect_same(const qk::Snapshot& got, const qk::Snapshot& want) {
  EXPECT_EQ(got.k.shape, want.k.shape);
  EXPECT_EQ(std::memcmp(got.k.data.data(), want.k.data.data(), want.k.data.size() * 4), 0);
  ASSERT_TRUE(got.v && got.q);
  EXPECT_EQ(std::memcmp(got.v->data.data(), want.v->data.data(), want.v->data.size() * 4), 0);
  EXPECT_EQ(got.q->shape, want.q->shape);
  EXPECT_EQ(std::memcmp(got.q->data.data(), want.q->data.data(), want.q->data.size() * 4), 0);
  EXPECT_EQ(got.metadata, want.metadata);
}

TEST(SnapshotWrite, SafetensorsRoundTrip) {
  const std::string p = temp_path("rt.safetensors");
  const qk::Snapshot s = small_snapshot();
  qk::save_snapshot(s, p);
  expect_same(qk::load_snapshot(p), s);
  EXPECT_EQ(qk::SafeTensorsFile(p).metadata(), s.metadata);  // the header's __metadata__
}

TEST(SnapshotWrite, Hdf5RoundTrip) {
  for (const char* name : {"rt.h5", "rt.HDF5"}) {
    const std::string p = temp_path(name);
    const qk::Snapshot s = small_snapshot();
    qk::save_snapshot(s, p);
    expect_same(qk::load_snapshot(p), s);
  }
}

TEST(SnapshotWrite, FormatByExtension) {
  EXPECT_EQ(qk::snapshot_format_for("a/b.safetensors"), qk::SnapshotFormat::Safetensors);
  EXPECT_EQ(qk::snapshot_format_for("b.h5"), qk::SnapshotFormat::Hdf5);
  EXPECT_EQ(qk::snapshot_format_for("b.Hdf5"), qk::SnapshotFormat::Hdf5);
  for (const char* bad : {"b.npz", "b", "b.h5.tmp", "safetensors"})
    EXPECT_THROW(qk::snapshot_format_for(bad), std::invalid_argument) << bad;
  const std::string p = temp_path("unknown.pt");
  EXPECT_THROW(qk::save_snapshot(small_snapshot(), p), std::invalid_argument);
  EXPECT_FALSE(std::filesystem::exists(p));
}

TEST(SnapshotWrite, NonFiniteIsRefusedAndNothingWritten) {
  qk::Snapshot s = small_snapshot();
  s.path = "model-dir";
  s.q->data[5 * 4 + 3] = std::numeric_limits<float>::quiet_NaN();  // layer 0, head 1, dim 3
  const std::string p = temp_path("nan_out.safetensors");
  std::filesystem::remove(p);
  expect_input_error([&](const std::string&) { qk::save_snapshot(s, p); }, "model-dir",
                     "tensor 'q': 1 non-finite value(s) (NaN or Inf), first at [0, 1, 0, 3]");
  EXPECT_FALSE(std::filesystem::exists(p));
}

// Gemma 3's shape of options: causal base, a window on some layers, its own scale.
qk::AttentionStatsOptions gemma_like() {
  qk::AttentionStatsOptions o;
  o.mask = qk::AttentionMask::Causal;
  o.layer_window = {512, 0, 512};
  o.scale = 1.0 / std::sqrt(256.0);
  return o;
}

TEST(SnapshotAttention, MetadataText) {
  const auto m = qk::attention_metadata(gemma_like(), 3);
  EXPECT_EQ(m.at("attention_masks"), "sliding,causal,sliding");
  EXPECT_EQ(m.at("attention_windows"), "512,0,512");
  EXPECT_EQ(m.at("attention_scale"), "0.0625");
  qk::AttentionStatsOptions full;
  full.mask = qk::AttentionMask::Full;
  full.scale = 1.0 / std::sqrt(96.0);
  const auto f = qk::attention_metadata(full, 2);
  EXPECT_EQ(f.at("attention_masks"), "full,full");
  EXPECT_EQ(f.at("attention_windows"), "0,0");
  EXPECT_EQ(std::strtod(f.at("attention_scale").c_str(), nullptr), *full.scale);  // exact
  full.scale.reset();
  EXPECT_THROW(qk::attention_metadata(full, 2), qk::InternalError);
}

TEST(SnapshotAttention, OptionsRoundTrip) {
  const qk::AttentionStatsOptions o = gemma_like();
  const auto back = qk::attention_options_from_metadata(qk::attention_metadata(o, 3), 3, "f");
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->mask, qk::AttentionMask::Causal);
  EXPECT_EQ(back->window, 0);
  EXPECT_EQ(back->layer_window, o.layer_window);
  EXPECT_EQ(*back->scale, *o.scale);
  qk::AttentionStatsOptions full;  // no sliding layer: no per-layer windows come back
  full.mask = qk::AttentionMask::Full;
  full.scale = 0.3;
  const auto f = qk::attention_options_from_metadata(qk::attention_metadata(full, 4), 4, "f");
  EXPECT_EQ(f->mask, qk::AttentionMask::Full);
  EXPECT_TRUE(f->layer_window.empty());
  EXPECT_FALSE(qk::attention_options_from_metadata({{"tokens", "3"}}, 4, "f").has_value());
}

TEST(SnapshotAttention, SoftcapRoundTrip) {
  qk::AttentionStatsOptions o = gemma_like();
  EXPECT_EQ(qk::attention_metadata(o, 3).count("attention_logit_softcap"), 0u);  // none: no key
  o.softcap = 50.0 / 3.0;
  const auto meta = qk::attention_metadata(o, 3);
  EXPECT_EQ(meta.at("attention_logit_softcap"), "16.666666666666668");
  const auto back = qk::attention_options_from_metadata(meta, 3, "f");
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->softcap, o.softcap);
  EXPECT_EQ(qk::attention_options_from_metadata(qk::attention_metadata(gemma_like(), 3), 3, "f")->softcap,
            0.0);
}

TEST(SnapshotAttention, MalformedMetadata) {
  const std::map<std::string, std::string> good = qk::attention_metadata(gemma_like(), 3);
  struct Case {
    const char* key;
    const char* value;
    const char* needle;
  };
  const Case cases[] = {
      {"attention_masks", "sliding,causal", "lists 2 entries for a snapshot of 3 layers"},
      {"attention_masks", "sliding,diagonal,sliding", "layer 1: 'diagonal' is not causal"},
      {"attention_windows", "512,-1,512", "layer 1: '-1' is not a window"},
      {"attention_windows", "512,3,512", "layer 1: window 3 with mask causal"},
      {"attention_windows", "0,0,512", "layer 0: window 0 with mask sliding"},
      {"attention_scale", "nan", "'nan' is not a positive finite number"},
      {"attention_scale", "0.5x", "'0.5x' is not a positive finite number"},
      {"attention_scale", "-1", "'-1' is not a positive finite number"},
      {"attention_logit_softcap", "0", "'0' is not a positive finite number"},
      {"attention_logit_softcap", "inf", "'inf' is not a positive finite number"},
  };
  auto read = [](const std::map<std::string, std::string>& m) {
    return [m](const std::string& p) { qk::attention_options_from_metadata(m, 3, p); };
  };
  for (const Case& c : cases) {
    auto m = good;
    m[c.key] = c.value;
    expect_input_error(read(m), "snap.h5", "metadata '" + std::string(c.key) + "': " + c.needle);
  }
  auto m = good;
  m.erase("attention_windows");
  expect_input_error(read(m), "snap.h5", "metadata 'attention_windows': is missing");
  m = good;
  m["attention_masks"] = "full,causal,full";
  m["attention_windows"] = "0,0,0";
  expect_input_error(read(m), "snap.h5", "metadata 'attention_masks': mixes causal and full");
}

TEST(SnapshotAttention, FlagsOverrideAndSaySo) {
  qk::Snapshot s = small_snapshot();
  s.path = "snap.safetensors";
  s.metadata = qk::attention_metadata(gemma_like(), 3);
  std::string note;
  qk::AttentionStatsOptions o = qk::snapshot_attention_options(s, {}, "cpu", &note);
  EXPECT_EQ(o.layer_window, gemma_like().layer_window);
  EXPECT_EQ(*o.scale, 0.0625);
  EXPECT_EQ(o.device, "cpu");
  EXPECT_EQ(note, "");
  o = qk::snapshot_attention_options(s, {"sliding", 2, 0.5}, "cpu", &note);
  EXPECT_EQ(o.mask, qk::AttentionMask::SlidingWindow);
  EXPECT_EQ(o.window, 2);
  EXPECT_TRUE(o.layer_window.empty());
  EXPECT_EQ(*o.scale, 0.5);
  EXPECT_NE(note.find("--mask sliding replaces its masks (sliding on 2 of 3 layers, causal on "
                      "the rest); --attn-scale replaces its scale 0.0625"),
            std::string::npos)
      << note;
  o = qk::snapshot_attention_options(s, {"", 0, 0.5}, "cpu", &note);  // scale only
  EXPECT_EQ(o.layer_window, gemma_like().layer_window);
  EXPECT_EQ(*o.scale, 0.5);
  EXPECT_THROW(qk::snapshot_attention_options(s, {"", 4, {}}, "cpu", &note), std::invalid_argument);
}

TEST(SnapshotAttention, OldSnapshotKeepsTheDefaults) {
  qk::Snapshot s = small_snapshot();
  s.path = "old.safetensors";
  s.metadata.clear();
  std::string note;
  qk::AttentionStatsOptions o = qk::snapshot_attention_options(s, {}, "cpu", &note);
  EXPECT_EQ(o.mask, qk::AttentionMask::Causal);
  EXPECT_TRUE(o.layer_window.empty());
  EXPECT_FALSE(o.scale.has_value());  // attention_stats uses 1/sqrt(head_dim)
  EXPECT_NE(note.find("old.safetensors records no attention masks or scale"), std::string::npos);
  EXPECT_NE(note.find("using a causal mask and scale 1/sqrt(head_dim)"), std::string::npos) << note;
  o = qk::snapshot_attention_options(s, {"full", 0, 0.25}, "cpu", &note);
  EXPECT_EQ(o.mask, qk::AttentionMask::Full);
  EXPECT_EQ(note, "");  // every default was replaced by a flag
}

}  // namespace
