// The safetensors reader: round trips, dtype conversion, and every malformed case.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>

#include "dtype.hpp"
#include "expect_input_error.hpp"
#include "input_error.hpp"
#include "safetensors.hpp"
#include "safetensors_writer.hpp"

namespace {

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "qk_st_" + name;
}

// A file of an 8-byte length, `header` text and `data` bytes; `len` overrides the length.
std::string write_raw(const std::string& name, const std::string& header, size_t data_bytes,
                      long long len = -1) {
  const std::string p = temp_path(name);
  std::ofstream out(p, std::ios::binary);
  const unsigned long long n = len < 0 ? header.size() : static_cast<unsigned long long>(len);
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
  out << header << std::string(data_bytes, '\0');
  return p;
}

void expect_error(const std::string& path, const std::string& needle) {
  expect_input_error([](const std::string& p) { qk::SafeTensorsFile f(p); }, path, needle);
}

TEST(SafeTensors, RoundTripF32) {
  const std::string p = temp_path("roundtrip.safetensors");
  qk::write_safetensors(p, {qk::f32_tensor("b", {2, 3}, {1, 2, 3, 4, 5, 6}),
                            qk::f32_tensor("a", {1}, {-7.5f})});
  qk::SafeTensorsFile f(p);
  ASSERT_TRUE(f.has("a"));
  ASSERT_TRUE(f.has("b"));
  const auto& b = f.info("b");
  EXPECT_EQ(b.dtype, qk::DType::F32);
  EXPECT_EQ(b.shape, (std::vector<int64_t>{2, 3}));
  float v[6];
  qk::convert_to_f32(b.dtype, f.data(b), 6, v);
  EXPECT_EQ(v[5], 6.0f);
  float a;
  qk::convert_to_f32(qk::DType::F32, f.data(f.info("a")), 1, &a);
  EXPECT_EQ(a, -7.5f);
}

TEST(SafeTensors, HalfAndBf16Conversion) {
  EXPECT_EQ(qk::half_to_float(0x3c00), 1.0f);
  EXPECT_EQ(qk::half_to_float(0xc000), -2.0f);
  EXPECT_EQ(qk::half_to_float(0x7bff), 65504.0f);
  EXPECT_EQ(qk::half_to_float(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(qk::half_to_float(0x03ff), std::ldexp(1023.0f, -24));
  EXPECT_TRUE(std::isinf(qk::half_to_float(0x7c00)));
  EXPECT_TRUE(std::isnan(qk::half_to_float(0x7e00)));
  EXPECT_EQ(qk::bf16_to_float(0x3f80), 1.0f);
  EXPECT_EQ(qk::bf16_to_float(0xc0a0), -5.0f);
}

TEST(SafeTensors, EmptyHeader) { expect_error(write_raw("trunc", "", 0, 0), "not valid JSON"); }

TEST(SafeTensors, ShorterThanLength) {
  const std::string p = temp_path("short");
  std::ofstream(p, std::ios::binary) << "abc";
  expect_error(p, "truncated");
}

TEST(SafeTensors, HeaderLongerThanFile) {
  expect_error(write_raw("hlong", "{}", 0, 4096), "longer than the file");
}

TEST(SafeTensors, HeaderNotJson) { expect_error(write_raw("nojson", "{not json", 0), "not valid JSON"); }

TEST(SafeTensors, OffsetsPastEnd) {
  expect_error(write_raw("past", R"({"k":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8),
               "past the end");
}

TEST(SafeTensors, OverlappingOffsets) {
  expect_error(write_raw("overlap",
                         R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                         R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                         12),
               "overlapping");
}

TEST(SafeTensors, LengthMismatchesShape) {
  expect_error(write_raw("mismatch", R"({"k":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
               "need 12");
}

TEST(SafeTensors, UnknownDtype) {
  expect_error(write_raw("dtype", R"({"k":{"dtype":"F8_E9M9","shape":[1],"data_offsets":[0,1]}})", 1),
               "unknown dtype 'F8_E9M9'");
}

TEST(SafeTensors, NegativeDimension) {
  expect_error(write_raw("neg", R"({"k":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
               "shape");
}

TEST(SafeTensors, MissingField) {
  expect_error(write_raw("nofield", R"({"k":{"dtype":"F32","shape":[1]}})", 4), "data_offsets");
}

TEST(SafeTensors, EndBeforeBegin) {
  expect_error(write_raw("backwards", R"({"k":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", 8),
               "end before");
}

TEST(SafeTensors, MissingFile) { expect_error(temp_path("does-not-exist"), "cannot open"); }

TEST(SafeTensors, Directory) { expect_error(::testing::TempDir(), "not a regular file"); }

}  // namespace
