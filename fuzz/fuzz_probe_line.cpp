// libFuzzer: probe-file lines (io/probes). Each line of the input through the JSONL, text
// and ids line parsers, then the whole input as a JSONL probe file with bad lines skipped.
// LineProblem (a bad line) and InputError (a file without probes) are the expected
// answers; anything else is a bug.
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>

#include "fuzz_file.hpp"
#include "input_error.hpp"
#include "probe_line.hpp"
#include "probe_set.hpp"

namespace {

void parse_line(const std::string& line) {
  namespace pd = qk::probe_detail;
  if (pd::is_blank(line)) return;
  try {
    pd::check_utf8(line);
  } catch (const pd::LineProblem&) {
    return;
  }
  try {
    pd::parse_jsonl_line(line);
  } catch (const pd::LineProblem&) {
  }
  try {
    pd::parse_text_line(line, 1);
  } catch (const pd::LineProblem&) {
  }
  try {
    pd::parse_ids_line(line, 1);
  } catch (const pd::LineProblem&) {
  }
  try {
    qk::parse_id_list(line);
  } catch (const std::invalid_argument&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  for (std::string line; std::getline(in, line);) parse_line(line);
  qk::fuzz::FuzzFile f(data, size, ".jsonl");
  try {
    qk::read_probes(f.path, qk::ProbeFormat::Jsonl, qk::OnBadLine::Skip);
  } catch (const qk::InputError&) {
  }
  return 0;
}
