#include "static_weights.hpp"

#include <chrono>
#include <cstdio>
#include <stdexcept>

#include "bo/backend.hpp"
#include "finite_check.hpp"
#include "hf_tensor_names.hpp"
#include "hf_weights.hpp"
#include "input_error.hpp"
#include "layer_static_cpu.hpp"
#include "operator_gram_cpu.hpp"
#include "progress.hpp"
#include "run_record.hpp"
#include "static_gpu.hpp"

namespace qk {

namespace {

// The GPU twins are linked in (static_gpu_cuda.cpp) only in CUDA builds that have them.
constexpr bool kStaticGpu =
#if defined(QKGEOM_STATIC_GPU)
    true;
#else
    false;
#endif

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// The checkpoint's attention dimensions with --topk, checked: 1 <= topk <= 2 head_dim.
StaticDims static_dims(const ModelConfig& c, int64_t topk) {
  StaticDims d = attention_dims(c);
  d.topk = topk;
  if (topk < 1 || topk > 2 * d.head_dim)
    throw std::invalid_argument("--topk must be in [1, 2 * head_dim = " + std::to_string(2 * d.head_dim) +
                                "], not " + std::to_string(topk));
  return d;
}

}  // namespace

Backend static_backend(const std::string& spec) {
  if (spec == "auto" && !kStaticGpu) return Backend{};
  Backend b = choose_backend(spec);
  if (b.gpu && !kStaticGpu)
    throw std::runtime_error("--device " + spec + ": this build has no CUDA static path");
  return b;
}

StaticDims attention_dims(const ModelConfig& c) {
  StaticDims d;
  d.layers = c.num_layers;
  d.q_heads = c.num_heads;
  d.kv_heads = c.num_kv_heads;
  d.head_dim = c.head_dim;
  d.hidden = c.hidden_size;
  if (d.layers <= 0 || d.q_heads <= 0 || d.kv_heads <= 0 || d.head_dim <= 0 || d.hidden <= 0 ||
      d.q_heads % d.kv_heads != 0)
    throw InputError(c.path,
                     "layers, heads, kv heads, head_dim and hidden size must be positive, "
                     "with num_attention_heads a multiple of num_key_value_heads");
  return d;
}

void layer_progress(const char* command, int64_t l, int64_t layers, double elapsed_s) {
  std::fprintf(
      stderr, "%s: layer %lld/%lld done, %s elapsed, ETA %s\n", command, static_cast<long long>(l + 1),
      static_cast<long long>(layers), format_duration(elapsed_s).c_str(),
      format_duration(elapsed_s / static_cast<double>(l + 1) * static_cast<double>(layers - l - 1)).c_str());
}

StaticResult compute_static_weights(const StaticOptions& o) {
  const Backend backend = static_backend(o.device);
  StaticResult r;
  r.started_at = utc_now_iso8601();
  const auto t0 = std::chrono::steady_clock::now();
  HfWeights ckpt(o.model);
  const HfTensorNames names(ckpt.config().arch, [&](const std::string& n) { return ckpt.has(n); });
  const StaticDims d = r.dims = static_dims(ckpt.config(), o.topk);
  r.device = backend.name;
  if (backend.gpu) r.gpu_name = gpu_device_name(backend.device);
  const WeightLoader load = [&](const std::string& n, const std::vector<int64_t>& shape) {
    return ckpt.load_f32(n, shape);
  };  // fused q/k/v (GPT-2, GPT-NeoX, Phi-3) split per head as the runtime splits them

  std::vector<std::vector<float>> wq(static_cast<size_t>(d.layers)), wk(wq.size());
  std::vector<const float*> pq, pk;
  for (int64_t l = 0; l < d.layers; ++l) {
    const HfAttentionNames a = names.attention(l);
    auto t = std::chrono::steady_clock::now();
    wq[l] = load_qkv_weight(a, 0, d.q_heads, d.kv_heads, d.head_dim, d.hidden, load);
    wk[l] = load_qkv_weight(a, 1, d.q_heads, d.kv_heads, d.head_dim, d.hidden, load);
    check_finite_weight(o.model, a.q, wq[l].data(), {d.q_heads * d.head_dim, d.hidden});
    check_finite_weight(o.model, a.k, wk[l].data(), {d.kv_heads * d.head_dim, d.hidden});
    pq.push_back(wq[l].data());
    pk.push_back(wk[l].data());
    r.read_seconds += seconds_since(t);
    t = std::chrono::steady_clock::now();
    r.layers.push_back(backend.gpu ? layer_static_gpu(wq[l].data(), wk[l].data(), d, backend.device)
                                   : layer_static_cpu(wq[l].data(), wk[l].data(), d));
    r.spectra_seconds += seconds_since(t);
    if (o.progress) layer_progress("weights", l, d.layers, seconds_since(t0));
  }
  const auto tg = std::chrono::steady_clock::now();
  r.gram = backend.gpu ? operator_gram_gpu(pq, pk, d, backend.device) : operator_gram_cpu(pq, pk, d);
  r.gram_seconds = seconds_since(tg);
  r.seconds = seconds_since(t0);
  r.finished_at = utc_now_iso8601();
  return r;
}

}  // namespace qk
