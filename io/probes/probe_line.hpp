#pragma once
// Internal to probe_set.cpp: one line of a probe file -> a Probe, or a LineProblem saying
// what is wrong with it.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

#include "probe_set.hpp"

namespace qk::probe_detail {

struct LineProblem : std::runtime_error {
  explicit LineProblem(const std::string& what, std::string line_id = "")
      : std::runtime_error(what), id(std::move(line_id)) {}
  std::string id;  // the probe id, when it was read before the problem
};

// True when the line holds only ASCII whitespace (such lines are not probes).
bool is_blank(const std::string& line);

// Throws LineProblem at the first byte that is not well-formed UTF-8.
void check_utf8(const std::string& line);

// Each parser fills id, prompt/ids, domain and fields; the caller sets index and line.
Probe parse_jsonl_line(const std::string& line);
Probe parse_text_line(const std::string& line, int64_t line_no);
Probe parse_ids_line(const std::string& line, int64_t line_no);

}  // namespace qk::probe_detail
