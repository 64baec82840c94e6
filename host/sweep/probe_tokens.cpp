#include "probe_tokens.hpp"

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <thread>

#include "cpu_budget.hpp"
#include "input_error.hpp"
#include "prompt_template.hpp"
#include "tokenizer.hpp"

namespace qk {

Shard parse_shard(const std::string& text) {
  const size_t slash = text.find('/');
  auto number = [&](const std::string& s) {
    if (s.empty() || s.size() > 6 || s.find_first_not_of("0123456789") != std::string::npos)
      throw std::invalid_argument("--shard: malformed '" + text + "'; use i/N with 0 <= i < N");
    return std::stoi(s);
  };
  if (slash == std::string::npos)
    throw std::invalid_argument("--shard: malformed '" + text + "'; use i/N with 0 <= i < N");
  Shard s{number(text.substr(0, slash)), number(text.substr(slash + 1))};
  if (s.count < 1 || s.index >= s.count)
    throw std::invalid_argument("--shard: '" + text + "' needs 0 <= i < N");
  return s;
}

std::vector<Probe> select_probes(const std::vector<Probe>& all, const Shard& shard,
                                 const std::unordered_set<int64_t>& done) {
  std::vector<Probe> out;
  for (const Probe& p : all)
    if (p.index % shard.count == shard.index && done.count(p.index) == 0) out.push_back(p);
  return out;
}

std::vector<TokenizedProbe> tokenize_probes(const std::string& path, const std::vector<Probe>& probes,
                                            const Tokenizer* tok, const TokenizeOptions& opts,
                                            std::vector<ProbeProblem>& skipped) {
  std::vector<TokenizedProbe> out(probes.size());
  std::vector<std::string> problem(probes.size());
  // Worker w tokenizes probes w, w + n, ...; tokenizer errors become problems too.
  auto work = [&](size_t w, size_t n) {
    for (size_t i = w; i < probes.size(); i += n) {
      const Probe& p = probes[i];
      out[i].probe = p;
      try {
        if (p.ids) {
          out[i].ids = *p.ids;
        } else {
          if (!tok) throw std::invalid_argument("has text but the model has no tokenizer.json");
          const std::vector<int32_t> ids = tok->encode(apply_template(opts.templ, p.prompt));
          out[i].ids.assign(ids.begin(), ids.end());
        }
      } catch (const std::exception& e) {
        problem[i] = e.what();
        continue;
      }
      const int64_t len = static_cast<int64_t>(out[i].ids.size());
      if (len == 0) {
        problem[i] = "tokenizes to no tokens";
      } else if (opts.max_tokens > 0 && len > opts.max_tokens) {
        problem[i] = "has " + std::to_string(len) + " tokens, more than the model's " +
                     std::to_string(opts.max_tokens) + " positions (never truncated)";
      } else {
        for (int64_t id : out[i].ids)
          if (id < 0 || (opts.vocab_size > 0 && id >= opts.vocab_size)) {
            problem[i] = "token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                         std::to_string(opts.vocab_size) + ")";
            break;
          }
      }
    }
  };
  size_t n = static_cast<size_t>(opts.threads > 0 ? opts.threads : cpu_budget());
  n = std::max<size_t>(1, std::min(n, probes.size()));
  std::vector<std::thread> pool;
  for (size_t w = 1; w < n; ++w) pool.emplace_back(work, w, n);
  work(0, n);
  for (std::thread& t : pool) t.join();

  std::vector<TokenizedProbe> kept;
  for (size_t i = 0; i < probes.size(); ++i) {
    if (problem[i].empty()) {
      kept.push_back(std::move(out[i]));
      continue;
    }
    const Probe& p = probes[i];
    if (opts.on_bad == OnBadLine::Fail)
      throw InputError(path + ":" + std::to_string(p.line), "probe '" + p.id + "' " + problem[i]);
    skipped.push_back(ProbeProblem{p.line, p.id, problem[i]});
  }
  return kept;
}

std::vector<std::pair<size_t, size_t>> token_batches(const std::vector<TokenizedProbe>& probes,
                                                     int64_t budget) {
  std::vector<std::pair<size_t, size_t>> out;
  size_t begin = 0;
  int64_t tokens = 0;
  for (size_t i = 0; i < probes.size(); ++i) {
    const int64_t len = static_cast<int64_t>(probes[i].ids.size());
    if (i > begin && tokens + len > budget) {
      out.emplace_back(begin, i);
      begin = i;
      tokens = 0;
    }
    tokens += len;
  }
  if (begin < probes.size()) out.emplace_back(begin, probes.size());
  return out;
}

}  // namespace qk
