#include "headdim_report.hpp"

#include <cstdio>
#include <sstream>
#include <utility>
#include <vector>

#include "run_record.hpp"

namespace qk {

namespace {

using Column = std::pair<const char*, const char*>;  // header, measurement name

const std::vector<Column> kWeightCols{
    {"emb", "emb"}, {"Q_full", "Q_full"}, {"K_full", "K_full"}, {"V_full", "V_full"}, {"out", "out_proj"}};
const std::vector<Column> kActCols{{"act_emb", "act_emb"},    {"aQ_h0", "act_Q_h0"},
                                   {"aK_h0", "act_K_h0"},     {"aV_h0", "act_V_h0"},
                                   {"aPost0", "act_post_h0"}, {"act_full", "act_post_full"}};

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string pad(const std::string& s, size_t w) {
  return s.size() >= w ? s : std::string(w - s.size(), ' ') + s;
}

const Measurement* find(const ConfigResult& c, const char* phase, const char* name) {
  const PhaseResult* p = c.phase(phase);
  return p ? p->find(name) : nullptr;
}

// The seed's fmt_cv ('*' on both sides inside the band) with the null baseline's mean beside.
std::string cv_cell(const Measurement* m) {
  if (!m || !m->cv.cv) return "  N/A  ";
  const double cv = *m->cv.cv;
  const char* b = cv > 0.13 && cv < 0.30 ? "*" : " ";
  std::string s = b + fmt("%.4f", cv) + b;
  s += m->cv.null_mean ? " (" + fmt("%.4f", *m->cv.null_mean) + ")" : " (  N/A )";
  return s;
}

std::string delta_cell(const Measurement* pre, const Measurement* post) {
  if (!pre || !post || !pre->cv.cv || !post->cv.cv) return "  N/A  ";
  std::string s = fmt("%+.4f", *post->cv.cv - *pre->cv.cv);
  s += pre->cv.z && post->cv.z ? " (" + fmt("%+.2f", *post->cv.z - *pre->cv.z) + ")" : " (N/A)";
  return s;
}

void rule(std::ostringstream& os, char c, size_t n) { os << std::string(n, c) << "\n"; }

void header(std::ostringstream& os, const std::string& title, const std::vector<Column>& cols, size_t w,
            bool acc) {
  const size_t width = 18 + cols.size() * (w + 1) + (acc ? 10 : 0);
  os << "\n";
  rule(os, '=', width);
  os << title << "\n";
  rule(os, '=', width);
  os << pad("D", 5) << " " << pad("heads", 5) << " " << pad("hdim", 5) << " |";
  for (const Column& c : cols) os << " " << pad(c.first, w);
  if (acc) os << " | acc";
  os << "\n";
  rule(os, '-', width);
}

void prefix(std::ostringstream& os, const ConfigResult& c) {
  os << pad(std::to_string(c.dim), 5) << " " << pad(std::to_string(c.heads), 5) << " "
     << pad(std::to_string(c.head_dim), 5) << " |";
}

void cv_table(std::ostringstream& os, const HeaddimResult& r, const std::string& title,
              const std::vector<Column>& cols) {
  constexpr size_t w = 17;
  header(os, title, cols, w, true);
  for (const ConfigResult& c : r.configs) {
    prefix(os, c);
    for (const Column& col : cols) os << " " << pad(cv_cell(find(c, "post", col.second)), w);
    os << " | " << fmt("%.2f%%", 100.0 * c.acc_post) << "\n";
  }
}

nlohmann::json opt_json(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(); }

}  // namespace

std::string headdim_tables(const HeaddimResult& r) {
  std::ostringstream os;
  os << "MHA CV head-dim sweep: band 0.13 < CV < 0.30 ('*'); (null): CV of Gaussian points of the same count "
        "and dimension; device "
     << r.device << "\n";
  cv_table(os, r, "SUMMARY: Post-training WEIGHT CV by head_dim, cv (null)", kWeightCols);
  cv_table(os, r, "SUMMARY: Post-training ACTIVATION CV by head_dim, cv (null)", kActCols);
  constexpr size_t w = 16;
  header(os, "SUMMARY: ACTIVATION CV movement (post - pre), delta cv (delta z)", kActCols, w, false);
  for (const ConfigResult& c : r.configs) {
    prefix(os, c);
    for (const Column& col : kActCols)
      os << " " << pad(delta_cell(find(c, "pre", col.second), find(c, "post", col.second)), w);
    os << "\n";
  }
  return os.str();
}

nlohmann::json headdim_json(const HeaddimResult& r, const std::string& command_line) {
  const HeaddimOptions& o = r.options;
  nlohmann::json j;
  j["kind"] = "qkgeom-headdim";
  j["options"] = {{"dims", o.dims},
                  {"heads", o.heads},
                  {"epochs", o.epochs},
                  {"lr", o.lr},
                  {"n_classes", o.n_classes},
                  {"samples_per_class", o.samples_per_class},
                  {"seq_len", o.seq_len},
                  {"vocab", o.vocab},
                  {"noise", o.noise},
                  {"seed", o.seed},
                  {"samples", o.simplex.samples},
                  {"cm_compat", o.simplex.cm_compat},
                  {"null_trials", o.simplex.null_trials}};
  j["band"] = {{"low", 0.13}, {"high", 0.30}};
  j["device"] = r.device;
  j["threads"] = r.threads;
  nlohmann::json configs = nlohmann::json::array(), timing = nlohmann::json::array();
  for (const ConfigResult& c : r.configs) {
    nlohmann::json phases = nlohmann::json::object();
    for (const PhaseResult& p : c.phases) {
      nlohmann::json rows = nlohmann::json::array();
      for (const Measurement& m : p.rows)
        rows.push_back({{"name", m.name},
                        {"cv", opt_json(m.cv.cv)},
                        {"valid", m.cv.valid},
                        {"null_mean", opt_json(m.cv.null_mean)},
                        {"null_std", opt_json(m.cv.null_std)},
                        {"z", opt_json(m.cv.z)},
                        {"band", m.cv.band}});
      phases[p.phase] = rows;
    }
    configs.push_back({{"dim", c.dim},
                       {"heads", c.heads},
                       {"head_dim", c.head_dim},
                       {"acc_mid", opt_json(c.acc_mid)},
                       {"loss_mid", opt_json(c.loss_mid)},
                       {"acc_post", c.acc_post},
                       {"loss_post", c.loss_post},
                       {"phases", phases}});
    timing.push_back(
        {{"dim", c.dim}, {"heads", c.heads}, {"train_s", c.seconds_train}, {"measure_s", c.seconds_measure}});
  }
  j["configs"] = configs;
  j["timing"] = {{"total_s", r.seconds}, {"configs", timing}};
  j["engine"] = engine_json();
  j["provenance"] = {
      {"command_line", command_line}, {"started_at", r.started_at}, {"finished_at", r.finished_at}};
  return j;
}

}  // namespace qk
