// Packed prefill (BatchMode::Packed) against each prompt run alone (the lone path, itself
// equal to HF eager: test_model_runtime, ref_hf_parity_*), on every architecture: mixed
// lengths 1, 7, 70, 300 (past the fixtures' sliding windows of 4), f32, CPU (and CUDA
// when present). Checkpoints: tests/fixtures/make_packed_models.py.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/cuda.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "batch_mode.hpp"
#include "decoder.hpp"

namespace {

// f32 rounding of different GEMM row counts, relative to each tensor's largest value.
constexpr double kRelTol = 1e-5;

const char* const kModels[] = {"llama3", "llama_linear",  "llama_dynamic", "mistral",  "qwen2",
                               "qwen3",  "qwen3_yarn",    "gemma3_text",   "gemma2",   "olmo2",
                               "phi3",   "phi3_longrope", "gpt2",          "gpt_neox", "bert"};

// Checkpoint `name` made in a fresh folder; "" when transformers is missing (exit 77).
std::string make_model(const std::string& name) {
  const std::string out = ::testing::TempDir() + "qk_packed_" + std::to_string(getpid());
  const std::string cmd = std::string("\"") + QK_PYTHON + "\" \"" + QK_SOURCE_DIR +
                          "/tests/fixtures/make_packed_models.py\" \"" + out + "\" " + name + " 2>/dev/null";
  const int rc = std::system(cmd.c_str());
  if (WIFEXITED(rc) && WEXITSTATUS(rc) == 77) return std::string();
  EXPECT_EQ(rc, 0) << cmd;
  return out + "/" + name;
}

// Per prompt: every layer's q, k, v then the final hidden state, on the host.
using Outputs = std::vector<std::vector<at::Tensor>>;

Outputs run(qk::TransformerModel& m, const std::vector<std::vector<int64_t>>& prompts) {
  Outputs out(prompts.size());
  const qk::PrefillResult r = m.prefill(prompts, [&](const qk::LayerCapture& lc) {
    for (size_t b = 0; b < prompts.size(); ++b) {
      EXPECT_TRUE(lc.q[b].is_contiguous() && lc.k[b].is_contiguous() && lc.v[b].is_contiguous());
      for (const at::Tensor* t : {&lc.q[b], &lc.k[b], &lc.v[b]}) out[b].push_back(t->cpu().clone());
    }
  });
  for (size_t b = 0; b < prompts.size(); ++b) out[b].push_back(r.hidden[b].cpu());
  return out;
}

// max |a - b| / max |b| over the tensors of two outputs of one prompt.
double rel_err(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    EXPECT_EQ(a[i].sizes(), b[i].sizes());
    const double scale = std::max(b[i].abs().max().item<double>(), 1e-30);
    worst = std::max(worst, (a[i] - b[i]).abs().max().item<double>() / scale);
  }
  return worst;
}

std::vector<int64_t> random_ids(int64_t len, int64_t vocab, uint64_t seed) {
  at::Generator g = at::detail::createCPUGenerator(seed);
  const at::Tensor t = at::randint(vocab, {len}, g, at::kLong);
  return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + len);
}

class PackedBatch : public ::testing::TestWithParam<const char*> {
 protected:
  // Packed vs alone, and with prompt 1 replaced, on `device`; the max relative errors.
  void check(const std::string& device) {
    const std::string dir = make_model(GetParam());
    if (dir.empty()) GTEST_SKIP() << "transformers is not installed (make_packed_models.py)";
    qk::TransformerModel lone(dir, qk::RuntimeOptions{device, "f32"});
    qk::TransformerModel packed(dir, qk::RuntimeOptions{device, "f32", 0, qk::BatchMode::Packed});
    const bool bert = lone.config().arch == qk::Architecture::Bert;  // 64 positions
    const std::vector<int64_t> lens =
        bert ? std::vector<int64_t>{1, 7, 30, 64} : std::vector<int64_t>{1, 7, 70, 300};
    const int64_t vocab = lone.config().vocab_size;
    std::vector<std::vector<int64_t>> prompts;
    for (size_t b = 0; b < lens.size(); ++b) prompts.push_back(random_ids(lens[b], vocab, 100 + b));
    const Outputs got = run(packed, prompts);
    double vs_alone = 0;
    for (size_t b = 0; b < prompts.size(); ++b)
      vs_alone = std::max(vs_alone, rel_err(got[b], run(lone, {prompts[b]})[0]));
    std::vector<std::vector<int64_t>> other = prompts;  // a neighbour of another length and ids
    other[1] = random_ids(bert ? 12 : 41, vocab, 7);
    const Outputs got2 = run(packed, other);
    double leak = 0;
    for (size_t b : {size_t{0}, size_t{2}, size_t{3}}) leak = std::max(leak, rel_err(got2[b], got[b]));
    std::cout << GetParam() << " " << device << " packed vs alone max rel error " << vs_alone
              << ", neighbour changed " << leak << "\n";
    EXPECT_LE(vs_alone, kRelTol);
    EXPECT_LE(leak, kRelTol);
  }
};

TEST_P(PackedBatch, F32MatchesAloneOnCpu) { check("cpu"); }

TEST_P(PackedBatch, F32MatchesAloneOnCuda) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible to libtorch";
  check("cuda");
}

INSTANTIATE_TEST_SUITE_P(Models, PackedBatch, ::testing::ValuesIn(kModels));

// One layer's q/k/v at a time: when layer l + 1 is captured, nothing holds layer l's
// captured tensors any more (the consumer kept no reference).
TEST(PackedBatchMemory, PreviousLayerFreedBeforeNextCapture) {
  const std::string dir = make_model("qwen3");
  if (dir.empty()) GTEST_SKIP() << "transformers is not installed (make_packed_models.py)";
  qk::TransformerModel m(dir, qk::RuntimeOptions{"cpu", "f32", 0, qk::BatchMode::Packed});
  std::vector<c10::weak_intrusive_ptr<c10::StorageImpl>> previous;
  int layers = 0;
  m.prefill({random_ids(5, 128, 1), random_ids(9, 128, 2)}, [&](const qk::LayerCapture& lc) {
    for (const auto& w : previous) EXPECT_TRUE(w.expired()) << "layer " << lc.layer - 1 << " still alive";
    previous.clear();
    for (const auto* t : {&lc.q, &lc.k, &lc.v})
      for (const at::Tensor& x : *t) previous.push_back(x.storage().getWeakStorageImpl());
    ++layers;
  });
  EXPECT_EQ(layers, m.config().num_layers);
}

TEST(BatchMode, ParsesNamesAndRefusesOthers) {
  EXPECT_EQ(qk::parse_batch_mode("packed"), qk::BatchMode::Packed);
  EXPECT_EQ(qk::parse_batch_mode("lone"), qk::BatchMode::Lone);
  EXPECT_STREQ(qk::batch_mode_name(qk::BatchMode::Packed), "packed");
  EXPECT_THROW(qk::parse_batch_mode("padded"), std::invalid_argument);
}

}  // namespace
