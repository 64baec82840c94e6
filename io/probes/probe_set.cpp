#include "probe_set.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string_view>
#include <stdexcept>
#include <unordered_map>

#include "input_error.hpp"
#include "probe_line.hpp"

namespace qk {

namespace {

using probe_detail::LineProblem;

// The probe file, open for reading; InputError naming it when it is a directory, cannot
// be opened, or is UTF-16 or UTF-32 (Windows' "Unicode", told by its byte order mark).
std::ifstream open_probe_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw InputError(path, "is a directory, not a probe file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, std::string("cannot open the probe file: ") + std::strerror(errno));
  char head[4] = {};
  in.read(head, sizeof head);
  const std::string h(head, static_cast<size_t>(in.gcount()));
  const bool wide = h.compare(0, 2, "\xFF\xFE") == 0 || h.compare(0, 2, "\xFE\xFF") == 0 ||
                    h.compare(0, 4, std::string("\0\0\xFE\xFF", 4)) == 0;
  if (wide)
    throw InputError(path, "is UTF-16 or UTF-32 (it starts with such a byte order mark); save it as UTF-8");
  in.clear();
  in.seekg(0);
  return in;
}

// The number of "\n" in the rest of `in` (read in blocks), which is then rewound.
size_t count_newlines(std::ifstream& in, const std::string& path) {
  size_t n = 0;
  char buf[1 << 16];
  while (in.read(buf, sizeof buf) || in.gcount() > 0)
    n += static_cast<size_t>(std::count(buf, buf + in.gcount(), '\n'));
  if (in.bad()) throw InputError(path, "cannot read the probe file");
  in.clear();
  in.seekg(0);
  return n;
}

// Calls `each(line, line_no)` for every line read from `in`, without its "\n" or "\r\n"
// and without a leading UTF-8 byte order mark: one line in memory at a time, never the file.
template <typename F>
void for_each_line(std::istream& in, const std::string& path, F&& each) {
  std::string line;
  for (int64_t line_no = 1; std::getline(in, line); ++line_no) {
    if (line_no == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    each(line, line_no);
  }
  if (in.bad()) throw InputError(path, "cannot read the probe file");
}

// One non-blank line -> a Probe (index and line still to set), or a LineProblem.
Probe parse_line(ProbeFormat format, const std::string& line, int64_t line_no) {
  probe_detail::check_utf8(line);
  switch (format) {
    case ProbeFormat::Jsonl:
      return probe_detail::parse_jsonl_line(line);
    case ProbeFormat::Ids:
      return probe_detail::parse_ids_line(line, line_no);
    default:
      return probe_detail::parse_text_line(line, line_no);
  }
}

// "no probes" with what the lines held instead.
std::string no_probes(const ProbeSet& set) {
  if (set.skipped.empty()) return "no probes: the file has no non-blank lines";
  const ProbeProblem& first = set.skipped.front();
  return "no probes: all " + std::to_string(set.skipped.size()) + " non-blank lines had problems (line " +
         std::to_string(first.line) + ": " + first.what + ")";
}

}  // namespace

ProbeFormat probe_format_for_path(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext == ".jsonl" || ext == ".json") return ProbeFormat::Jsonl;
  if (ext == ".ids") return ProbeFormat::Ids;
  return ProbeFormat::Text;
}

ProbeFormat parse_probe_format(const std::string& name, const std::string& flag) {
  if (name == "auto") return ProbeFormat::Auto;
  if (name == "jsonl") return ProbeFormat::Jsonl;
  if (name == "text") return ProbeFormat::Text;
  if (name == "ids") return ProbeFormat::Ids;
  throw std::invalid_argument(flag + ": unknown probe format '" + name +
                              "'; supported: auto, jsonl, text, ids");
}

ProbeSet read_probes(const std::string& path, ProbeFormat format, OnBadLine on_bad) {
  const ProbeFormat fmt = format == ProbeFormat::Auto ? probe_format_for_path(path) : format;
  ProbeSet set;
  set.path = path;
  {
    std::ifstream in = open_probe_file(path);
    // Room for every line: no reallocation, so the ids `first_line` views stay put.
    set.probes.reserve(count_newlines(in, path) + 1);
    std::unordered_map<std::string_view, int64_t> first_line;  // accepted id -> its line
    int64_t index = 0;
    for_each_line(in, path, [&](const std::string& line, int64_t line_no) {
      if (probe_detail::is_blank(line)) return;
      try {
        Probe p = parse_line(fmt, line, line_no);
        if (const auto it = first_line.find(p.id); it != first_line.end())
          throw LineProblem(
              "duplicate id \"" + p.id + "\" (first on line " + std::to_string(it->second) + ")", p.id);
        p.index = index;
        p.line = line_no;
        set.probes.push_back(std::move(p));
        first_line.emplace(set.probes.back().id, line_no);
      } catch (const LineProblem& e) {
        if (on_bad == OnBadLine::Fail) throw InputError(path + ":" + std::to_string(line_no), e.what());
        set.skipped.push_back({line_no, e.id, e.what()});
      }
      ++index;
    });
  }
  if (set.probes.empty()) throw InputError(path, no_probes(set));
  return set;
}

}  // namespace qk
