// Probe sets (io/probes): the three formats, every kind of bad line under both policies,
// prompt templates, and the shipped set probes/geometry-probes-v1.jsonl.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "expect_input_error.hpp"
#include "input_error.hpp"
#include "probe_set.hpp"
#include "prompt_template.hpp"

namespace fs = std::filesystem;

namespace {

class Probes : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "qk_probes_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes `bytes` to a file `name` in the temp dir; returns its path.
  std::string write(const std::string& name, const std::string& bytes) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  fs::path dir_;
};

std::vector<int64_t> ids_of(const qk::Probe& p) { return p.ids ? *p.ids : std::vector<int64_t>{}; }

TEST_F(Probes, JsonlPromptsIdsDomainsAndFields) {
  const std::string path =
      write("a.jsonl",
            "{\"id\": \"sci-001\", \"domain\": \"science\", \"prompt\": \"Why is the sky blue?\", "
            "\"lang\": \"en\", \"length\": \"short\"}\n"
            "\n"
            "{\"id\": 42, \"ids\": [1, 0, 9007199254740993]}\n"
            "   \n"
            "{\"prompt\": \"  keep me exactly \\n\", \"id\": \"x\", \"tags\": [\"a\", \"b\"], "
            "\"meta\": {\"k\": null, \"f\": 1.5}, \"lang\": \"日本語\"}\n");
  const qk::ProbeSet set = qk::read_probes(path, qk::ProbeFormat::Auto, qk::OnBadLine::Fail);
  EXPECT_EQ(set.path, path);
  ASSERT_EQ(set.probes.size(), 3u);
  EXPECT_TRUE(set.skipped.empty());

  const qk::Probe& a = set.probes[0];
  EXPECT_EQ(a.id, "sci-001");
  EXPECT_EQ(a.domain, "science");
  EXPECT_EQ(a.prompt, "Why is the sky blue?");
  EXPECT_EQ(a.fields, R"({"lang":"en","length":"short"})");
  EXPECT_FALSE(a.ids.has_value());
  EXPECT_EQ(a.line, 1);
  EXPECT_EQ(a.index, 0);

  const qk::Probe& b = set.probes[1];
  EXPECT_EQ(b.id, "42");
  EXPECT_EQ(b.prompt, "");
  EXPECT_EQ(b.domain, "");
  EXPECT_EQ(b.fields, "{}");
  EXPECT_EQ(ids_of(b), (std::vector<int64_t>{1, 0, 9007199254740993LL}));
  EXPECT_EQ(b.line, 3);
  EXPECT_EQ(b.index, 1);

  const qk::Probe& c = set.probes[2];
  EXPECT_EQ(c.prompt, "  keep me exactly \n");  // never trimmed
  EXPECT_EQ(c.fields, R"({"tags":["a","b"],"meta":{"k":null,"f":1.5},"lang":"日本語"})");
  EXPECT_EQ(c.line, 5);
  EXPECT_EQ(c.index, 2);
}

TEST_F(Probes, TextKeepsPromptsExactlyAndStripsOnlyLineEnds) {
  const std::string path = write("p.txt",
                                 "first prompt\r\n"
                                 "\r\n"
                                 "  leading spaces, trailing tab\t\r\n"
                                 " \t \n"
                                 "inner\rcarriage return\n"
                                 "Ünïcödé 😀 last");
  const qk::ProbeSet set = qk::read_probes(path, qk::ProbeFormat::Auto, qk::OnBadLine::Fail);
  ASSERT_EQ(set.probes.size(), 4u);
  EXPECT_EQ(set.probes[0].prompt, "first prompt");
  EXPECT_EQ(set.probes[0].id, "L1");
  EXPECT_EQ(set.probes[1].prompt, "  leading spaces, trailing tab\t");
  EXPECT_EQ(set.probes[1].id, "L3");
  EXPECT_EQ(set.probes[1].index, 1);
  EXPECT_EQ(set.probes[2].prompt, "inner\rcarriage return");
  EXPECT_EQ(set.probes[3].prompt, "Ünïcödé 😀 last");
  EXPECT_EQ(set.probes[3].id, "L6");
  EXPECT_EQ(set.probes[3].line, 6);
  EXPECT_EQ(set.probes[3].index, 3);
  for (const qk::Probe& p : set.probes) {
    EXPECT_EQ(p.fields, "{}");
    EXPECT_EQ(p.domain, "");
    EXPECT_FALSE(p.ids.has_value());
  }
}

TEST_F(Probes, IdsSeparatedByWhitespaceAndCommas) {
  const std::string path = write("p.ids", "1, 2,3  4\r\n\n\t5\t6 ,7\n0\n");
  const qk::ProbeSet set = qk::read_probes(path, qk::ProbeFormat::Auto, qk::OnBadLine::Fail);
  ASSERT_EQ(set.probes.size(), 3u);
  EXPECT_EQ(ids_of(set.probes[0]), (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(ids_of(set.probes[1]), (std::vector<int64_t>{5, 6, 7}));
  EXPECT_EQ(ids_of(set.probes[2]), (std::vector<int64_t>{0}));
  EXPECT_EQ(set.probes[1].id, "L3");
  EXPECT_EQ(set.probes[2].line, 4);
  EXPECT_EQ(set.probes[0].prompt, "");
}

TEST_F(Probes, FormatByExtensionOrByName) {
  EXPECT_EQ(qk::probe_format_for_path("x/a.jsonl"), qk::ProbeFormat::Jsonl);
  EXPECT_EQ(qk::probe_format_for_path("a.JSON"), qk::ProbeFormat::Jsonl);
  EXPECT_EQ(qk::probe_format_for_path("a.ids"), qk::ProbeFormat::Ids);
  EXPECT_EQ(qk::probe_format_for_path("a.txt"), qk::ProbeFormat::Text);
  EXPECT_EQ(qk::probe_format_for_path("jsonl"), qk::ProbeFormat::Text);
  EXPECT_EQ(qk::parse_probe_format("auto"), qk::ProbeFormat::Auto);
  EXPECT_EQ(qk::parse_probe_format("jsonl"), qk::ProbeFormat::Jsonl);
  EXPECT_EQ(qk::parse_probe_format("text"), qk::ProbeFormat::Text);
  EXPECT_EQ(qk::parse_probe_format("ids"), qk::ProbeFormat::Ids);
  expect_usage_error([] { qk::parse_probe_format("csv"); }, "--probe-format",
                     "unknown probe format 'csv'; supported: auto, jsonl, text, ids");

  // An explicit format wins over the extension.
  const std::string path = write("nums.txt", "1 2 3\n");
  EXPECT_EQ(qk::read_probes(path, qk::ProbeFormat::Text).probes[0].prompt, "1 2 3");
  EXPECT_EQ(ids_of(qk::read_probes(path, qk::ProbeFormat::Ids).probes[0]), (std::vector<int64_t>{1, 2, 3}));
  const std::string json = write("j.txt", "{\"id\": \"q\", \"prompt\": \"hi\"}\n");
  EXPECT_EQ(qk::read_probes(json, qk::ProbeFormat::Jsonl).probes[0].id, "q");
}

TEST_F(Probes, ByteOrderMarkIsNotPartOfTheFirstLine) {
  const std::string path = write("bom.jsonl", "\xEF\xBB\xBF{\"id\": \"a\", \"prompt\": \"x\"}\n");
  EXPECT_EQ(qk::read_probes(path).probes.at(0).id, "a");
}

// One bad line, between good ones: line 3 of the file.
struct BadLine {
  const char* name;
  qk::ProbeFormat format;
  std::string line;
  std::string needle;
  std::string id;  // the id the skipped problem carries
};

std::string good_first(qk::ProbeFormat f) {
  return f == qk::ProbeFormat::Jsonl ? R"({"id": "a", "prompt": "first"})"
         : f == qk::ProbeFormat::Ids ? "1 2"
                                     : "first";
}
std::string good_last(qk::ProbeFormat f) {
  return f == qk::ProbeFormat::Jsonl ? R"({"id": "z", "prompt": "last"})"
         : f == qk::ProbeFormat::Ids ? "3"
                                     : "last";
}

// JSONL lines that are bad: their expected message and the probe id it names ("" = none).
// NOLINTNEXTLINE(readability-function-size): a table of cases, not logic
std::vector<BadLine> bad_json_lines() {
  using F = qk::ProbeFormat;
  return {
      {"json_truncated", F::Jsonl, R"({"id": "b", "prompt": "x")", "malformed JSON at column", ""},
      {"json_trailing", F::Jsonl, R"({"id": "b", "prompt": "x"} x)", "malformed JSON", ""},
      {"json_not_object", F::Jsonl, "[1, 2]", "expected a JSON object, got array", ""},
      {"json_missing_id", F::Jsonl, R"({"prompt": "x"})", "missing \"id\"", ""},
      {"json_float_id", F::Jsonl, R"({"id": 1.5, "prompt": "x"})",
       "\"id\" must be a string or an integer, got a non-integer number", ""},
      {"json_bool_id", F::Jsonl, R"({"id": true, "prompt": "x"})",
       "\"id\" must be a string or an integer, got boolean", ""},
      {"json_empty_id", F::Jsonl, R"({"id": " ", "prompt": "x"})", "\"id\" is empty", ""},
      {"json_no_input", F::Jsonl, R"({"id": "b", "domain": "d"})", "needs \"prompt\" or \"ids\"", "b"},
      {"json_both", F::Jsonl, R"({"id": "b", "prompt": "x", "ids": [1]})", "has both \"prompt\" and \"ids\"",
       "b"},
      {"json_prompt_type", F::Jsonl, R"({"id": "b", "prompt": 5})", "\"prompt\" must be a string, got number",
       "b"},
      {"json_prompt_null", F::Jsonl, R"({"id": "b", "prompt": null})",
       "\"prompt\" must be a string, got null", "b"},
      {"json_empty_prompt", F::Jsonl, R"({"id": "b", "prompt": ""})", "empty prompt", "b"},
      {"json_blank_prompt", F::Jsonl, R"({"id": "b", "prompt": " \t\n"})", "empty prompt (only white space)",
       "b"},
      {"json_ideographic_space", F::Jsonl, "{\"id\": \"b\", \"prompt\": \"\\u3000\xC2\xA0\"}",
       "empty prompt (only white space)", "b"},
      {"json_ids_empty", F::Jsonl, R"({"id": "b", "ids": []})", "\"ids\" is empty", "b"},
      {"json_ids_negative", F::Jsonl, R"({"id": "b", "ids": [4, -2]})", "\"ids\"[1] -2 is negative", "b"},
      {"json_ids_float", F::Jsonl, R"({"id": "b", "ids": [2.5]})",
       "\"ids\"[0] 2.5 is not an integer token id", "b"},
      {"json_ids_string", F::Jsonl, R"({"id": "b", "ids": ["7"]})",
       "\"ids\"[0] \"7\" is not an integer token id", "b"},
      {"json_ids_not_array", F::Jsonl, R"({"id": "b", "ids": "1,2"})",
       "\"ids\" must be an array of token ids, got string", "b"},
      {"json_ids_too_large", F::Jsonl, R"({"id": "b", "ids": [18446744073709551615]})", "is too large", "b"},
      {"json_ids_past_64_bits", F::Jsonl, R"({"id": "b", "ids": [1, 18446744073709551616]})",
       "\"ids\"[1] 1.8446744073709552e+19 is too large", "b"},
      {"json_ids_past_64_bits_negative", F::Jsonl, R"({"id": "b", "ids": [-18446744073709551616]})",
       "is negative", "b"},
      {"json_id_past_64_bits", F::Jsonl, R"({"id": 18446744073709551616, "prompt": "x"})",
       "is an integer past 64 bits; write it as a string", ""},
      {"json_domain_type", F::Jsonl, R"({"id": "b", "prompt": "x", "domain": 3})",
       "\"domain\" must be a string, got number", "b"},
      {"json_duplicate_key", F::Jsonl, R"({"id": "b", "prompt": "x", "prompt": "y"})",
       "duplicate key \"prompt\"", ""},
      {"json_duplicate_nested_key", F::Jsonl, R"({"id": "b", "prompt": "x", "m": {"k": 1, "k": 2}})",
       "duplicate key \"k\"", ""},
      {"json_duplicate_id", F::Jsonl, R"({"id": "a", "prompt": "again"})",
       "duplicate id \"a\" (first on line 1)", "a"},
      {"json_nul_id", F::Jsonl, R"({"id": "a\u0000x", "prompt": "x"})",
       "\"id\" holds U+0000 (NUL) at character 2; an id or domain may not hold it", ""},
      {"json_nul_domain", F::Jsonl, R"({"id": "b", "domain": "do\u0000main", "prompt": "x"})",
       "\"domain\" holds U+0000 (NUL) at character 3; an id or domain may not hold it", "b"},
      {"json_field_128_deep", F::Jsonl,
       R"({"id": "b", "prompt": "x", "f": )" + std::string(127, '[') + std::string(127, ']') + "}",
       "JSON nests deeper than 127 levels (column 159)", ""},
      {"json_field_70000_deep", F::Jsonl,
       R"({"id": "b", "prompt": "x", "f": )" + std::string(70000, '[') + std::string(70000, ']') + "}",
       "JSON nests deeper than 127 levels", ""},
      {"json_object_100000_deep", F::Jsonl,
       [] {
         std::string s;
         for (int i = 0; i < 100000; ++i) s += R"({"a": )";
         return s + "1" + std::string(100000, '}');
       }(),
       "JSON nests deeper than 127 levels (column 763)", ""},
      {"json_bad_utf8", F::Jsonl, "{\"id\": \"b\", \"prompt\": \"caf\xE9\"}", "invalid UTF-8 at byte 27", ""},
      {"json_lone_surrogate_escape", F::Jsonl, R"({"id": "b", "prompt": "\ud800"})", "malformed JSON", ""},
      {"json_number_overflow", F::Jsonl, R"({"id": "b", "prompt": "x", "w": -1e999})", "malformed JSON", ""},
  };
}

// Bad plain-text and token-id lines ("L3": the probe named by its line number).
std::vector<BadLine> bad_text_and_ids_lines() {
  using F = qk::ProbeFormat;
  return {
      {"text_bad_utf8", F::Text, "abc\xC3(", "invalid UTF-8 at byte 4", ""},
      {"text_overlong", F::Text, "a\xC0\xAF", "invalid UTF-8 at byte 2", ""},
      {"text_surrogate", F::Text, "\xED\xA0\x80", "invalid UTF-8 at byte 1", ""},
      {"text_truncated_sequence", F::Text, "ok \xE2\x82", "invalid UTF-8 at byte 4", ""},
      {"text_only_unicode_space", F::Text, "\xE3\x80\x80 ", "empty prompt (only white space)", "L3"},
      {"text_nul", F::Text, std::string("be\0fore", 7),
       "the prompt holds U+0000 (NUL) at character 3; a raw NUL byte is refused", "L3"},
      {"ids_negative", F::Ids, "1, -2", "token id -2 is negative", "L3"},
      {"ids_word", F::Ids, "1 x 3", "token id 'x' is not an integer", "L3"},
      {"ids_float", F::Ids, "1.5", "token id '1.5' is not an integer", "L3"},
      {"ids_plus", F::Ids, "+4", "token id '+4' is not an integer", "L3"},
      {"ids_double_comma", F::Ids, "1,,2", "empty item at column 3", "L3"},
      {"ids_leading_comma", F::Ids, " ,1", "empty item at column 2", "L3"},
      {"ids_trailing_comma", F::Ids, "1,2, ", "trailing comma", "L3"},
      {"ids_too_large", F::Ids, "99999999999999999999", "token id 99999999999999999999 is too large", "L3"},
      {"ids_bad_utf8", F::Ids, "1 \xFF", "invalid UTF-8 at byte 3", ""},
      {"ids_nul", F::Ids, std::string("1 \0 2", 5), "the line holds U+0000 (NUL) at character 3", "L3"},
  };
}

const std::vector<BadLine>& bad_lines() {
  static const std::vector<BadLine> cases = [] {
    std::vector<BadLine> all = bad_json_lines();
    for (auto& c : bad_text_and_ids_lines()) all.push_back(c);
    return all;
  }();
  return cases;
}

class BadLines : public Probes, public ::testing::WithParamInterface<BadLine> {};

std::string file_with(const BadLine& c) {
  return good_first(c.format) + "\n\n" + c.line + "\r\n\n" + good_last(c.format) + "\n";
}

TEST_P(BadLines, FailNamesFileAndLine) {
  const BadLine& c = GetParam();
  const std::string path = write("bad.probes", file_with(c));
  expect_input_error([&](const std::string&) { qk::read_probes(path, c.format, qk::OnBadLine::Fail); },
                     path + ":3: ", c.needle);
}

TEST_P(BadLines, SkipRecordsTheProblemAndKeepsTheRest) {
  const BadLine& c = GetParam();
  const std::string path = write("bad.probes", file_with(c));
  const qk::ProbeSet set = qk::read_probes(path, c.format, qk::OnBadLine::Skip);
  ASSERT_EQ(set.probes.size(), 2u);
  EXPECT_EQ(set.probes[0].line, 1);
  EXPECT_EQ(set.probes[1].line, 5);
  EXPECT_EQ(set.probes[1].index, 2);  // the skipped line keeps its place in the order
  ASSERT_EQ(set.skipped.size(), 1u);
  EXPECT_EQ(set.skipped[0].line, 3);
  EXPECT_EQ(set.skipped[0].id, c.id);
  EXPECT_NE(set.skipped[0].what.find(c.needle), std::string::npos) << set.skipped[0].what;
}

INSTANTIATE_TEST_SUITE_P(AllProblems, BadLines, ::testing::ValuesIn(bad_lines()),
                         [](const ::testing::TestParamInfo<BadLine>& info) {
                           return std::string(info.param.name);
                         });

TEST_F(Probes, IntegerAndStringIdsCollide) {
  const std::string path =
      write("d.jsonl", "{\"id\": 7, \"prompt\": \"a\"}\n{\"id\": \"7\", \"prompt\": \"b\"}\n");
  expect_input_error([&](const std::string&) { qk::read_probes(path); },
                     path + ":2: ", "duplicate id \"7\" (first on line 1)");
}

TEST_F(Probes, SkippedLineDoesNotClaimItsId) {
  // Line 1 is bad, so line 2 is the first accepted "a", not a duplicate.
  const std::string path =
      write("d.jsonl", "{\"id\": \"a\", \"prompt\": \"\"}\n{\"id\": \"a\", \"prompt\": \"b\"}\n");
  const qk::ProbeSet set = qk::read_probes(path, qk::ProbeFormat::Auto, qk::OnBadLine::Skip);
  ASSERT_EQ(set.probes.size(), 1u);
  EXPECT_EQ(set.probes[0].line, 2);
  ASSERT_EQ(set.skipped.size(), 1u);
  EXPECT_EQ(set.skipped[0].line, 1);
}

// A JSONL prompt keeps U+0000 exactly (HF tokenizers encode it: Qwen3's byte-level BPE gives
// it the token of byte 0); ids and domains holding it are refused with the line
// (docs/probe-sets.md), other fields keep it (as \u0000 in their JSON text), ids stay unique.
TEST_F(Probes, NulIsKeptInPromptsRefusedInKeys) {
  const std::string path = write("nulprompt.jsonl",
                                 "{\"id\": \"m\", \"prompt\": \"before\\u0000after\"}\n"
                                 "{\"id\": \"e\", \"prompt\": \"\\u00e9nd\\u0000\"}\n"
                                 "{\"id\": \"o\", \"prompt\": \"\\u0000\"}\n");
  const qk::ProbeSet set = qk::read_probes(path);
  ASSERT_EQ(set.probes.size(), 3u);
  EXPECT_EQ(set.probes[0].prompt, std::string("before\0after", 12));
  EXPECT_EQ(set.probes[1].prompt, std::string("\xC3\xA9nd\0", 5));
  EXPECT_EQ(set.probes[2].prompt, std::string(1, '\0'));
  EXPECT_TRUE(set.skipped.empty());
}

TEST_F(Probes, NulIsRefusedInKeysKeptInFields) {
  const std::string path = write("nul.jsonl",
                                 "{\"id\": \"a\\u0000x\", \"prompt\": \"first\"}\n"
                                 "{\"id\": \"a\\u0000y\", \"prompt\": \"second\"}\n"
                                 "{\"id\": \"a\", \"prompt\": \"third\", \"note\": \"n\\u0000b\"}\n");
  const qk::ProbeSet set = qk::read_probes(path, qk::ProbeFormat::Auto, qk::OnBadLine::Skip);
  ASSERT_EQ(set.probes.size(), 1u);
  EXPECT_EQ(set.probes[0].id, "a");
  EXPECT_EQ(set.probes[0].fields, R"({"note":"n\u0000b"})");
  EXPECT_EQ(nlohmann::json::parse(set.probes[0].fields)["note"].get<std::string>(), std::string("n\0b", 3));
  ASSERT_EQ(set.skipped.size(), 2u);
  EXPECT_EQ(set.skipped[0].line, 1);
  EXPECT_EQ(set.skipped[1].line, 2);
}

// 127 levels of nesting (the JSONL object's own included) are kept, exactly.
TEST_F(Probes, FieldNested127LevelsIsKept) {
  const std::string deep = std::string(126, '[') + std::string(126, ']');
  const std::string path = write("deep.jsonl", R"({"id": "d", "prompt": "x", "f": )" + deep + "}\n");
  const qk::ProbeSet set = qk::read_probes(path);
  ASSERT_EQ(set.probes.size(), 1u);
  EXPECT_EQ(set.probes[0].fields, R"({"f":)" + deep + "}");
}

TEST_F(Probes, FileProblems) {
  const auto read = [](const std::string& p) {
    qk::read_probes(p, qk::ProbeFormat::Auto, qk::OnBadLine::Skip);
  };
  expect_input_error(read, (dir_ / "missing.jsonl").string(), "cannot open the probe file");
  expect_input_error(read, dir_.string(), "is a directory");
  expect_input_error(read, write("empty.txt", ""), "no probes: the file has no non-blank lines");
  expect_input_error(read, write("blank.txt", "\n  \r\n\t\n"), "no probes: the file has no non-blank lines");
  expect_input_error(
      read, write("allbad.ids", "x\n\n1,\n"),
      "no probes: all 2 non-blank lines had problems (line 1: token id 'x' is not an integer)");
  // Windows' "Unicode" files: refused as a whole, not as line 1's "invalid UTF-8" (under
  // skip: every line skipped).
  const std::string wide = "is UTF-16 or UTF-32 (it starts with such a byte order mark); save it as UTF-8";
  expect_input_error(read, write("le.jsonl", std::string("\xFF\xFE{\0\n\0", 6)), wide);
  expect_input_error(read, write("be.txt", std::string("\xFE\xFF\0a\0\n", 6)), wide);
  expect_input_error(read, write("be32.ids", std::string("\0\0\xFE\xFF\0\0\0\x31", 8)), wide);
}

TEST(PromptTemplate, WrapsThePromptExactly) {
  EXPECT_EQ(qk::apply_template("raw", " Hi\n"), " Hi\n");
  EXPECT_EQ(qk::apply_template("chatml", "Hi"), "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(qk::apply_template("gemma", "Hi"),
            "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n");
  EXPECT_EQ(qk::template_names(), "raw, chatml, gemma");
  expect_usage_error([] { qk::apply_template("llama3", "Hi"); }, "--template",
                     "unknown template 'llama3'; supported: raw, chatml, gemma");
  expect_usage_error([] { qk::apply_template("ChatML", "Hi"); }, "--template", "ChatML");
}

size_t word_count(const std::string& s) {
  std::istringstream in(s);
  size_t n = 0;
  for (std::string w; in >> w;) ++n;
  return n;
}

TEST(ShippedProbeSet, GeometryProbesV1) {
  const std::string path = std::string(QK_SOURCE_DIR) + "/probes/geometry-probes-v1.jsonl";
  const qk::ProbeSet set = qk::read_probes(path, qk::ProbeFormat::Auto, qk::OnBadLine::Fail);
  EXPECT_GE(set.probes.size(), 220u);
  std::set<std::string> ids, domains, langs;
  std::map<std::string, int> lengths;
  size_t over_120_words = 0, min_words = 1000, with_newline = 0, with_emoji = 0, with_digits = 0;
  for (const qk::Probe& p : set.probes) {
    EXPECT_TRUE(ids.insert(p.id).second) << p.id;
    EXPECT_FALSE(p.domain.empty()) << p.id;
    EXPECT_FALSE(p.ids.has_value()) << p.id;
    domains.insert(p.domain);
    const nlohmann::json fields = nlohmann::json::parse(p.fields);
    ASSERT_TRUE(fields.contains("lang") && fields["lang"].is_string()) << p.id;
    ASSERT_TRUE(fields.contains("length") && fields["length"].is_string()) << p.id;
    langs.insert(fields["lang"].get<std::string>());
    const std::string length = fields["length"].get<std::string>();
    EXPECT_TRUE(length == "short" || length == "medium" || length == "long") << p.id << " " << length;
    ++lengths[length];
    const size_t words = word_count(p.prompt);
    if (words > 120) ++over_120_words;
    if (fields["lang"] == "en") min_words = std::min(min_words, words);
    if (p.prompt.find('\n') != std::string::npos) ++with_newline;
    if (p.prompt.find("\xF0\x9F") != std::string::npos) ++with_emoji;  // U+1F000.. (emoji)
    if (p.prompt.find_first_of("0123456789") != std::string::npos) ++with_digits;
  }
  EXPECT_GE(domains.size(), 10u);
  EXPECT_GE(langs.size(), 9u);  // English and at least 8 others
  EXPECT_EQ(langs.count("en"), 1u);
  EXPECT_GE(over_120_words, 15u);
  EXPECT_LE(min_words, 3u);
  EXPECT_GE(with_newline, 3u);
  EXPECT_GE(with_emoji, 3u);
  EXPECT_GE(with_digits, 10u);
  EXPECT_GE(lengths["short"], 20);
  EXPECT_GE(lengths["medium"], 20);
  EXPECT_GE(lengths["long"], 15);
}

}  // namespace
