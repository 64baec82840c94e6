// BPE model: byte-level (GPT-2, Qwen, Llama 3) and SentencePiece-style with byte fallback
// (Llama 2, Gemma). Merges are applied lowest rank first with a priority queue.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <mutex>
#include <nlohmann/json.hpp>
#include <queue>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "components.hpp"
#include "cpu_budget.hpp"
#include "input_error.hpp"
#include "unicode.hpp"

namespace qk::tok {

namespace {

struct MergeInfo {
  int32_t rank;
  int32_t new_id;
};

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

class Bpe : public Model {
 public:
  Bpe(const nlohmann::json& j, const std::string& where);
  void tokenize(const std::string& word, std::vector<int32_t>& out) const override;
  int32_t token_to_id(const std::string& t) const override {
    const auto it = vocab_.find(t);
    return it == vocab_.end() ? -1 : it->second;
  }
  const std::unordered_map<int32_t, std::string>& id_to_token() const override { return id_to_token_; }

 private:
  struct ResolvedMerge {
    int32_t a = -1, b = -1, merged = -1;
  };
  ResolvedMerge resolve_merge(const nlohmann::json& m, const std::string& prefix, size_t i) const;
  void merge_word(const std::string& word, std::vector<int32_t>& out) const;
  std::vector<int32_t> initial_ids(const std::string& word) const;

  std::unordered_map<std::string, int32_t> vocab_;
  std::unordered_map<int32_t, std::string> id_to_token_;
  std::unordered_map<uint64_t, MergeInfo> merges_;
  int32_t unk_id_ = -1;
  bool byte_fallback_ = false;
  bool fuse_unk_ = false;
  bool ignore_merges_ = false;
  std::string prefix_, suffix_;
  int32_t byte_ids_[256];
  mutable std::mutex cache_mu_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

constexpr size_t kCacheMax = 100000;
constexpr size_t kCacheWordMax = 256;

std::string opt_string(const nlohmann::json& j, const char* key, const std::string& where) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  if (!it->is_string()) throw InputError(where + "." + key, "expected a string or null");
  return it->get<std::string>();
}

Bpe::Bpe(const nlohmann::json& j, const std::string& where) {
  const auto dropout = j.find("dropout");
  if (dropout != j.end() && !dropout->is_null() && !(dropout->is_number() && dropout->get<double>() == 0.0))
    unsupported(where + ".dropout", "BPE dropout (random, not reproducible)");
  read_vocab(j, where, vocab_, id_to_token_);
  prefix_ = opt_string(j, "continuing_subword_prefix", where);
  suffix_ = opt_string(j, "end_of_word_suffix", where);
  byte_fallback_ = json_bool(j, "byte_fallback", false, where);
  fuse_unk_ = json_bool(j, "fuse_unk", false, where);
  ignore_merges_ = json_bool(j, "ignore_merges", false, where);
  const std::string unk = opt_string(j, "unk_token", where);
  if (!unk.empty()) {
    unk_id_ = token_to_id(unk);
    if (unk_id_ < 0) throw InputError(where + ".unk_token", "\"" + unk + "\" is not in the vocab");
  }
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    byte_ids_[b] = token_to_id(name);
  }
  const nlohmann::json& merges = json_field(j, "merges", where);
  if (!merges.is_array()) throw InputError(where + ".merges", "expected an array");
  // Resolving the merges (three vocab lookups each) dominates loading big vocabularies:
  // it runs on several threads over read-only data, then the map is filled in rank order.
  std::vector<ResolvedMerge> resolved(merges.size());
  const size_t workers = std::max<size_t>(1, std::min<size_t>(8, static_cast<size_t>(cpu_budget())));
  const size_t chunk = (merges.size() + workers - 1) / workers;
  std::vector<std::exception_ptr> errors(workers);
  const std::string merges_where = where + ".merges[";
  std::vector<std::thread> threads;
  for (size_t w = 0; w < workers; ++w)
    threads.emplace_back([&, w] {
      try {
        for (size_t i = w * chunk; i < std::min(merges.size(), (w + 1) * chunk); ++i)
          resolved[i] = resolve_merge(merges[i], merges_where, i);
      } catch (...) {
        errors[w] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
  // A pair listed twice keeps its last rank, as in HF.
  merges_.reserve(merges.size() * 2);
  for (size_t i = 0; i < resolved.size(); ++i)
    merges_[pair_key(resolved[i].a, resolved[i].b)] = MergeInfo{static_cast<int32_t>(i), resolved[i].merged};
}

Bpe::ResolvedMerge Bpe::resolve_merge(const nlohmann::json& m, const std::string& prefix, size_t i) const {
  const auto at = [&] { return prefix + std::to_string(i) + "]"; };
  std::string_view a, b;
  if (m.is_string()) {
    const std::string& s = m.get_ref<const std::string&>();
    const size_t sp = s.find(' ');
    if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
      throw InputError(at(), "expected \"a b\" (two tokens separated by one space)");
    a = std::string_view(s).substr(0, sp);
    b = std::string_view(s).substr(sp + 1);
  } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
    a = m[0].get_ref<const std::string&>();
    b = m[1].get_ref<const std::string&>();
  } else {
    throw InputError(at(), "expected \"a b\" or [\"a\", \"b\"]");
  }
  std::string key(a);
  const int32_t ia = token_to_id(key);
  if (ia < 0) throw InputError(at(), "token \"" + key + "\" is not in the vocab");
  const int32_t ib = token_to_id(std::string(b));
  if (ib < 0) throw InputError(at(), "token \"" + std::string(b) + "\" is not in the vocab");
  const bool strip = !prefix_.empty() && b.substr(0, prefix_.size()) == prefix_;
  key.append(strip ? b.substr(prefix_.size()) : b);
  const int32_t inew = token_to_id(key);
  if (inew < 0) throw InputError(at(), "merged token \"" + key + "\" is not in the vocab");
  return {ia, ib, inew};
}

struct Symbol {
  int32_t id;
  int prev, next;
  bool alive;
};

struct Candidate {
  int32_t rank;
  int pos;
  int32_t new_id;
  bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

// The word's symbols before any merge: one vocab id per character (continuing-subword
// prefix and end-of-word suffix applied), else its bytes (byte_fallback), else unk (fused
// when fuse_unk).
std::vector<int32_t> Bpe::initial_ids(const std::string& word) const {
  std::vector<int32_t> ids;
  ids.reserve(word.size());
  int32_t pending_unk = -1;
  size_t i = 0;
  while (i < word.size()) {
    const size_t b = i;
    utf8_next(word, i);
    std::string s = word.substr(b, i - b);
    if (b > 0) s.insert(0, prefix_);
    if (i >= word.size()) s += suffix_;
    const int32_t id = token_to_id(s);
    if (id >= 0) {
      if (pending_unk >= 0) ids.push_back(pending_unk);
      pending_unk = -1;
      ids.push_back(id);
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (unsigned char c : s) all = all && byte_ids_[c] >= 0;
      if (all) {
        for (unsigned char c : s) ids.push_back(byte_ids_[c]);
        continue;
      }
    }
    if (unk_id_ >= 0) {
      if (pending_unk >= 0 && !fuse_unk_) ids.push_back(pending_unk);
      pending_unk = unk_id_;
    }
  }
  if (pending_unk >= 0) ids.push_back(pending_unk);
  return ids;
}

// Applies the merges to `word`, lowest rank first (leftmost on ties), appending ids to out.
void Bpe::merge_word(const std::string& word, std::vector<int32_t>& out) const {
  const std::vector<int32_t> ids = initial_ids(word);
  std::vector<Symbol> syms;
  syms.reserve(ids.size());
  for (size_t n = 0; n < ids.size(); ++n)
    syms.push_back(
        {ids[n], static_cast<int>(n) - 1, n + 1 < ids.size() ? static_cast<int>(n) + 1 : -1, true});

  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto push_pair = [&](int left) {
    if (left < 0 || syms[left].next < 0) return;
    const auto it = merges_.find(pair_key(syms[left].id, syms[syms[left].next].id));
    if (it != merges_.end()) queue.push({it->second.rank, left, it->second.new_id});
  };
  for (int k = 0; k + 1 < static_cast<int>(syms.size()); ++k) push_pair(k);
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = syms[top.pos];
    if (!left.alive || left.next < 0) continue;
    const auto it = merges_.find(pair_key(left.id, syms[left.next].id));
    if (it == merges_.end() || it->second.new_id != top.new_id) continue;
    Symbol& right = syms[left.next];
    left.id = top.new_id;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) syms[right.next].prev = top.pos;
    push_pair(left.prev);
    push_pair(top.pos);
  }
  for (int k = syms.empty() ? -1 : 0; k >= 0; k = syms[k].next) out.push_back(syms[k].id);
}

void Bpe::tokenize(const std::string& word, std::vector<int32_t>& out) const {
  if (ignore_merges_) {
    const int32_t id = token_to_id(word);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  const bool cacheable = word.size() <= kCacheWordMax;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mu_);
    const auto it = cache_.find(word);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids;
  merge_word(word, ids);
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mu_);
    if (cache_.size() >= kCacheMax) cache_.clear();
    cache_.emplace(word, std::move(ids));
  }
}

}  // namespace

std::unique_ptr<Model> make_bpe(const nlohmann::json& j, const std::string& where) {
  return std::make_unique<Bpe>(j, where);
}

}  // namespace qk::tok
