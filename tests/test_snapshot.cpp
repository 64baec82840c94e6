// Snapshot files: safetensors and HDF5 in f32 / f16 / bf16, and shape validation.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "expect_input_error.hpp"
#include "input_error.hpp"
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
  qk::write_safetensors(p, {qk::f32_tensor("k", {2, 1, 3, 4}, iota(24)),
                            qk::f32_tensor("v", {2, 1, 3, 4}, iota(24, 0.5f)),
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
  qk::write_safetensors(p, {qk::f32_tensor("k", {1, 1, 2, 2}, iota(4)),
                            qk::f32_tensor("v", {1, 1, 1, 4}, iota(4))});
  expect_bad(p, "must match");
}

TEST(Snapshot, QHeadsNotMultiple) {
  const std::string p = temp_path("qheads.safetensors");
  qk::write_safetensors(p, {qk::f32_tensor("k", {1, 2, 2, 2}, iota(8)),
                            qk::f32_tensor("q", {1, 3, 2, 2}, iota(12))});
  expect_bad(p, "not a multiple");
}

TEST(Snapshot, QSeqMismatch) {
  const std::string p = temp_path("qseq.safetensors");
  qk::write_safetensors(p, {qk::f32_tensor("k", {1, 1, 2, 2}, iota(4)),
                            qk::f32_tensor("q", {1, 1, 3, 2}, iota(6))});
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
void write_h5(const std::string& p, const std::vector<hsize_t>& dims, hid_t type,
              const void* data, const char* dtype_attr = nullptr) {
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

}  // namespace
