#include "layer_feed.hpp"

#include <array>
#include <chrono>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>

#include <ATen/ATen.h>

#include "bo/gpu_stats.hpp"
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

// Layer `layer` of dst [layers, heads, len, head_dim] <- the host tensor src [1, heads, len,
// head_dim] f32 (a --save-kv copy).
// The elements of one layer of the saved dst [layers, heads, len, head_dim]: those of src,
// the layer's tensor; a logic_error when `layer` is past dst's layers or the sizes differ.
size_t saved_layer_elems(const Tensor4f& dst, int layer, const at::Tensor& src) {
  const auto per_layer = static_cast<size_t>(dst.numel() / dst.shape[0]);
  if (layer < 0 || layer >= dst.shape[0] || static_cast<size_t>(src.numel()) != per_layer)
    throw std::logic_error("BatchFeed: layer " + std::to_string(layer) + " does not fit the saved tensors [" +
                           std::to_string(dst.shape[0]) + " layers]");
  return per_layer;
}

void save_layer(Tensor4f& dst, int layer, const at::Tensor& src) {
  const size_t per_layer = saved_layer_elems(dst, layer, src);
  if (dst.data.empty()) dst.data.resize(static_cast<size_t>(dst.numel()));
  std::memcpy(dst.data.data() + static_cast<size_t>(layer) * per_layer, src.contiguous().data_ptr<float>(),
              per_layer * sizeof(float));
}

LayerTensors f32_tensors(const LayerCapture& lc, size_t b, bool with_q) {
  return {with_q ? f32_layer(lc.q[b]) : at::Tensor(), f32_layer(lc.k[b]), f32_layer(lc.v[b])};
}

// The views ProbeLayers reads of t (and of the previous layer's k, when kept).
LayerQkv layer_views(const LayerTensors& t, const at::Tensor& prev_k) {
  LayerQkv in;
  in.k = torch_view(t.k);
  in.v = torch_view(t.v);
  if (t.q.defined()) in.q = torch_view(t.q);
  if (prev_k.defined()) in.prev_k = torch_view(prev_k);
  return in;
}

// A host f32 snapshot of one layer's t, for where its first non-finite value is.
Snapshot host_layer(const LayerTensors& t) {
  Snapshot host;
  host.k = host_copy(t.k);
  host.v = host_copy(t.v);
  if (t.q.defined()) host.q = host_copy(t.q);
  return host;
}

// Each prompt's k, v (and q when with_q) of one layer: the model's own tensors, whose
// finiteness is that of their f32 copies (f32 of bf16 or f16 is finite exactly when they are).
std::vector<std::vector<at::Tensor>> finite_groups(const LayerCapture& lc, bool with_q) {
  std::vector<std::vector<at::Tensor>> groups;
  for (size_t b = 0; b < lc.k.size(); ++b) {
    groups.push_back({lc.k[b], lc.v[b]});
    if (with_q) groups.back().push_back(lc.q[b]);
  }
  return groups;
}

// [layers, heads, len, head_dim] tensors of each prompt for what `save` keeps, shaped, their
// data not yet allocated.
std::vector<Snapshot> saved_shapes(const ModelConfig& c, const std::vector<std::vector<int64_t>>& prompts,
                                   SaveKv save) {
  std::vector<Snapshot> out;
  if (save == SaveKv::None) return out;
  auto make = [&](int64_t heads, size_t len) {
    Tensor4f t;
    t.shape = {c.num_layers, heads, static_cast<int64_t>(len), c.head_dim};
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

// Whether each prompt's k, v (and q when with_q) of one CUDA layer hold only finite values:
// [prompts] bool flags reduced on torch's stream and copied, without a wait, into pinned
// host memory; read after the layer's wait.
at::Tensor queue_finite_flags(const LayerCapture& lc, bool with_q) {
  std::vector<at::Tensor> flags;
  for (const std::vector<at::Tensor>& g : finite_groups(lc, with_q)) flags.push_back(all_finite_flag(g));
  const at::Tensor dev = at::stack(flags);
  at::Tensor host = at::empty(dev.sizes(), dev.options().device(at::kCPU).pinned_memory(true));
  host.copy_(dev, /*non_blocking=*/true);
  return host;
}

// Each prompt's saved k, v, q: the tensors of `s`, nullptr where not saved.
std::array<Tensor4f*, 3> saved_tensors(Snapshot& s) {
  return {&s.k, s.v ? &*s.v : nullptr, s.q ? &*s.q : nullptr};
}

// One pinned buffer from `pool` laid out for every saved tensor of `saved`, one after the other.
StagedSaves stage_for(std::vector<Snapshot>& saved, PinnedPool& pool) {
  StagedSaves st;
  size_t total = 0;
  for (Snapshot& s : saved) {
    std::array<size_t, 3> at{};
    const std::array<Tensor4f*, 3> t = saved_tensors(s);
    for (size_t i = 0; i < t.size(); ++i)
      if (t[i] != nullptr) {
        at[i] = total;
        total += static_cast<size_t>(t[i]->numel());
      }
    st.at.push_back(at);
  }
  if (total > 0) st.data = pool.acquire(total);
  return st;
}

// Queues on torch's stream (of device `dev`) the copies of one layer of t (k, v, q) into
// layer `layer` of prompt b's staged tensors, without a wait.
void stage_saves(StagedSaves& st, std::vector<Snapshot>& saved, size_t b, int layer, const LayerTensors& t,
                 const c10::Device& dev) {
  const std::array<Tensor4f*, 3> dst = saved_tensors(saved[b]);
  const at::Tensor* src[] = {&t.k, &t.v, &t.q};
  for (size_t i = 0; i < dst.size(); ++i) {
    if (dst[i] == nullptr) continue;
    const size_t per_layer = saved_layer_elems(*dst[i], layer, *src[i]);
    queue_copy_to_host(st.data.get() + st.at[b][i] + static_cast<size_t>(layer) * per_layer,
                       src[i]->data_ptr<float>(), per_layer, dev.index(), torch_stream(dev));
  }
}

// Waits for everything queued on torch's stream `producer` and on r's analysis stream,
// swallowing an error: after a failure the first error propagates, and the tensors a
// queued read uses, and the pinned staging a queued copy writes, must outlive it.
void drain_quietly(DeviceResults& r, void* producer) noexcept {
  try {
    r.drain(producer);
  } catch (...) {
  }
}

// Forgets r's reservations (also of a layer sent but never read), so that the next batch
// can fill it; swallows an error, as drain_quietly.
void clear_quietly(DeviceResults& r) noexcept {
  try {
    r.clear();
  } catch (...) {
  }
}

}  // namespace

// One host layer: each prompt's analysis and --save-kv copies at once.
void BatchFeed::add_host(const LayerCapture& lc) {
  const std::vector<bool> finite = torch_all_finite(finite_groups(lc, with_q_));
  for (size_t b = 0; b < lc.k.size(); ++b) {
    const LayerTensors t = f32_tensors(lc, b, with_q_);
    LayerQkv in = layer_views(t, prev_k_[b]);
    in.finite = finite[b];
    Snapshot host;
    if (!in.finite) {
      host = host_layer(t);
      in.host = &host;
    }
    probes_[b].add(in);
    prev_k_[b] = probes_[b].keeps_previous_k() ? t.k : at::Tensor();
    if (save_ == SaveKv::None) continue;
    save_layer(fed_.saved[b].k, lc.layer, t.k);
    if (save_ == SaveKv::Qkv) {
      save_layer(*fed_.saved[b].v, lc.layer, t.v);
      save_layer(*fed_.saved[b].q, lc.layer, t.q);
    }
  }
}

// One CUDA layer, without a host wait for it: its finite flags, --save-kv copies and every
// prompt's analysis queued into the result block the previous layer does not use; then
// the previous layer's block is waited for and read (the GPU meanwhile runs this layer).
void BatchFeed::add_device(const LayerCapture& lc) {
  if (results_[0] == nullptr) {
    device_ = lc.k[0].device();
    for (int i = 0; i < 2; ++i) results_[i] = &buffers_.results(device_.index(), i);
    fed_.staged = stage_for(fed_.saved, buffers_.staging());
  }
  in_flight_.push_back(InFlight{results_[turn_], queue_finite_flags(lc, with_q_), {}, prev_k_});
  turn_ ^= 1;
  InFlight& cur = in_flight_.back();
  for (size_t b = 0; b < lc.k.size(); ++b) {
    cur.t.push_back(f32_tensors(lc, b, with_q_));
    if (save_ != SaveKv::None) stage_saves(fed_.staged, fed_.saved, b, lc.layer, cur.t[b], device_);
  }
  cur.results->after(torch_stream(device_));  // everything above, queued on torch's stream
  for (size_t b = 0; b < cur.t.size(); ++b) {
    probes_[b].queue(layer_views(cur.t[b], cur.prev_k[b]), cur.results);
    prev_k_[b] = probes_[b].keeps_previous_k() ? cur.t[b].k : at::Tensor();
  }
  cur.results->send();
  if (in_flight_.size() > 1) read_oldest();
}

// Waits for the oldest layer in flight (its block's one host wait), completes every
// prompt's layer with its results and finite flag, and lets its tensors go.
void BatchFeed::read_oldest() {
  InFlight& old = in_flight_.front();
  old.results->wait();
  const bool* ok = old.finite.data_ptr<bool>();
  for (size_t b = 0; b < old.t.size(); ++b) {
    const Snapshot host = ok[b] ? Snapshot() : host_layer(old.t[b]);  // a copy only for a non-finite layer
    probes_[b].complete(ok[b], ok[b] ? nullptr : &host);
  }
  old.results->clear();
  in_flight_.pop_front();
}

// After the last CUDA layer: its results read, then one wait for torch's stream (every
// --save-kv copy staged).
void BatchFeed::finish_device() {
  if (results_[0] == nullptr) return;
  while (!in_flight_.empty()) read_oldest();
  DeviceResults& r = *results_[turn_];
  r.after(torch_stream(device_));
  r.wait();
  r.clear();
}

void FedBatch::unstage() {
  if (!staged.data) return;
  for (size_t b = 0; b < saved.size(); ++b) {
    const std::array<Tensor4f*, 3> dst = saved_tensors(saved[b]);
    for (size_t i = 0; i < dst.size(); ++i)
      if (dst[i] != nullptr) {
        const float* src = staged.data.get() + staged.at[b][i];
        dst[i]->data.assign(src, src + dst[i]->numel());
      }
  }
  staged = StagedSaves();
}

FeedBuffers::FeedBuffers() = default;
FeedBuffers::~FeedBuffers() = default;

DeviceResults& FeedBuffers::results(int device, int which) {
  std::unique_ptr<DeviceResults>& r = results_.at(static_cast<size_t>(which));
  if (!r || r->device() != device) r = std::make_unique<DeviceResults>(device);
  return *r;
}

BatchFeed::BatchFeed(std::vector<ProbeLayers>& probes, bool with_q, SaveKv save, std::vector<Snapshot> saved,
                     FeedBuffers& buffers)
    : with_q_(with_q), save_(save), probes_(probes), prev_k_(probes.size()), buffers_(buffers) {
  fed_.saved = std::move(saved);
  if (save != SaveKv::None && fed_.saved.size() != probes.size())
    throw std::logic_error("BatchFeed: one saved snapshot per prompt");
}

// After a failure (layers still in flight, or the staging not handed over by finish()),
// both streams are waited for before the tensors and the staging buffer go, and both
// result blocks are cleared: the sweep's next batch reuses them (FeedBuffers).
BatchFeed::~BatchFeed() {
  if (results_[0] == nullptr) return;
  if (!in_flight_.empty() || fed_.staged.data) drain_quietly(*results_[0], torch_stream(device_));
  for (DeviceResults* r : results_) clear_quietly(*r);
}

void BatchFeed::add(const LayerCapture& lc) {
  if (lc.k.size() != probes_.size()) throw std::logic_error("BatchFeed: one ProbeLayers per prompt");
  const auto t0 = std::chrono::steady_clock::now();
  if (!lc.k.empty() && lc.k[0].is_cuda())
    add_device(lc);
  else
    add_host(lc);
  fed_.analysis_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

FedBatch BatchFeed::finish() {
  const auto t0 = std::chrono::steady_clock::now();
  finish_device();
  fed_.analysis_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return std::move(fed_);
}

FedBatch prefill_and_analyse(TransformerModel& model, const std::vector<std::vector<int64_t>>& prompts,
                             bool with_q, SaveKv save, std::vector<ProbeLayers>& probes,
                             FeedBuffers& buffers) {
  if (probes.size() != prompts.size())
    throw std::logic_error("prefill_and_analyse: one ProbeLayers per prompt");
  BatchFeed feed(probes, with_q, save, saved_shapes(model.config(), prompts, save), buffers);
  model.prefill(prompts, [&](const LayerCapture& lc) { feed.add(lc); });
  return feed.finish();
}

}  // namespace qk
