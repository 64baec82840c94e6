// Google Benchmark of a sweep-like prefill: a probe batch (32 prompts of 20-200 tokens, at
// most max_position_embeddings; random ids, fixed seed) through capture_snapshots (every
// layer's q/k/v to host f32, as the sweep does), lone vs packed batches
// (host/runtime/batch_mode.hpp).
//
// Model: $QK_BENCH_MODEL, else build/models/gemma3-270m when present, else the tiny
// tests/fixtures/models/gemma3_text (64 positions: prompts of 20-64 tokens). Device: $QK_BENCH_DEVICE
// (default cpu). Names: prefill/<lone|packed>/<f32|bf16>. Counter: tokens_per_s. Time: wall; CPU time: all
// threads of the process.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "decoder.hpp"

namespace {

constexpr int kPrompts = 32, kMinLen = 20, kMaxLen = 200;

std::string model_dir() {
  if (const char* m = std::getenv("QK_BENCH_MODEL")) return m;
  const std::string real = std::string(QK_SOURCE_DIR) + "/build/models/gemma3-270m";
  if (std::filesystem::exists(real + "/model.safetensors")) return real;
  return std::string(QK_SOURCE_DIR) + "/tests/fixtures/models/gemma3_text";
}

// One model per (mode, dtype), loaded on first use.
qk::TransformerModel& model(qk::BatchMode mode, const std::string& dtype) {
  static std::map<std::string, std::unique_ptr<qk::TransformerModel>> cache;
  const std::string key = std::string(qk::batch_mode_name(mode)) + dtype;
  std::unique_ptr<qk::TransformerModel>& m = cache[key];
  if (!m) {
    const char* dev = std::getenv("QK_BENCH_DEVICE");
    m = std::make_unique<qk::TransformerModel>(model_dir(),
                                               qk::RuntimeOptions{dev ? dev : "cpu", dtype, 0, mode});
  }
  return *m;
}

// The probe batch: kPrompts prompts of uniform lengths in [kMinLen, kMaxLen], both capped at
// `positions` (max_position_embeddings; 0: no cap), ids < vocab.
std::vector<std::vector<int64_t>> probe_batch(int64_t vocab, int64_t positions) {
  const int hi = positions > 0 && positions < kMaxLen ? static_cast<int>(positions) : kMaxLen;
  std::mt19937 gen(16);
  std::uniform_int_distribution<int> len(std::min(kMinLen, hi), hi);
  std::uniform_int_distribution<int64_t> id(0, vocab - 1);
  std::vector<std::vector<int64_t>> prompts(kPrompts);
  for (auto& p : prompts) {
    p.resize(static_cast<size_t>(len(gen)));
    for (int64_t& t : p) t = id(gen);
  }
  return prompts;
}

void bm_prefill(benchmark::State& state, qk::BatchMode mode, const std::string& dtype) {
  qk::TransformerModel& m = model(mode, dtype);
  const auto prompts = probe_batch(m.config().vocab_size, m.config().max_position_embeddings);
  int64_t tokens = 0;
  for (const auto& p : prompts) tokens += static_cast<int64_t>(p.size());
  for (auto _ : state) benchmark::DoNotOptimize(qk::capture_snapshots(m, prompts, true));
  qk::bench::set_rate(state, "tokens_per_s", static_cast<double>(tokens));
  state.SetLabel(model_dir());
}

const bool kRegistered = [] {
  for (const char* dtype : {"f32", "bf16"})
    for (qk::BatchMode mode : {qk::BatchMode::Lone, qk::BatchMode::Packed})
      benchmark::RegisterBenchmark(
          (std::string("prefill/") + qk::batch_mode_name(mode) + "/" + dtype).c_str(), bm_prefill, mode,
          std::string(dtype))
          ->Unit(benchmark::kMillisecond)
          ->MeasureProcessCPUTime()
          ->UseRealTime()
          ->Iterations(1);
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
