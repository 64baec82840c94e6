#pragma once
// The sweep stores `qkgeom compare` reads (docs/compare.md, "Inputs"): each run's committed
// probes (len(probe/index)), their ids, domains, prompts and status, and the compared
// quantities; and the probes matched across runs by id.
#include <map>
#include <string>
#include <vector>

namespace qk {

struct RunData {
  std::string path, model;     // file; model: the basename of its model_path (else the file's stem)
  std::string templ, mode;     // root attributes `template`, `mode`
  std::string config_sha256;   // root attribute `model_config_sha256`
  bool position_mode = false;  // bo/position_mode of its first probe (false without bo/)
  int layers = 0;
  std::vector<std::string> ids, domains, prompts;
  std::vector<char> ok;                                // probe/status == "ok" (all, without the column)
  std::map<std::string, std::vector<double>> scalars;  // path -> [N]
  std::map<std::string, std::vector<double>> layered;  // path -> [N][L], head axis averaged
  std::vector<std::string> warnings;                   // columns NaN or Inf at probes of status ok
};

// Reads a sweep store: InputError naming the file when it is not one (a directory, no
// probe/index or probe/id, probe/id not of strings, a dataset shorter than the committed
// probes, an empty axis, per-layer columns of different depths, duplicate ids) or is damaged.
RunData read_run(const std::string& path);

// Probes matched by id across runs.
struct ProbeMatch {
  std::vector<std::string> ids, domains;       // the common probes, in the first run's order
  std::vector<std::vector<size_t>> rows;       // [run][common probe]: its row in that run
  std::vector<std::string> missing_ids;        // probes some run lacks, in first-seen order
  std::vector<std::vector<int>> missing_from;  // [missing probe]: the runs lacking it
};

// Matches by probe id. InputError naming both files and the probe when a common probe's
// prompt text differs, naming every file when no probe is common to all runs; the
// template must be equal unless `allow_template_mix` (then `warnings` gets a line).
ProbeMatch match_probes(const std::vector<RunData>& runs, bool allow_template_mix,
                        std::vector<std::string>* warnings);

}  // namespace qk
