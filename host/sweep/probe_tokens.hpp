#pragma once
// A sweep's work list: the probes of this shard not yet in the store, tokenized on CPU
// threads (template applied), in file order, and cut into batches by token budget.
#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include "probe_set.hpp"
#include "shard.hpp"

namespace qk {

class Tokenizer;

struct TokenizedProbe {
  Probe probe;
  std::vector<int64_t> ids;
};

struct TokenizeOptions {
  std::string templ = "raw";  // raw | chatml | gemma (ignored for pre-tokenized probes)
  int64_t max_tokens = 0;     // the model's max positions; longer probes are problems
  int64_t vocab_size = 0;     // ids must be in [0, vocab_size)
  OnBadLine on_bad = OnBadLine::Fail;
  int threads = 0;  // 0: the run's (cpu_budget)
};

// Tokenizes `probes` in order. An over-long probe or an id outside the vocabulary is a
// problem: with OnBadLine::Fail an InputError naming "<file>:<line>", with Skip an entry in
// `skipped`. `tok` may be null when every probe is pre-tokenized.
std::vector<TokenizedProbe> tokenize_probes(const std::string& path, const std::vector<Probe>& probes,
                                            const Tokenizer* tok, const TokenizeOptions& opts,
                                            std::vector<ProbeProblem>& skipped);

// Consecutive runs [begin, end) whose token counts sum to at most `budget` (a probe longer
// than the budget is a batch of its own).
std::vector<std::pair<size_t, size_t>> token_batches(const std::vector<TokenizedProbe>& probes,
                                                     int64_t budget);

// The probes of shard `shard` (index % count == shard index) whose index is not in `done`.
std::vector<Probe> select_probes(const std::vector<Probe>& all, const Shard& shard,
                                 const std::unordered_set<int64_t>& done);

}  // namespace qk
