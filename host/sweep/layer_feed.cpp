#include "layer_feed.hpp"

#include <chrono>
#include <cstring>
#include <stdexcept>

#include <ATen/ATen.h>

#include "torch_view.hpp"

namespace qk {

namespace {

// t [heads, len, head_dim] as f32 [1, heads, len, head_dim], contiguous, on t's device.
at::Tensor f32_layer(const at::Tensor& t) { return t.to(at::kFloat).contiguous().unsqueeze(0); }

// A host f32 copy of t [1, heads, len, head_dim].
Tensor4f host_copy(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kCPU).contiguous();
  Tensor4f out;
  out.shape = {c.size(0), c.size(1), c.size(2), c.size(3)};
  out.data.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  return out;
}

// The --save-kv copies of one layer: layer `layer` of dst [layers, heads, len, head_dim] <-
// src [1, heads, len, head_dim] f32. Host tensors are copied at once; CUDA ones are kept
// and cross to the host together in flush(): one copy and one synchronisation per layer.
class LayerSaves {
 public:
  void put(Tensor4f& dst, int layer, const at::Tensor& src) {
    const size_t per_layer = static_cast<size_t>(dst.numel() / dst.shape[0]);
    float* to = dst.data.data() + static_cast<size_t>(layer) * per_layer;
    if (src.is_cuda()) {
      slots_.push_back(to);
      parts_.push_back(src.reshape({-1}));
      return;
    }
    std::memcpy(to, src.contiguous().data_ptr<float>(), per_layer * sizeof(float));
  }

  void flush() {
    if (parts_.empty()) return;
    const at::Tensor host = at::cat(parts_).to(at::kCPU);
    const float* from = host.data_ptr<float>();
    for (size_t i = 0; i < parts_.size(); ++i) {
      const auto n = static_cast<size_t>(parts_[i].numel());
      std::memcpy(slots_[i], from, n * sizeof(float));
      from += n;
    }
    parts_.clear();
    slots_.clear();
  }

 private:
  std::vector<float*> slots_;
  std::vector<at::Tensor> parts_;
};

// Whether each prompt's k, v (and q when with_q) of one layer hold only finite values, read
// from the model's own tensors (f32 of bf16 or f16 is finite exactly when they are): on
// CUDA one synchronisation for the whole batch.
std::vector<bool> layer_finite(const LayerCapture& lc, bool with_q) {
  std::vector<std::vector<at::Tensor>> groups;
  for (size_t b = 0; b < lc.k.size(); ++b) {
    groups.push_back({lc.k[b], lc.v[b]});
    if (with_q) groups.back().push_back(lc.q[b]);
  }
  return torch_all_finite(groups);
}

// Empty [layers, heads, len, head_dim] tensors of each prompt for what `save` keeps.
std::vector<Snapshot> saved_shapes(const ModelConfig& c, const std::vector<std::vector<int64_t>>& prompts,
                                   SaveKv save) {
  std::vector<Snapshot> out;
  if (save == SaveKv::None) return out;
  auto make = [&](int64_t heads, size_t len) {
    Tensor4f t;
    t.shape = {c.num_layers, heads, static_cast<int64_t>(len), c.head_dim};
    t.data.resize(static_cast<size_t>(t.numel()));
    return t;
  };
  for (const auto& p : prompts) {
    Snapshot s;
    s.path = c.path;
    s.k = make(c.num_kv_heads, p.size());
    if (save == SaveKv::Qkv) {
      s.v = make(c.num_kv_heads, p.size());
      s.q = make(c.num_heads, p.size());
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

FedBatch prefill_and_analyse(TransformerModel& model, const std::vector<std::vector<int64_t>>& prompts,
                             bool with_q, SaveKv save, std::vector<ProbeLayers>& probes) {
  if (probes.size() != prompts.size())
    throw std::logic_error("prefill_and_analyse: one ProbeLayers per prompt");
  FedBatch fed;
  fed.saved = saved_shapes(model.config(), prompts, save);
  std::vector<at::Tensor> prev_k(prompts.size());
  model.prefill(prompts, [&](const LayerCapture& lc) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<bool> finite = layer_finite(lc, with_q);
    LayerSaves saves;
    for (size_t b = 0; b < prompts.size(); ++b) {
      const at::Tensor k = f32_layer(lc.k[b]), v = f32_layer(lc.v[b]);
      const at::Tensor q = with_q ? f32_layer(lc.q[b]) : at::Tensor();
      LayerQkv in;
      in.k = torch_view(k);
      in.v = torch_view(v);
      if (with_q) in.q = torch_view(q);
      if (prev_k[b].defined()) in.prev_k = torch_view(prev_k[b]);
      in.finite = finite[b];
      Snapshot host;
      if (!in.finite) {
        host.k = host_copy(k);
        host.v = host_copy(v);
        if (with_q) host.q = host_copy(q);
        in.host = &host;
      }
      probes[b].add(in);
      prev_k[b] = probes[b].keeps_previous_k() ? k : at::Tensor();
      if (save == SaveKv::None) continue;
      saves.put(fed.saved[b].k, lc.layer, k);
      if (save == SaveKv::Qkv) {
        saves.put(*fed.saved[b].v, lc.layer, v);
        saves.put(*fed.saved[b].q, lc.layer, q);
      }
    }
    saves.flush();
    fed.analysis_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  });
  return fed;
}

}  // namespace qk
