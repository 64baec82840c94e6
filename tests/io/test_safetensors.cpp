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

std::string temp_path(const std::string& name) { return ::testing::TempDir() + "qk_st_" + name; }

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
  qk::write_safetensors(p,
                        {qk::f32_tensor("b", {2, 3}, {1, 2, 3, 4, 5, 6}), qk::f32_tensor("a", {1}, {-7.5f})});
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
  expect_error(write_raw("neg", R"({"k":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4), "shape");
}

TEST(SafeTensors, MissingField) {
  expect_error(write_raw("nofield", R"({"k":{"dtype":"F32","shape":[1]}})", 4), "data_offsets");
}

TEST(SafeTensors, EndBeforeBegin) {
  expect_error(write_raw("backwards", R"({"k":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", 8),
               "end before");
}

// The header of tests below: tensor entries of 4 F32 values at the given byte offsets.
std::string f32x4(const std::string& name, int begin) {
  return "\"" + name + R"(":{"dtype":"F32","shape":[4],"data_offsets":[)" + std::to_string(begin) + "," +
         std::to_string(begin + 16) + "]}";
}

TEST(SafeTensors, DuplicateTensorName) {
  // nlohmann keeps the last "k"; the file is refused instead, whichever range each names.
  expect_error(write_raw("dup", "{" + f32x4("k", 0) + "," + f32x4("k", 16) + "}", 32),
               "tensor 'k' appears twice");
  expect_error(write_raw("dupsame", "{" + f32x4("k", 0) + "," + f32x4("k", 0) + "}", 16),
               "tensor 'k' appears twice");
  expect_error(write_raw("dupesc", "{" + f32x4("k", 0) + "," + f32x4("\\u006b", 0) + "}", 16),
               "tensor 'k' appears twice");
}

TEST(SafeTensors, DuplicateKeyInsideEntryOrMetadata) {
  expect_error(
      write_raw("dupfield", R"({"k":{"dtype":"F32","dtype":"F16","shape":[4],"data_offsets":[0,16]}})", 16),
      "the entry of tensor 'k' holds the key 'dtype' twice");
  expect_error(write_raw("dupmeta", R"({"__metadata__":{"a":"1","a":"2"},)" + f32x4("k", 0) + "}", 16),
               "__metadata__ holds the key 'a' twice");
  expect_error(write_raw("dupmeta2", R"({"__metadata__":{},"__metadata__":{},)" + f32x4("k", 0) + "}", 16),
               "__metadata__ appears twice");
}

TEST(SafeTensors, UnusedBytesAreRefused) {
  expect_error(write_raw("holefirst", "{" + f32x4("k", 8) + "}", 24), "8 unused bytes before tensor 'k'");
  expect_error(write_raw("holemid", "{" + f32x4("a", 0) + "," + f32x4("b", 20) + "}", 36),
               "4 unused bytes between tensors 'a' and 'b'");
  expect_error(write_raw("trailing", "{" + f32x4("k", 0) + "}", 17),
               "1 unused bytes after the last tensor 'k'");
  expect_error(write_raw("nodata", "{}", 3), "3 unused bytes after the header");
}

TEST(SafeTensors, SameRangeTwiceIsAnOverlap) {
  expect_error(write_raw("tied", "{" + f32x4("a", 0) + "," + f32x4("b", 0) + "}", 16), "overlapping");
}

TEST(SafeTensors, RangesInAnyOrderAndEmptyTensorsTile) {
  const std::string p =
      write_raw("tiles",
                "{" + f32x4("z", 16) + R"(,"e":{"dtype":"F32","shape":[0,5],"data_offsets":[16,16]},)" +
                    R"("__metadata__":null,)" + f32x4("a", 0) + "}",
                32);
  qk::SafeTensorsFile f(p);
  EXPECT_EQ(f.names(), (std::vector<std::string>{"a", "e", "z"}));
  EXPECT_EQ(f.info("e").numel(), 0);
  expect_error(
      write_raw("emptypast",
                "{" + f32x4("a", 0) + R"(,"e":{"dtype":"F32","shape":[0],"data_offsets":[20,20]}})", 16),
      "past the end");
}

TEST(SafeTensors, ValidDtypeQkgeomDoesNotRead) {
  // U16 and F4 are valid safetensors: the file opens, the tensor is listed, reading it is an error.
  const std::string p =
      write_raw("u16",
                "{" + f32x4("k", 0) + R"(,"u":{"dtype":"U16","shape":[3],"data_offsets":[16,22]},)" +
                    R"("f":{"dtype":"F4","shape":[2,3],"data_offsets":[22,25]}})",
                25);
  qk::SafeTensorsFile f(p);
  EXPECT_TRUE(f.has("u"));
  EXPECT_EQ(f.names(), (std::vector<std::string>{"f", "k", "u"}));
  expect_input_error([&](const std::string&) { f.info("u"); }, p + ": tensor 'u'", "dtype U16");
  expect_error(write_raw("f4odd", R"({"f":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}})", 2),
               "not a whole number of bytes");
}

TEST(SafeTensors, ShapeIntegersAreRangeChecked) {
  const auto entry = [](const std::string& shape, int bytes) {
    return R"({"k":{"dtype":"F32","shape":)" + shape + R"(,"data_offsets":[0,)" + std::to_string(bytes) +
           "]}}";
  };
  expect_error(write_raw("dim2e63", entry("[9223372036854775808,0]", 0), 0), "not an integer in [0, 2^63-1]");
  expect_error(write_raw("dim2e64", entry("[18446744073709551616,0]", 0), 0),
               "not an integer in [0, 2^63-1]");
  expect_error(write_raw("dimfloat", entry("[4.0]", 16), 16), "not an integer");
  expect_error(write_raw("elems", entry("[4294967296,4294967296,4]", 16), 16), "element count overflows");
  expect_error(write_raw("bits", entry("[4611686018427387904]", 16), 16), "bit count overflows");
  const std::string zero = write_raw("dimbigzero", entry("[4611686018427387904,0]", 0), 0);
  EXPECT_EQ(qk::SafeTensorsFile(zero).info("k").numel(), 0);
}

TEST(SafeTensors, OffsetIntegersAreRangeChecked) {
  const auto entry = [](const std::string& offsets) {
    return R"({"k":{"dtype":"F32","shape":[4],"data_offsets":)" + offsets + "}}";
  };
  expect_error(write_raw("offneg0", entry("[-0,16]"), 16), "pair of integers in [0, 2^64-1]");
  expect_error(write_raw("offbig", entry("[18446744073709551616,16]"), 16), "pair of integers");
  expect_error(write_raw("offfloat", entry("[0,1.6e1]"), 16), "pair of integers");
  expect_error(write_raw("off3", entry("[0,16,16]"), 16), "pair of integers");
}

TEST(SafeTensors, HeaderBytesNlohmannWouldTake) {
  expect_error(write_raw("nul", "{" + f32x4("k", 0) + "}" + std::string(2, '\0'), 16), "NUL byte");
  expect_error(write_raw("bom", "\xEF\xBB\xBF{" + f32x4("k", 0) + "}", 16), "byte-order mark");
  const std::string deep = std::string(126, '[') + std::string(126, ']');
  expect_error(
      write_raw("deep", R"({"k":{"dtype":"F32","shape":[4],"data_offsets":[0,16],"x":)" + deep + "}}", 16),
      "deeper than 127");
  const std::string ok = std::string(125, '[') + std::string(125, ']');
  qk::SafeTensorsFile f(
      write_raw("deepok", R"({"k":{"dtype":"F32","shape":[4],"data_offsets":[0,16],"x":)" + ok + "}}", 16));
  EXPECT_TRUE(f.has("k"));
  expect_error(write_raw("badutf8", "{" + f32x4("k\xff", 0) + "}", 16), "\\xFF");
  expect_error(write_raw("hugehdr", "{}", 0, 100000001), "100,000,000-byte limit");
}

TEST(SafeTensors, DuplicateNameAcrossShards) {
  const qk::SafeTensorsFile a(write_raw("shard_a", "{" + f32x4("x", 0) + "," + f32x4("k", 16) + "}", 32));
  const qk::SafeTensorsFile b(write_raw("shard_b", "{" + f32x4("k", 0) + "}", 16));
  const qk::SafeTensorsFile c(write_raw("shard_c", "{" + f32x4("y", 0) + "}", 16));
  qk::require_unique_tensor_names({&a, &c});
  expect_input_error(
      [&](const std::string&) {
        qk::require_unique_tensor_names({&a, &c, &b});
      },
      b.path() + ": tensor 'k'", "also in " + a.path());
}

TEST(SafeTensors, MissingFile) { expect_error(temp_path("does-not-exist"), "cannot open"); }

TEST(SafeTensors, Directory) { expect_error(::testing::TempDir(), "not a regular file"); }

}  // namespace
