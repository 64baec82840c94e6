#include "decoder.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstring>
#include <iostream>
#include <limits>
#include <stdexcept>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <torch/cuda.h>

#include "arch_ops.hpp"
#include "checkpoint.hpp"
#include "device.hpp"
#include "hf_tensor_names.hpp"
#include "input_error.hpp"
#include "packed_batch.hpp"
#include "rope.hpp"

namespace qk {

namespace {

constexpr Architecture kRunnable[] = {Architecture::Llama, Architecture::Mistral,    Architecture::Qwen2,
                                      Architecture::Qwen3, Architecture::Gemma3Text, Architecture::Bert,
                                      Architecture::Gpt2,  Architecture::GptNeoX,    Architecture::Gemma2,
                                      Architecture::Olmo2, Architecture::Phi3};

bool runtime_supports(Architecture a) {
  for (Architecture r : kRunnable)
    if (r == a) return true;
  return false;
}

// One layer's weights. Norm weights: Llama-style w, or for Gemma 2 / 3 the float32 (1 + w).
// BERT: attention.output.LayerNorm in post_norm + attn_ln_b, output.LayerNorm in
// pre_ff_norm + out_ln_b, intermediate.dense in up_*, output.dense in down_*.
struct LayerWeights {
  at::Tensor in_norm, post_norm;         // input_layernorm, post_attention_layernorm
  at::Tensor pre_ff_norm, post_ff_norm;  // Gemma 2 / 3: around the MLP; OLMo 2: post_ff_norm
  at::Tensor attn_ln_b, out_ln_b;        // BERT: LayerNorm biases
  at::Tensor q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b;
  at::Tensor q_norm, k_norm;  // per head [head_dim]; OLMo 2: [heads x head_dim]
  at::Tensor gate_w, gate_b, up_w, up_b, down_w, down_b;
  at::Tensor gate_up_w;     // Phi-3 gate_up_proj [2 intermediate, hidden]
  at::Tensor qkv_w, qkv_b;  // GPT-2 c_attn (Conv1D [in][3 hidden]), GPT-NeoX query_key_value,
                            // Phi-3 qkv_proj
  QkvLayout qkv_layout = QkvLayout::Separate;  // how q, k, v come out of the projections
  bool sliding = false;
};

// HF's rotate-half RoPE: x * cos + rotate_half(x) * sin; x [heads, seq, head_dim],
// cos, sin [seq, head_dim].
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  const at::Tensor rotated = at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * cos + rotated * sin;
}

// GPT-NeoX's partial RoPE: the first cos.size(-1) dims of each head rotated, the rest kept.
at::Tensor apply_partial_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t rd = cos.size(-1);
  if (rd == 0) return x;  // rotary_pct 0 (or head_dim x pct < 1): no rotation, as HF
  if (rd == x.size(-1)) return apply_rope(x, cos, sin);
  return at::cat({apply_rope(x.narrow(-1, 0, rd), cos, sin), x.narrow(-1, rd, x.size(-1) - rd)}, -1);
}

// Query rows per attention step when none is set: the whole prompt (HF eager's shapes)
// while q_heads x rows x len f32 scores fit 1 GiB, else the most rows that fit.
int64_t auto_query_block(int64_t q_heads, int64_t len) {
  constexpr int64_t kScoresBudget = int64_t{1} << 30;
  const int64_t rows = kScoresBudget / (q_heads * len * static_cast<int64_t>(sizeof(float)));
  return std::clamp<int64_t>(rows, 1, len);
}

}  // namespace

std::string runtime_supported_model_types() {
  std::string s;
  for (Architecture a : kRunnable) s += (s.empty() ? "" : ", ") + std::string(architecture_name(a));
  return s;
}

c10::Device resolve_device(const std::string& name) {
  const DeviceSpec spec = parse_device(name);  // host/core: the one --device parser
  const int visible = spec.kind == DeviceSpec::Kind::Cpu ? 0 : static_cast<int>(torch::cuda::device_count());
  const Device d = resolve_device(spec, visible, "libtorch sees no CUDA device");
  return d.cuda ? c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(d.index)) : c10::Device(c10::kCPU);
}

c10::ScalarType resolve_dtype(const std::string& name, const ModelConfig& config) {
  if (name.empty()) {
    switch (config.dtype) {
      case DType::BF16:
        return at::kBFloat16;
      case DType::F16:
        return at::kHalf;
      default:
        return at::kFloat;
    }
  }
  if (name == "f32") return at::kFloat;
  if (name == "bf16") return at::kBFloat16;
  if (name == "f16") return at::kHalf;
  throw std::invalid_argument("--dtype: unsupported dtype '" + name + "'; supported: bf16, f16, f32");
}

// One prompt's running state: hidden [len, hidden] and the tables its length needs.
// Every tensor is built from this prompt alone, so a prompt's numbers never depend on
// the batch around it.
struct PromptState {
  int64_t len = 0;
  at::Tensor x;                                               // [len, hidden]
  at::Tensor mask, sliding_mask;                              // additive [len, len]; undefined: none
  std::pair<at::Tensor, at::Tensor> rope_global, rope_local;  // {cos, sin} [len, head_dim]
};

namespace {

// Loads Llama-family tensors (Llama, Mistral, Qwen, Gemma 3) to `device` as `dtype`; `pre`
// is the prefix HfTensorNames picked ("model." or none).
struct DecoderLoader {
  Checkpoint& ckpt;
  const std::string& pre;
  c10::Device device;
  c10::ScalarType dtype;
  NormKind norm;

  // The tensor pre + `name` with exactly `shape`.
  at::Tensor get(const std::string& name, std::vector<int64_t> shape) const {
    return ckpt.load(pre + name, shape, device, dtype);
  }
  // The tensor `name` (a full name, prefix included) with exactly `shape`.
  at::Tensor get_full(const std::string& name, std::vector<int64_t> shape) const {
    return ckpt.load(name, shape, device, dtype);
  }
  // A norm weight as `norm` holds it, from w loaded as `dtype` (HF rounds the parameter to
  // the model's dtype before its norm upcasts it).
  at::Tensor get_norm(const std::string& name, std::vector<int64_t> shape) const {
    return norm_weight(get(name, shape), norm);
  }
};

}  // namespace

struct TransformerModel::Impl {
  ModelConfig cfg;
  c10::Device device{c10::kCPU};
  c10::ScalarType dtype = at::kFloat;
  int64_t query_block = 0;  // query rows per attention step; 0: auto_query_block
  BatchMode batch_mode = BatchMode::Lone;
  at::Tensor embed, final_norm;
  at::Tensor inv_freq;        // [head_dim / 2] f32 on the device: global layers
  at::Tensor inv_freq_local;  // Gemma 3 sliding layers
  ArchRules rules;            // what the shared code reads: norms, positions, dtypes
  // The architecture itself, for its loader and layer layout (block_tail) alone.
  bool gemma = false;
  bool bert = false;
  bool gpt2 = false, neox = false;  // GPT-2, GPT-NeoX: LayerNorms with biases, fused q/k/v
  bool olmo2 = false;               // OLMo 2: no pre-norms, q/k norms over all heads
  bool phi3 = false;                // Phi-3: fused qkv_proj and gate_up_proj, partial RoPE
  at::Tensor final_norm_b;
  at::Tensor pos_embed, type_embed, emb_ln_w, emb_ln_b;  // BERT embeddings
  std::vector<LayerWeights> layers;
  std::atomic<bool> warned_positions{false};  // the past-max_position_embeddings warning was printed

  // x [len, in] times w: nn.Linear's [out][in] w, or GPT-2's Conv1D [in][out] w (addmm, as HF).
  at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) const {
    if (rules.conv1d_weights) return at::addmm(b, x, w);
    return b.defined() ? at::linear(x, w, b) : at::linear(x, w);
  }
  at::Tensor norm(const at::Tensor& x, const at::Tensor& w) const {
    return rms_norm(x, w, cfg.norm_eps, rules.norm);
  }
  at::Tensor layer_norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) const {
    return at::layer_norm(x, {cfg.hidden_size}, w, b, cfg.norm_eps);
  }

  // Embeddings, masks and RoPE tables of one prompt.
  PromptState prompt_state(const std::vector<int64_t>& prompt) const {
    PromptState s;
    s.len = static_cast<int64_t>(prompt.size());
    const auto on = at::TensorOptions().device(device);
    const at::Tensor ids = at::tensor(prompt, at::kLong).to(device);
    const at::Tensor pos = at::arange(s.len, on.dtype(at::kLong));
    s.x = at::embedding(embed, ids);
    if (rules.encoder_embeddings) {  // absolute positions and token type 0, then LayerNorm; no mask
      s.x = layer_norm((s.x + type_embed[0]) + at::embedding(pos_embed, pos), emb_ln_w, emb_ln_b);
      return s;
    }
    if (rules.positions == PositionKind::Learned) s.x = s.x + at::embedding(pos_embed, pos);
    if (rules.scale_embeddings)  // sqrt(hidden) rounded to float32, then to the compute dtype, as HF
      s.x = s.x * at::scalar_tensor(static_cast<float>(std::sqrt(static_cast<double>(cfg.hidden_size))),
                                    on.dtype(at::kFloat))
                      .to(dtype);
    // Key j is visible to query i when j <= i (and, in sliding layers, i - j < window).
    const at::Tensor pi = pos.unsqueeze(1), pj = pos.unsqueeze(0);
    const double neg_inf = -std::numeric_limits<double>::infinity();
    auto additive = [&](const at::Tensor& allowed) {
      return at::zeros({s.len, s.len}, on.dtype(dtype)).masked_fill(allowed.logical_not(), neg_inf);
    };
    s.mask = additive(pj <= pi);
    if (cfg.sliding_window) s.sliding_mask = additive((pj <= pi) & ((pi - pj) < *cfg.sliding_window));
    // {cos, sin}: angles in float32 as HF, both times the RoPE's attention factor (1 but
    // for YaRN and longrope) in float32, then the compute dtype. Dynamic and longrope
    // frequencies are this prompt's own: those of a fresh HF model run on it alone.
    auto rope_tables = [&](const at::Tensor& loaded, const RopeConfig& rope) {
      const at::Tensor freq =
          rope_depends_on_length(rope) ? rope_inv_freq(rope, 2 * loaded.size(0), s.len).to(device) : loaded;
      const at::Tensor angles = pos.to(at::kFloat).unsqueeze(-1) * freq;
      const at::Tensor emb = at::cat({angles, angles}, -1);
      const float a = static_cast<float>(rope.attention_factor);
      const auto tdt = rules.rope_tables_f32 ? at::kFloat : dtype;
      return std::make_pair((emb.cos() * a).to(tdt), (emb.sin() * a).to(tdt));
    };
    if (rules.positions == PositionKind::Learned) return s;
    s.rope_global = rope_tables(inv_freq, cfg.rope);
    s.rope_local = rules.local_rope ? rope_tables(inv_freq_local, cfg.rope_local) : s.rope_global;
    return s;
  }

  // The rest of a layer after attention: residuals, norms and MLP. x, o: [len, hidden].
  at::Tensor block_tail(const LayerWeights& L, const at::Tensor& x, const at::Tensor& o) const {
    // fn: the MLP's ACT2FN name (hf_activation).
    const std::string& fn = cfg.hidden_act;
    if (bert) {  // post-LN: LayerNorm after each residual sum
      const at::Tensor y = layer_norm(o + x, L.post_norm, L.attn_ln_b);
      const at::Tensor act = hf_activation(linear(y, L.up_w, L.up_b), fn);
      return layer_norm(linear(act, L.down_w, L.down_b) + y, L.pre_ff_norm, L.out_ln_b);
    }
    if (gpt2) {  // pre-LN MLP
      const at::Tensor y = o + x;
      const at::Tensor h2 = layer_norm(y, L.post_norm, L.out_ln_b);
      return y + linear(hf_activation(linear(h2, L.up_w, L.up_b), fn), L.down_w, L.down_b);
    }
    if (neox) {  // parallel: x + attn + mlp(ln2(x)); else sequential residuals
      const at::Tensor base = cfg.parallel_residual ? x : o + x;
      const at::Tensor mlp =
          linear(hf_activation(linear(layer_norm(base, L.post_norm, L.out_ln_b), L.up_w, L.up_b), fn),
                 L.down_w, L.down_b);
      return cfg.parallel_residual ? mlp + o + x : mlp + base;
    }
    if (olmo2) {  // no pre-norms: a norm after attention and after the MLP
      const at::Tensor y = x + norm(o, L.post_norm);
      const at::Tensor act = hf_activation(linear(y, L.gate_w, L.gate_b), fn) * linear(y, L.up_w, L.up_b);
      return y + norm(linear(act, L.down_w, L.down_b), L.post_ff_norm);
    }
    if (gemma) {  // sandwich norms: post-attention and pre/post-MLP
      const at::Tensor y = x + norm(o, L.post_norm);
      const at::Tensor h2 = norm(y, L.pre_ff_norm);
      const at::Tensor act = hf_activation(linear(h2, L.gate_w, L.gate_b), fn) * linear(h2, L.up_w, L.up_b);
      return y + norm(linear(act, L.down_w, L.down_b), L.post_ff_norm);
    }
    const at::Tensor y = x + o;
    const at::Tensor h2 = norm(y, L.post_norm);
    if (phi3) return y + fused_gate_up_mlp(h2, L.gate_up_w, L.down_w, fn);
    const at::Tensor act = hf_activation(linear(h2, L.gate_w, L.gate_b), fn) * linear(h2, L.up_w, L.up_b);
    return y + linear(act, L.down_w, L.down_b);
  }

  // BERT: names under the prefix HfTensorNames picks ("bert." for task heads, "" for BertModel).
  void load_bert(Checkpoint& ckpt) {
    const ModelConfig& c = cfg;
    const HfTensorNames names(c.arch, [&](const std::string& n) { return ckpt.has(n); });
    const std::string& pre = names.prefix();
    auto get = [&](const std::string& name, std::vector<int64_t> shape) {
      return ckpt.load(pre + name, shape, device, dtype);
    };
    auto get_full = [&](const std::string& name, std::vector<int64_t> shape) {
      return ckpt.load(name, shape, device, dtype);
    };
    const int64_t H = c.hidden_size, I = c.intermediate_size, QD = c.num_heads * c.head_dim;
    embed = get("embeddings.word_embeddings.weight", {c.vocab_size, H});
    pos_embed = get("embeddings.position_embeddings.weight", {c.max_position_embeddings, H});
    type_embed = get("embeddings.token_type_embeddings.weight", {c.type_vocab_size, H});
    emb_ln_w = get("embeddings.LayerNorm.weight", {H});
    emb_ln_b = get("embeddings.LayerNorm.bias", {H});
    for (int64_t i = 0; i < c.num_layers; ++i) {
      const std::string p = "encoder.layer." + std::to_string(i) + ".";
      const HfAttentionNames a = names.attention(i);
      LayerWeights L;
      L.q_w = get_full(a.q, {QD, H});
      L.q_b = get(p + "attention.self.query.bias", {QD});
      L.k_w = get_full(a.k, {QD, H});
      L.k_b = get(p + "attention.self.key.bias", {QD});
      L.v_w = get_full(a.v, {QD, H});
      L.v_b = get(p + "attention.self.value.bias", {QD});
      L.o_w = get_full(a.o, {H, QD});
      L.o_b = get(p + "attention.output.dense.bias", {H});
      L.post_norm = get(p + "attention.output.LayerNorm.weight", {H});
      L.attn_ln_b = get(p + "attention.output.LayerNorm.bias", {H});
      L.up_w = get(p + "intermediate.dense.weight", {I, H});
      L.up_b = get(p + "intermediate.dense.bias", {I});
      L.down_w = get(p + "output.dense.weight", {H, I});
      L.down_b = get(p + "output.dense.bias", {H});
      L.pre_ff_norm = get(p + "output.LayerNorm.weight", {H});
      L.out_ln_b = get(p + "output.LayerNorm.bias", {H});
      layers.push_back(std::move(L));
    }
  }

  // GPT-2 (Conv1D weights [in][out]) and GPT-NeoX: names from HfTensorNames, which picks
  // the prefix ("transformer." / "gpt_neox." or none).
  void load_gpt(Checkpoint& ckpt) {
    const ModelConfig& c = cfg;
    const HfTensorNames names(c.arch, [&](const std::string& n) { return ckpt.has(n); });
    auto get = [&](const std::string& name, std::vector<int64_t> shape) {
      return ckpt.load(name, shape, device, dtype);
    };
    const int64_t H = c.hidden_size, I = c.intermediate_size;
    auto mat = [&](const std::string& name, int64_t out, int64_t in) {  // Conv1D: [in][out]
      return gpt2 ? get(name, {in, out}) : get(name, {out, in});
    };
    embed = get(names.embed(), {c.vocab_size, H});
    const std::string& pre = names.prefix();
    if (gpt2) pos_embed = get(pre + "wpe.weight", {c.max_position_embeddings, H});
    for (int64_t i = 0; i < c.num_layers; ++i) {
      const std::string p = names.layer_prefix(i);
      const HfAttentionNames a = names.attention(i);
      const std::string ln1 = p + (gpt2 ? "ln_1." : "input_layernorm.");
      const std::string ln2 = p + (gpt2 ? "ln_2." : "post_attention_layernorm.");
      const std::string mlp = p + "mlp." + (gpt2 ? "c_fc." : "dense_h_to_4h.");
      const std::string down = p + "mlp." + (gpt2 ? "c_proj." : "dense_4h_to_h.");
      const std::string qkv_b = a.q.substr(0, a.q.size() - 6) + "bias";
      const std::string o_b = a.o.substr(0, a.o.size() - 6) + "bias";
      LayerWeights L;
      L.in_norm = get(ln1 + "weight", {H});
      L.attn_ln_b = get(ln1 + "bias", {H});
      L.post_norm = get(ln2 + "weight", {H});
      L.out_ln_b = get(ln2 + "bias", {H});
      L.qkv_w = mat(a.q, 3 * H, H);
      L.qkv_layout = a.layout;
      if (c.attention_bias) L.qkv_b = get(qkv_b, {3 * H});
      L.o_w = mat(a.o, H, H);
      if (c.o_bias) L.o_b = get(o_b, {H});
      L.up_w = mat(mlp + "weight", I, H);
      L.up_b = get(mlp + "bias", {I});
      L.down_w = mat(down + "weight", H, I);
      L.down_b = get(down + "bias", {H});
      layers.push_back(std::move(L));
    }
    final_norm = get(pre + (gpt2 ? "ln_f.weight" : "final_layer_norm.weight"), {H});
    final_norm_b = get(pre + (gpt2 ? "ln_f.bias" : "final_layer_norm.bias"), {H});
    if (neox) inv_freq = rope_inv_freq(c.rope, c.rotary_dim).to(device);
  }

  // Sets the architecture flags from cfg; InputError when the runtime cannot run cfg's
  // architecture, activation or position embedding type.
  void set_architecture() {
    const ModelConfig& c = cfg;
    if (!runtime_supports(c.arch))
      throw InputError(c.path, std::string("architecture '") + architecture_name(c.arch) +
                                   "' is not supported by the model runtime yet; supported: " +
                                   runtime_supported_model_types());
    gemma = c.arch == Architecture::Gemma3Text || c.arch == Architecture::Gemma2;
    bert = c.arch == Architecture::Bert;
    gpt2 = c.arch == Architecture::Gpt2;
    neox = c.arch == Architecture::GptNeoX;
    olmo2 = c.arch == Architecture::Olmo2;
    phi3 = c.arch == Architecture::Phi3;
    rules = arch_rules(c.arch);
    const char* act_field = gemma ? "hidden_activation" : (gpt2 ? "activation_function" : "hidden_act");
    if (!activation_supported(c.hidden_act))
      throw InputError(c.path, std::string("field '") + act_field + "': unsupported activation '" +
                                   c.hidden_act + "'; supported: " + supported_activations());
    if (bert && c.position_embedding_type != "absolute")
      throw InputError(c.path, "field 'position_embedding_type': unsupported '" + c.position_embedding_type +
                                   "'; supported: absolute (transformers 5 ignores the key and runs such a"
                                   " checkpoint with absolute positions, not the model it was trained as)");
  }

  // Llama-family layer `i`: norms [hidden] (Gemma: also around the MLP; OLMo 2: after
  // attention and after the MLP only), the attention projections and the gated MLP.
  LayerWeights load_decoder_layer(const DecoderLoader& g, const HfTensorNames& names, int64_t i) const {
    const ModelConfig& c = cfg;
    const int64_t H = c.hidden_size;
    const std::string p = "layers." + std::to_string(i) + ".";
    LayerWeights L;
    if (!olmo2) L.in_norm = g.get_norm(p + "input_layernorm.weight", {H});
    L.post_norm = g.get_norm(p + "post_attention_layernorm.weight", {H});
    if (gemma) L.pre_ff_norm = g.get_norm(p + "pre_feedforward_layernorm.weight", {H});
    if (gemma || olmo2) L.post_ff_norm = g.get_norm(p + "post_feedforward_layernorm.weight", {H});
    load_decoder_attention(g, names.attention(i), p, L);
    load_decoder_mlp(g, p, L);
    L.sliding = c.sliding_window.has_value() && c.sliding_layers[static_cast<size_t>(i)];
    return L;
  }

  // Layer prefix p's q/k/v/o projections [out, in] (Phi-3: the fused qkv_proj), optional
  // biases, and q/k norms: per head [head_dim], or OLMo 2's over all heads.
  void load_decoder_attention(const DecoderLoader& g, const HfAttentionNames& a, const std::string& p,
                              LayerWeights& L) const {
    const ModelConfig& c = cfg;
    const int64_t H = c.hidden_size, D = c.head_dim;
    const int64_t QD = c.num_heads * D, KD = c.num_kv_heads * D;
    if (phi3) {
      L.qkv_w = g.get_full(a.q, {QD + 2 * KD, H});
      L.qkv_layout = a.layout;
    } else {
      L.q_w = g.get_full(a.q, {QD, H});
      L.k_w = g.get_full(a.k, {KD, H});
      L.v_w = g.get_full(a.v, {KD, H});
    }
    L.o_w = g.get_full(a.o, {H, QD});
    if (c.attention_bias) {
      L.q_b = g.get(p + "self_attn.q_proj.bias", {QD});
      L.k_b = g.get(p + "self_attn.k_proj.bias", {KD});
      L.v_b = g.get(p + "self_attn.v_proj.bias", {KD});
    }
    if (c.o_bias) L.o_b = g.get(p + "self_attn.o_proj.bias", {H});
    if (c.qk_norm || rules.qk_norm_all_heads) {
      L.q_norm = g.get_norm(p + "self_attn.q_norm.weight", {rules.qk_norm_all_heads ? QD : D});
      L.k_norm = g.get_norm(p + "self_attn.k_norm.weight", {rules.qk_norm_all_heads ? KD : D});
    }
  }

  // Layer prefix p's gated MLP: gate and up [intermediate, hidden] (Phi-3: gate_up_proj
  // [2 intermediate, hidden]), down [hidden, intermediate], Llama's optional biases.
  void load_decoder_mlp(const DecoderLoader& g, const std::string& p, LayerWeights& L) const {
    const int64_t H = cfg.hidden_size, I = cfg.intermediate_size;
    if (phi3) {
      L.gate_up_w = g.get(p + "mlp.gate_up_proj.weight", {2 * I, H});
    } else {
      L.gate_w = g.get(p + "mlp.gate_proj.weight", {I, H});
      L.up_w = g.get(p + "mlp.up_proj.weight", {I, H});
    }
    L.down_w = g.get(p + "mlp.down_proj.weight", {H, I});
    if (cfg.mlp_bias) {
      L.gate_b = g.get(p + "mlp.gate_proj.bias", {I});
      L.up_b = g.get(p + "mlp.up_proj.bias", {I});
      L.down_b = g.get(p + "mlp.down_proj.bias", {H});
    }
  }

  // Llama family: embeddings [vocab, hidden], the layers, the final norm and the RoPE
  // inverse frequencies [head_dim / 2] (Phi-3: [rotary_dim / 2]; Gemma: also the sliding
  // layers').
  void load_decoder(Checkpoint& ckpt) {
    const ModelConfig& c = cfg;
    const HfTensorNames names(c.arch, [&](const std::string& n) { return ckpt.has(n); });
    const DecoderLoader g{ckpt, names.prefix(), device, dtype, rules.norm};
    const int64_t H = c.hidden_size, D = c.head_dim;
    embed = g.get("embed_tokens.weight", {c.vocab_size, H});
    for (int64_t i = 0; i < c.num_layers; ++i) layers.push_back(load_decoder_layer(g, names, i));
    final_norm = g.get_norm("norm.weight", {H});
    inv_freq =
        rope_inv_freq(c.rope, rules.positions == PositionKind::PartialRope ? c.rotary_dim : D).to(device);
    if (rules.local_rope) inv_freq_local = rope_inv_freq(c.rope_local, D).to(device);
  }

  // The attention's input [len, hidden] of one prompt's x: the input norm's output (BERT
  // and OLMo 2: x itself).
  at::Tensor attention_input(const LayerWeights& L, const at::Tensor& x) const {
    if (!rules.attention_pre_norm) return x;
    return rules.norm == NormKind::Layer ? layer_norm(x, L.in_norm, L.attn_ln_b) : norm(x, L.in_norm);
  }

  // q [len, q_heads, head_dim], k and v [len, kv_heads, head_dim] projected from h [len,
  // hidden], q/k-normed (OLMo 2 over all heads before the reshape, Qwen 3 / Gemma 3 per head).
  std::array<at::Tensor, 3> projections(const LayerWeights& L, const at::Tensor& h) const {
    const int64_t S = h.size(0), Hq = cfg.num_heads, Hkv = cfg.num_kv_heads, D = cfg.head_dim;
    if (L.qkv_layout != QkvLayout::Separate)
      return split_fused_qkv_output(linear(h, L.qkv_w, L.qkv_b), L.qkv_layout, Hq, Hkv, D);
    at::Tensor q = linear(h, L.q_w, L.q_b), k = linear(h, L.k_w, L.k_b);
    if (rules.qk_norm_all_heads) {
      q = norm(q, L.q_norm);
      k = norm(k, L.k_norm);
    }
    q = q.view({S, Hq, D});
    k = k.view({S, Hkv, D});
    if (cfg.qk_norm) {
      q = norm(q, L.q_norm);
      k = norm(k, L.k_norm);
    }
    return {q, k, linear(h, L.v_w, L.v_b).view({S, Hkv, D})};
  }

  // Layer L's q [q_heads, len, head_dim], k and v [kv_heads, len, head_dim] of one prompt
  // (post qk-norm and RoPE), appended to `cap`.
  void project_qkv(const LayerWeights& L, const PromptState& s, LayerCapture& cap) const {
    const std::array<at::Tensor, 3> qkv = rotated_qkv(L, s);
    cap.q.push_back(qkv[0].contiguous());
    cap.k.push_back(qkv[1].contiguous());
    cap.v.push_back(qkv[2].contiguous());
  }

  // Layer L's q [q_heads, rows, head_dim], k and v [kv_heads, rows, head_dim] of s's rows
  // (post qk-norm and RoPE; views of the projections, not contiguous).
  std::array<at::Tensor, 3> rotated_qkv(const LayerWeights& L, const PromptState& s) const {
    const std::array<at::Tensor, 3> qkv = projections(L, attention_input(L, s.x));
    at::Tensor q = qkv[0].transpose(0, 1), k = qkv[1].transpose(0, 1);
    if (rules.positions == PositionKind::PartialRope) {  // the tables span rotary_dim
      q = apply_partial_rope(q, s.rope_global.first, s.rope_global.second);
      k = apply_partial_rope(k, s.rope_global.first, s.rope_global.second);
    } else if (rules.positions == PositionKind::Rope) {
      const auto& [cos, sin] = L.sliding && rules.local_rope ? s.rope_local : s.rope_global;
      q = apply_rope(q, cos, sin).to(dtype);  // float32 tables: rotated in float32, then rounded
      k = apply_rope(k, cos, sin).to(dtype);
    }
    return {q, k, qkv[2].transpose(0, 1)};
  }

  // Layer L's attention output of one prompt, before the o projection: softmax(q k^T scale
  // + mask) v per query block, [q_heads, len, head_dim]; k, v repeated for GQA.
  at::Tensor attend(const LayerWeights& L, const PromptState& s, const at::Tensor& q, const at::Tensor& k,
                    const at::Tensor& v, double scale) const {
    const ModelConfig& c = cfg;
    const int64_t Hq = c.num_heads, rep = Hq / c.num_kv_heads, S = s.len;
    const at::Tensor kt = (rep > 1 ? k.repeat_interleave(rep, 0) : k).transpose(-1, -2);
    const at::Tensor vr = rep > 1 ? v.repeat_interleave(rep, 0) : v;
    // Query blocks bound the scores to [q_heads, block, S] at a time.
    const at::Tensor& mask = L.sliding ? s.sliding_mask : s.mask;
    const int64_t block = query_block > 0 ? query_block : auto_query_block(Hq, S);
    std::vector<at::Tensor> blocks;
    for (int64_t q0 = 0; q0 < S; q0 += block) {
      const int64_t n = std::min(block, S - q0);
      const at::Tensor qb = q.narrow(1, q0, n);
      // GPT-2 reorder_and_upcast_attn: q.k in float32 by baddbmm with alpha = scale.
      at::Tensor scores = c.reorder_and_upcast
                              ? at::baddbmm(at::empty({Hq, n, S}, qb.options().dtype(at::kFloat)),
                                            qb.to(at::kFloat), kt.to(at::kFloat), 0, scale)
                              : at::matmul(qb, kt) * scale;
      if (c.attn_logit_softcapping > 0) scores = soft_cap(scores, c.attn_logit_softcapping);  // Gemma 2
      if (mask.defined()) scores = scores + mask.narrow(0, q0, n);
      const at::Tensor p =
          rules.softmax_in_scores_dtype ? at::softmax(scores, -1) : at::softmax(scores, -1, at::kFloat);
      blocks.push_back(at::matmul(p.to(dtype), vr));
    }
    return blocks.size() == 1 ? blocks[0] : at::cat(blocks, 1);
  }

  // The final hidden state [len, hidden] of one prompt: its final norm applied (BERT: none).
  at::Tensor final_hidden(const PromptState& s) const {
    if (!final_norm.defined()) return s.x;  // BERT: post-LN layers end normed
    return rules.norm == NormKind::Layer ? layer_norm(s.x, final_norm, final_norm_b) : norm(s.x, final_norm);
  }

  // The batch's states packed: x and the RoPE tables concatenated over the prompts' rows
  // (each prompt's tables from its own length); masks stay per prompt. Frees each s.x.
  PromptState packed_state(std::vector<PromptState>& st, const PackedSegments& seg) const {
    auto gather = [&](auto field) {
      std::vector<at::Tensor> parts;
      for (const PromptState& s : st) parts.push_back(field(s));
      return parts[0].defined() ? pack(parts, 0) : at::Tensor();
    };
    PromptState all;
    all.len = seg.total;
    all.x = gather([](const PromptState& s) { return s.x; });
    for (PromptState& s : st) s.x = at::Tensor();
    all.rope_global = {gather([](const PromptState& s) { return s.rope_global.first; }),
                       gather([](const PromptState& s) { return s.rope_global.second; })};
    all.rope_local = {gather([](const PromptState& s) { return s.rope_local.first; }),
                      gather([](const PromptState& s) { return s.rope_local.second; })};
    return all;
  }

  // One prompt's attention output [q_heads, len, head_dim] in a packed batch: on CUDA
  // SDPA (flash / memory-efficient kernels) where HF's eager arithmetic has no extra step
  // (soft-capping, GPT-2's upcast, a softmax in the scores' dtype, no causal mask); else attend.
  at::Tensor attend_segment(const LayerWeights& L, const PromptState& s, const at::Tensor& q,
                            const at::Tensor& k, const at::Tensor& v, double scale) const {
    const bool sdpa = device.is_cuda() && cfg.attn_logit_softcapping <= 0 && !cfg.reorder_and_upcast &&
                      !rules.softmax_in_scores_dtype && rules.causal;
    if (!sdpa) return attend(L, s, q, k, v, scale);
    return sdpa_segment(q, k, v, L.sliding ? s.sliding_mask : at::Tensor(), !L.sliding, scale);
  }

  // Prefill of the batch packed (BatchMode::Packed): norms, projections, RoPE and MLP on
  // the concatenated rows [total, hidden], attention per prompt segment with its own
  // masks. The capture gets per-prompt q/k/v as in the lone path; one layer's at a time.
  PrefillResult prefill_packed(std::vector<PromptState>& st, const CaptureFn& capture) const {
    std::vector<int64_t> lens;
    for (const PromptState& s : st) lens.push_back(s.len);
    const PackedSegments seg = packed_segments(lens);
    PromptState all = packed_state(st, seg);
    const int64_t HqD = cfg.num_heads * cfg.head_dim;
    for (size_t li = 0; li < layers.size(); ++li) {
      const LayerWeights& L = layers[li];
      LayerCapture cap;
      cap.layer = static_cast<int>(li);
      {
        const std::array<at::Tensor, 3> qkv = rotated_qkv(L, all);  // [heads, total, head_dim]
        for (size_t b = 0; b < st.size(); ++b) {
          cap.q.push_back(segment(qkv[0], seg, b, 1).contiguous());
          cap.k.push_back(segment(qkv[1], seg, b, 1).contiguous());
          cap.v.push_back(segment(qkv[2], seg, b, 1).contiguous());
        }
      }
      if (capture) capture(cap);
      const double scale = attention_scale(cfg, static_cast<int64_t>(li));
      std::vector<at::Tensor> ctx;  // per prompt [len, q_heads x head_dim]
      for (size_t b = 0; b < st.size(); ++b)
        ctx.push_back(attend_segment(L, st[b], cap.q[b], cap.k[b], cap.v[b], scale)
                          .transpose(0, 1)
                          .reshape({st[b].len, HqD}));
      cap = LayerCapture();
      all.x = block_tail(L, all.x, linear(pack(ctx, 0), L.o_w, L.o_b));
    }
    const at::Tensor h = final_hidden(all);
    PrefillResult r;
    for (size_t b = 0; b < st.size(); ++b) r.hidden.push_back(segment(h, seg, b, 0));
    return r;
  }
};

TransformerModel::TransformerModel(const std::string& dir, const RuntimeOptions& options)
    : impl_(std::make_unique<Impl>()) {
  c10::InferenceMode guard;
  Impl& m = *impl_;
  m.cfg = load_hf_config(dir);
  for (const std::string& w : m.cfg.warnings) std::cerr << "qkgeom: warning: " << w << "\n";
  m.set_architecture();
  m.device = resolve_device(options.device);
  if (options.query_block < 0)
    throw std::invalid_argument("query_block must be 0 (auto) or positive, not " +
                                std::to_string(options.query_block));
  m.query_block = options.query_block;
  m.batch_mode = options.batch_mode;
  Checkpoint ckpt(dir);
  // No dtype in config.json: HF's dtype="auto" takes the first floating weight's.
  if (!m.cfg.dtype_declared) m.cfg.dtype = ckpt.first_float_dtype();
  m.dtype = resolve_dtype(options.dtype, m.cfg);
  if (m.bert)
    m.load_bert(ckpt);
  else if (m.gpt2 || m.neox)
    m.load_gpt(ckpt);
  else
    m.load_decoder(ckpt);
}

TransformerModel::~TransformerModel() = default;

const ModelConfig& TransformerModel::config() const { return impl_->cfg; }
c10::Device TransformerModel::device() const { return impl_->device; }
c10::ScalarType TransformerModel::dtype() const { return impl_->dtype; }

namespace {

// InputError naming the prompt when `prompts` is empty, or a prompt is empty, longer than
// c's max_position_embeddings where HF cannot run it (learned positions: BERT, GPT-2), or
// has a token id outside [0, vocab_size).
void check_prompts(const std::vector<std::vector<int64_t>>& prompts, const ModelConfig& c) {
  if (prompts.empty()) throw InputError("prefill", "no prompts");
  for (size_t b = 0; b < prompts.size(); ++b) {
    const std::string where = "prompt " + std::to_string(b);
    const int64_t len = static_cast<int64_t>(prompts[b].size());
    if (len == 0) throw InputError(where, "has no tokens");
    if (len > c.max_position_embeddings && !runs_past_max_positions(c))
      throw InputError(where, "has " + std::to_string(len) + " tokens, more than " + c.path +
                                  "'s max_position_embeddings " + std::to_string(c.max_position_embeddings));
    for (int64_t id : prompts[b])
      if (id < 0 || id >= c.vocab_size)
        throw InputError(where, "token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                                    std::to_string(c.vocab_size) + ")");
  }
}

// One stderr line (once per model, `warned`) when a prompt of a RoPE model runs past
// max_position_embeddings, which HF eager computes too, on positions the model was not
// trained on; none for dynamic NTK RoPE, which rescales to run there.
void warn_past_positions(const std::vector<std::vector<int64_t>>& prompts, const ModelConfig& c,
                         std::atomic<bool>& warned) {
  if (warned || c.rope.type == RopeType::Dynamic || c.rope_local.type == RopeType::Dynamic) return;
  for (const std::vector<int64_t>& p : prompts) {
    if (static_cast<int64_t>(p.size()) <= c.max_position_embeddings) continue;
    if (!warned.exchange(true))
      std::cerr << "qkgeom: warning: a prompt of " << p.size() << " tokens runs past " << c.path
                << "'s max_position_embeddings " << c.max_position_embeddings
                << ": RoPE is applied at every position, as transformers does (positions past the trained "
                   "context)\n";
    return;
  }
}

}  // namespace

PrefillResult TransformerModel::prefill(const std::vector<std::vector<int64_t>>& prompts,
                                        const CaptureFn& capture) {
  c10::InferenceMode guard;
  const Impl& m = *impl_;
  const ModelConfig& c = m.cfg;
  check_prompts(prompts, c);
  warn_past_positions(prompts, c, impl_->warned_positions);
  const size_t B = prompts.size();
  std::vector<PromptState> st(B);
  for (size_t b = 0; b < B; ++b) st[b] = m.prompt_state(prompts[b]);
  if (m.batch_mode == BatchMode::Packed) return m.prefill_packed(st, capture);

  const int64_t Hq = c.num_heads, D = c.head_dim;
  for (size_t li = 0; li < m.layers.size(); ++li) {
    const double scale = attention_scale(c, static_cast<int64_t>(li));  // HF's, per layer
    const LayerWeights& L = m.layers[li];
    LayerCapture cap;
    cap.layer = static_cast<int>(li);
    for (size_t b = 0; b < B; ++b) m.project_qkv(L, st[b], cap);
    if (capture) capture(cap);

    for (size_t b = 0; b < B; ++b) {
      PromptState& s = st[b];
      const at::Tensor ctx = m.attend(L, s, cap.q[b], cap.k[b], cap.v[b], scale);
      const at::Tensor o = m.linear(ctx.transpose(0, 1).reshape({s.len, Hq * D}), L.o_w, L.o_b);
      s.x = m.block_tail(L, s.x, o);
    }
  }
  PrefillResult r;
  for (PromptState& s : st) r.hidden.push_back(m.final_hidden(s));
  return r;
}

std::vector<Snapshot> capture_snapshots(TransformerModel& model,
                                        const std::vector<std::vector<int64_t>>& prompts, bool with_q) {
  const ModelConfig& c = model.config();
  auto make = [&](int64_t heads, size_t len) {
    Tensor4f t;
    t.shape = {c.num_layers, heads, static_cast<int64_t>(len), c.head_dim};
    t.data.resize(static_cast<size_t>(t.numel()));
    return t;
  };
  std::vector<Snapshot> snaps(prompts.size());
  for (size_t b = 0; b < prompts.size(); ++b) {
    snaps[b].path = c.path;
    snaps[b].k = make(c.num_kv_heads, prompts[b].size());
    snaps[b].v = make(c.num_kv_heads, prompts[b].size());
    if (with_q) snaps[b].q = make(c.num_heads, prompts[b].size());
  }
  // Layer `layer` of dst <- src [heads, len, head_dim], as f32 on the host.
  auto put = [](Tensor4f& dst, int layer, const at::Tensor& src) {
    const at::Tensor f = src.to(at::kCPU, at::kFloat).contiguous();
    const size_t per_layer = static_cast<size_t>(dst.numel() / dst.shape[0]);
    std::memcpy(dst.data.data() + static_cast<size_t>(layer) * per_layer, f.data_ptr<float>(),
                per_layer * sizeof(float));
  };
  model.prefill(prompts, [&](const LayerCapture& lc) {
    for (size_t b = 0; b < prompts.size(); ++b) {
      if (with_q) put(*snaps[b].q, lc.layer, lc.q[b]);
      put(snaps[b].k, lc.layer, lc.k[b]);
      put(*snaps[b].v, lc.layer, lc.v[b]);
    }
  });
  return snaps;
}

Snapshot capture_snapshot(TransformerModel& model, const std::vector<int64_t>& ids) {
  return std::move(capture_snapshots(model, {ids}, true)[0]);
}

}  // namespace qk
