// The HF tokenizer.json reader: small hand-made tokenizers of each model kind, the
// special-token rules, and malformed files. Parity with HF on real tokenizers is
// tests/reference/test_tokenizer_parity.py.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <tuple>

#include "expect_input_error.hpp"
#include "json_limits.hpp"
#include "tokenizer.hpp"

namespace {

using nlohmann::json;
using Ids = std::vector<int32_t>;

// Writes tokenizer.json (and tokenizer_config.json when given) into a fresh directory.
std::string write_dir(const std::string& name, const std::string& tokenizer_json,
                      const std::string& config = "") {
  const std::filesystem::path d = std::filesystem::path(::testing::TempDir()) / ("qk_tok_" + name);
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  std::ofstream(d / "tokenizer.json") << tokenizer_json;
  if (!config.empty()) std::ofstream(d / "tokenizer_config.json") << config;
  return d.string();
}

json added(const std::string& content, int id, bool special = true) {
  return {{"id", id},        {"content", content},     {"single_word", false}, {"lstrip", false},
          {"rstrip", false}, {"normalized", !special}, {"special", special}};
}

// Byte-level BPE over the letters a, b, c and the space (GPT-2's stand-in: U+0120).
json byte_level_bpe() {
  json j;
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  j["post_processor"] = {{"type", "ByteLevel"}};
  j["added_tokens"] = json::array({added("<|end|>", 9)});
  j["model"] = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"vocab",
                 {{"a", 0},
                  {"b", 1},
                  {"c", 2},
                  {"\xC4\xA0", 3},
                  {"ab", 4},
                  {"\xC4\xA0"
                   "a",
                   5},
                  {"\xC4\xA0"
                   "ab",
                   6},
                  {"abc", 7}}},
                {"merges", json::array({"a b", "\xC4\xA0 a",
                                        "\xC4\xA0"
                                        "a b",
                                        "ab c"})}};
  return j;
}

TEST(Tokenizer, ByteLevelBpeMergesByRank) {
  const qk::Tokenizer t = qk::Tokenizer::from_dir(write_dir("bl", byte_level_bpe().dump()));
  EXPECT_EQ(t.encode("abc"), (Ids{7}));
  EXPECT_EQ(t.encode("abc ab"), (Ids{7, 3, 4}));  // "a b" (rank 0) wins over "\u0120 a"
  EXPECT_EQ(t.encode(" a"), (Ids{5}));
  EXPECT_EQ(t.encode("ba"), (Ids{1, 0}));
  EXPECT_EQ(t.encode("ab<|end|>c"), (Ids{4, 9, 2}));
  EXPECT_EQ(t.encode(""), (Ids{}));
  EXPECT_EQ(t.vocab_size(), 10u);
  EXPECT_EQ(t.id_to_token(9), "<|end|>");
  EXPECT_EQ(t.id_to_token(3), "\xC4\xA0");
  EXPECT_THROW(t.id_to_token(8), std::out_of_range);
}

TEST(Tokenizer, MergesAsPairsAndConfigBos) {
  json j = byte_level_bpe();
  j["model"]["merges"] = json::array({json::array({"a", "b"}), json::array({"ab", "c"})});
  j["added_tokens"].push_back(added("<s>", 8));
  const std::string cfg =
      R"({"add_bos_token": true, "bos_token": {"content": "<s>"}, "add_eos_token": false})";
  const qk::Tokenizer t = qk::Tokenizer::from_dir(write_dir("pairs", j.dump(), cfg));
  EXPECT_EQ(t.encode("abc"), (Ids{8, 7}));
  EXPECT_EQ(t.encode("abc", false), (Ids{7}));
}

// SentencePiece-style BPE: spaces become U+2581 and unknown characters fall back to bytes.
TEST(Tokenizer, SentencePieceByteFallback) {
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"\xE2\x96\x81", 2},  {"h", 3},
                {"i", 4},     {"hi", 5},  {"\xE2\x96\x81hi", 6}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    vocab[name] = 7 + b;
  }
  json j;
  j["normalizer"] = {
      {"type", "Sequence"},
      {"normalizers",
       json::array({{{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}},
                    {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}}})}};
  j["pre_tokenizer"] = nullptr;
  j["added_tokens"] = json::array({added("<unk>", 0), added("<s>", 1)});
  j["post_processor"] = {{"type", "TemplateProcessing"},
                         {"single", json::array({{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                                                 {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
                         {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}};
  j["model"] = {{"type", "BPE"},         {"unk_token", "<unk>"},
                {"byte_fallback", true}, {"fuse_unk", true},
                {"vocab", vocab},        {"merges", json::array({"h i", "\xE2\x96\x81 hi"})}};
  const qk::Tokenizer t = qk::Tokenizer::from_dir(write_dir("sp", j.dump()));
  EXPECT_EQ(t.encode("hi"), (Ids{1, 6}));
  EXPECT_EQ(t.encode("hi hi", false), (Ids{6, 6}));
  // "é" is U+00E9 = C3 A9: two byte tokens.
  EXPECT_EQ(t.encode("\xC3\xA9", false), (Ids{2, 7 + 0xC3, 7 + 0xA9}));
}

json wordpiece() {
  json j;
  j["normalizer"] = {{"type", "BertNormalizer"},
                     {"clean_text", true},
                     {"handle_chinese_chars", true},
                     {"strip_accents", nullptr},
                     {"lowercase", true}};
  j["pre_tokenizer"] = {{"type", "BertPreTokenizer"}};
  j["added_tokens"] = json::array({added("[UNK]", 0), added("[CLS]", 1), added("[SEP]", 2)});
  j["post_processor"] = {{"type", "BertProcessing"}, {"sep", {"[SEP]", 2}}, {"cls", {"[CLS]", 1}}};
  j["model"] = {{"type", "WordPiece"},
                {"unk_token", "[UNK]"},
                {"continuing_subword_prefix", "##"},
                {"max_input_chars_per_word", 10},
                {"vocab",
                 {{"[UNK]", 0},
                  {"[CLS]", 1},
                  {"[SEP]", 2},
                  {"hello", 3},
                  {"hel", 4},
                  {"##lo", 5},
                  {",", 6},
                  {"world", 7},
                  {"\xE4\xB8\x96", 8},
                  {"cafe", 9}}}};
  return j;
}

TEST(Tokenizer, WordPieceBert) {
  const qk::Tokenizer t = qk::Tokenizer::from_dir(write_dir("wp", wordpiece().dump()));
  EXPECT_EQ(t.encode("Hello, WORLD"), (Ids{1, 3, 6, 7, 2}));
  EXPECT_EQ(t.encode("Café\tworld", false), (Ids{9, 7}));        // accents stripped with lowercase
  EXPECT_EQ(t.encode("helxo"), (Ids{1, 0, 2}));                  // no full segmentation: [UNK]
  EXPECT_EQ(t.encode("hellohellohello", false), (Ids{0}));       // over max_input_chars_per_word
  EXPECT_EQ(t.encode("\xE4\xB8\x96world", false), (Ids{8, 7}));  // CJK split out
  EXPECT_EQ(t.encode("[CLS]hello", false), (Ids{1, 3}));
}

TEST(Tokenizer, AddedTokenStripFlags) {
  json j = wordpiece();
  j["added_tokens"].push_back({{"id", 10},
                               {"content", "<m>"},
                               {"single_word", false},
                               {"lstrip", true},
                               {"rstrip", true},
                               {"normalized", false},
                               {"special", true}});
  j["added_tokens"].push_back({{"id", 11},
                               {"content", "lo"},
                               {"single_word", true},
                               {"lstrip", false},
                               {"rstrip", false},
                               {"normalized", false},
                               {"special", false}});
  const qk::Tokenizer t = qk::Tokenizer::from_dir(write_dir("flags", j.dump()));
  EXPECT_EQ(t.encode("hello  <m>  world", false), (Ids{3, 10, 7}));
  EXPECT_EQ(t.encode("hello lo", false), (Ids{3, 11}));  // "lo" inside "hello" is not a single word
}

void expect_load_error(const std::string& dir, const std::string& needle) {
  expect_input_error([](const std::string& d) { qk::Tokenizer::from_dir(d); }, dir, needle);
}

TEST(Tokenizer, MalformedFiles) {
  expect_load_error(write_dir("notjson", "{ not json"), "not valid JSON");
  expect_load_error(write_dir("overflow", R"({"model": {"dropout": 1e999}})"), "not valid JSON");
  json j = byte_level_bpe();
  j["model"]["type"] = "Unigram";
  expect_load_error(write_dir("unigram", j.dump()), "model.type");
  j = byte_level_bpe();
  j["model"].erase("vocab");
  expect_load_error(write_dir("novocab", j.dump()), "model.vocab");
  j = byte_level_bpe();
  j["model"]["merges"].push_back("a zz");
  expect_load_error(write_dir("badmerge", j.dump()), "model.merges[4]");
  j = byte_level_bpe();
  j["normalizer"] = {{"type", "Precompiled"}};
  expect_load_error(write_dir("precompiled", j.dump()), "normalizer.type");
  j = byte_level_bpe();
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
  expect_load_error(write_dir("badregex", j.dump()), "pre_tokenizer.pattern");
  const std::string empty = write_dir("empty", "{}");
  std::filesystem::remove(std::filesystem::path(empty) / "tokenizer.json");
  expect_load_error(empty, "tokenizer.json");
  const std::string cfg = R"({"add_bos_token": true, "bos_token": "<nope>"})";
  expect_load_error(write_dir("badcfg", byte_level_bpe().dump(), cfg), "bos_token");
}

// Every id of tokenizer.json is an integer in [0, 2^31-1], refused (never wrapped) otherwise;
// HF refuses past 2^32-1 and below 0 (its ids are u32).
TEST(Tokenizer, IdsAreRangeChecked) {
  const json bad_values[] = {json(1ull << 40),    json(-1), json::parse("18446744073709551616"), json(1.5),
                             json(2147483648ull), json("7")};
  for (const json& v : bad_values) {
    const std::string tag = "_" + std::to_string(&v - bad_values);
    json j = byte_level_bpe();
    j["model"]["vocab"]["c"] = v;
    expect_load_error(
        write_dir("vocab" + tag, j.dump()),
        "model.vocab[\"c\"] (a token id): expected an integer in [0, 2147483647], got " + v.dump());
    j = byte_level_bpe();
    j["added_tokens"][0]["id"] = v;
    expect_load_error(write_dir("added" + tag, j.dump()),
                      "added_tokens[0].id (a token id): expected an integer in [0, 2147483647]");
    j = wordpiece();
    j["post_processor"]["cls"][1] = v;
    expect_load_error(write_dir("cls" + tag, j.dump()),
                      "post_processor.cls[1] (a token id): expected an integer");
    j = wordpiece();
    j["post_processor"] = {
        {"type", "TemplateProcessing"},
        {"single", json::array({{{"SpecialToken", {{"id", "[CLS]"}, {"type_id", 0}}}},
                                {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
        {"special_tokens", {{"[CLS]", {{"id", "[CLS]"}, {"ids", {1, v}}, {"tokens", {"[CLS]"}}}}}}};
    expect_load_error(write_dir("template" + tag, j.dump()), "special_tokens.[CLS].ids[1] (a token id)");
  }
  json j = wordpiece();
  j["model"]["max_input_chars_per_word"] = -1;
  expect_load_error(write_dir("maxchars", j.dump()),
                    "max_input_chars_per_word: expected an integer in [0, 9223372036854775807], got -1");
}

TEST(Tokenizer, LargestIdNeedsNoDenseTable) {
  json j = byte_level_bpe();
  j["model"]["vocab"]["c"] = 2147483647;
  j["model"]["merges"] = json::array({"a b"});
  const qk::Tokenizer t = qk::Tokenizer::from_dir(write_dir("bigid", j.dump()));
  EXPECT_EQ(t.encode("c", false), (Ids{2147483647}));
  EXPECT_EQ(t.id_to_token(2147483647), "c");
  EXPECT_EQ(t.vocab_size(), 2147483648u);
  EXPECT_THROW(t.id_to_token(2), std::out_of_range);
}

TEST(Tokenizer, RejectsInvalidUtf8) {
  const qk::Tokenizer t = qk::Tokenizer::from_dir(write_dir("utf8", byte_level_bpe().dump()));
  EXPECT_THROW(t.encode("ab\xFF"), qk::InputError);
  EXPECT_THROW(t.encode("\xED\xA0\x80"), qk::InputError);  // a UTF-16 surrogate
  EXPECT_EQ(t.encode("abc"), (Ids{7}));
}

TEST(Tokenizer, RealQwen3WhenPresent) {
  const std::string d = std::string(QK_SOURCE_DIR) + "/../shared/tokenizers/qwen3";
  if (!std::filesystem::exists(d + "/tokenizer.json")) GTEST_SKIP() << d << " not found";
  const qk::Tokenizer t = qk::Tokenizer::from_dir(d);
  EXPECT_EQ(t.encode("Hello world"), (Ids{9707, 1879}));
  EXPECT_EQ(t.encode("<|im_start|>user"), (Ids{151644, 872}));
}

// byte_level_bpe() with its normalizer (or pre_tokenizer) nested `depth` Sequences deep
// around `inner`: the file nests 1 + 2 * depth levels plus those of `inner`.
std::string nested_sequences(const char* field, const char* list, int depth, const std::string& inner) {
  json j = byte_level_bpe();
  j[field] = "@";
  std::string open, close;
  for (int i = 0; i < depth; ++i) {
    open += std::string(R"({"type":"Sequence",")") + list + "\":[";
    close += "]}";
  }
  const std::string text = j.dump();
  const size_t at = text.find("\"@\"");
  return text.substr(0, at) + open + inner + close + text.substr(at + 3);
}

// HF tokenizers (serde_json) loads 127 levels and refuses 128 (checked with
// tokenizers 0.23 by tests/reference/test_strings.py).
TEST(Tokenizer, NestingDepthAsHf) {
  const std::string lower = R"({"type":"Lowercase"})";
  const qk::Tokenizer t62 = qk::Tokenizer::from_dir(
      write_dir("deep126", nested_sequences("normalizer", "normalizers", 62, lower)));  // 126 levels
  EXPECT_EQ(t62.encode("ABC"), (Ids{7}));
  qk::Tokenizer::from_dir(write_dir("deep127", nested_sequences("normalizer", "normalizers", 63, "")));
  const std::string deep128 = write_dir("deep128", nested_sequences("normalizer", "normalizers", 63, lower));
  expect_input_error([&](const std::string&) { qk::Tokenizer::from_dir(deep128); },
                     deep128 + "/tokenizer.json", "nests deeper than 127 levels (line 1, column ");
}

// 40,000 nested Sequences (a 2 MB file) once took 7.8 GB and crashed; now refused at once.
TEST(Tokenizer, DeepSequencesAreRefused) {
  const std::string byte_level = R"({"type":"ByteLevel","add_prefix_space":false,"use_regex":true})";
  for (const auto& [field, list, inner] :
       {std::tuple{"normalizer", "normalizers", std::string(R"({"type":"NFC"})")},
        std::tuple{"pre_tokenizer", "pretokenizers", byte_level}}) {
    const std::string dir =
        write_dir(std::string("deep_") + field, nested_sequences(field, list, 40000, inner));
    expect_load_error(dir, "nests deeper than 127 levels");
  }
  const std::string cfg =
      write_dir("deepcfg", byte_level_bpe().dump(), std::string(200, '[') + std::string(200, ']'));
  expect_input_error([&](const std::string&) { qk::Tokenizer::from_dir(cfg); },
                     cfg + "/tokenizer_config.json", "nests deeper than 127 levels (line 1, column 128)");
}

TEST(JsonLimits, DepthScanSkipsStrings) {
  EXPECT_EQ(qk::json_too_deep_at("[[]]", 2), std::nullopt);
  EXPECT_EQ(qk::json_too_deep_at("[[[]]]", 2), std::optional<size_t>(2));
  EXPECT_EQ(qk::json_too_deep_at(R"(["[[[[", {"a": "]]]{{{"}])", 2), std::nullopt);
  EXPECT_EQ(qk::json_too_deep_at(R"(["\"[[[["])", 1), std::nullopt);                // an escaped quote
  EXPECT_EQ(qk::json_too_deep_at(R"(["\\", [[]]])", 2), std::optional<size_t>(8));  // an escaped backslash
  EXPECT_EQ(qk::json_too_deep_at("]]]][[", 1), std::optional<size_t>(5));  // stray closers do not go below 0
  EXPECT_EQ(qk::json_too_deep_at(std::string(127, '[') + std::string(127, ']')), std::nullopt);
  EXPECT_EQ(qk::json_too_deep_at(std::string(128, '[')), std::optional<size_t>(127));
  EXPECT_EQ(qk::text_position("ab\ncd", 4), "line 2, column 2");
  EXPECT_EQ(qk::text_position("abc", 0), "line 1, column 1");
}

TEST(JsonLimits, SizeIsCheckedBeforeReading) {
  const std::string dir = write_dir("size", std::string(2000, ' ') + "{}");
  const std::string file = dir + "/tokenizer.json";
  expect_input_error([](const std::string& p) { qk::read_json_file(p, 1000); }, file,
                     "is 2002 bytes, more than the 1000 bytes a JSON file may hold");
  EXPECT_EQ(qk::read_json_file(file).size(), 2002u);
  expect_input_error([](const std::string& w) { qk::check_json_limits("[1, 2]", w, 5); }, "line 4",
                     "JSON text of 6 bytes, more than the 5 bytes allowed");
  expect_input_error([](const std::string& p) { qk::parse_json_file(p); }, dir, "is not a regular file");
  expect_input_error([](const std::string& p) { qk::parse_json_file(p); }, dir + "/absent.json",
                     "cannot open");
}

}  // namespace
