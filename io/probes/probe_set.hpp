#pragma once
// Probe sets for `qkgeom sweep`: a file of prompts (or pre-tokenized ids), one per line,
// read as JSONL, plain text or id lists (docs/probe-sets.md). A bad line either stops
// the read (InputError naming "<path>:<line>") or is skipped and reported.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace qk {

// Auto picks by extension: .jsonl/.json -> Jsonl, .ids -> Ids, anything else -> Text.
enum class ProbeFormat { Auto, Jsonl, Text, Ids };
enum class OnBadLine { Fail, Skip };

struct Probe {
  int64_t index = 0;   // 0-based order among all non-blank lines of the file
  int64_t line = 0;    // 1-based line in the file
  std::string id;      // JSONL "id" (string or integer, as text); text/ids files: "L<line>"
  std::string prompt;  // exactly as given; empty when ids are given
  std::string domain;  // JSONL "domain", else ""
  std::string fields;  // the JSONL object's other fields, compact JSON ("{}" if none)
  std::optional<std::vector<int64_t>> ids;  // pre-tokenized input
};

// A line that is not a probe, under OnBadLine::Skip.
struct ProbeProblem {
  int64_t line = 0;
  std::string id;    // the line's id when it could be read, else ""
  std::string what;  // what is wrong with it
};

struct ProbeSet {
  std::string path;
  std::vector<Probe> probes;
  std::vector<ProbeProblem> skipped;
};

// Reads every probe of `path`. Throws InputError for a missing or unreadable file, a
// file with no probes, and (with OnBadLine::Fail) the first bad line.
ProbeSet read_probes(const std::string& path, ProbeFormat format = ProbeFormat::Auto,
                     OnBadLine on_bad = OnBadLine::Fail);

// Token ids separated by commas and/or white space (line breaks included), the form of one
// line of an ids probe file: each a decimal integer in [0, 2^63-1], at least one. Throws
// std::invalid_argument saying what is wrong ("token id -2 is negative", "trailing comma").
std::vector<int64_t> parse_id_list(const std::string& text);

// The format Auto means for `path` (by its extension, case-insensitive).
ProbeFormat probe_format_for_path(const std::string& path);

// "auto", "jsonl", "text" or "ids" -> the format; anything else: std::invalid_argument
// naming `flag` (a usage error).
ProbeFormat parse_probe_format(const std::string& name, const std::string& flag = "--probe-format");

}  // namespace qk
