// The layer-by-layer analysis (host/sweep/layer_analysis.hpp) through the device-aware
// interface: on the CPU, bitwise the whole-cloud analyses (analyse_bo, attention_stats of
// the snapshot, the reference path), statuses as the whole snapshot's; on a GPU (skipped
// without one), CUDA tensors analysed on the device against the same tensors on the CPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <thread>

#include "bo/bo_nonfinite.hpp"
#include "layer_analysis.hpp"
#include "probe_analysis.hpp"
#if defined(QKGEOM_WITH_TORCH)
#include <ATen/ATen.h>
#include <torch/cuda.h>

#include "layer_feed.hpp"
#include "torch_view.hpp"
#endif

namespace qk {
namespace {

Tensor4f random_cloud(int layers, int heads, int64_t seq, int64_t dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.0f, 1.0f);
  Tensor4f t;
  t.shape = {layers, heads, seq, dim};
  t.data.resize(static_cast<size_t>(t.numel()));
  // A shared direction per head so that the cosines are not all near 0.
  for (size_t i = 0; i < t.data.size(); ++i) t.data[i] = n(rng) + 0.8f * static_cast<float>(i % dim == 0);
  return t;
}

Snapshot random_snapshot(int layers, int q_heads, int kv_heads, int64_t seq, int64_t dim) {
  Snapshot s;
  s.k = random_cloud(layers, kv_heads, seq, dim, 1);
  s.v = random_cloud(layers, kv_heads, seq, dim, 2);
  s.q = random_cloud(layers, q_heads, seq, dim, 3);
  return s;
}

ProbeMetrics cpu_metrics(bool compat) {
  ProbeMetrics m;
  m.bo_options.lem_compat = compat;
  m.bo_options.device = "cpu";
  m.attention_options.device = "cpu";
  m.attention_options.layer_window = {0, 5, 0, 5};  // sliding layers, as Gemma 3
  m.attention_options.layer_scale = {0.25, 0.3, 0.35, 0.4};
  m.policy = OnNonFinite::Keep;
  return m;
}

// Equal bit for bit, a NaN equal to a NaN.
void expect_same(const std::vector<double>& a, const std::vector<double>& b, const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i)
    if (!(std::isnan(a[i]) && std::isnan(b[i]))) {
      EXPECT_EQ(a[i], b[i]) << what << "[" << i << "]";
    }
}

void expect_same_bo(const BoResult& a, const BoResult& b) {
  expect_same({a.composite_exact, a.phase_lock_score, a.mean_cross_alignment},
              {b.composite_exact, b.phase_lock_score, b.mean_cross_alignment}, "bo scalars");
  expect_same(a.layer_coherence, b.layer_coherence, "layer_coherence");
  expect_same(a.layer_cross_alignment, b.layer_cross_alignment, "layer_cross_alignment");
  expect_same(a.head_entropy, b.head_entropy, "head_entropy");
  expect_same(a.head_differentiation, b.head_differentiation, "head_differentiation");
  EXPECT_EQ(a.joint_collapse_count, b.joint_collapse_count);
  EXPECT_EQ(a.q_heads, b.q_heads);
  ASSERT_EQ(a.value.has_value(), b.value.has_value());
  if (a.value) {
    expect_same(a.value->layer_value_coherence, b.value->layer_value_coherence, "layer_value_coherence");
    expect_same(a.value->layer_kv_coupling, b.value->layer_kv_coupling, "layer_kv_coupling");
    expect_same({a.value->value_phase_lock_score}, {b.value->value_phase_lock_score}, "value_phase_lock");
  }
}

void expect_same_attention(const AttentionStats& a, const AttentionStats& b) {
  EXPECT_EQ(a.layers, b.layers);
  EXPECT_EQ(a.entropy_nats, b.entropy_nats);
  EXPECT_EQ(a.logit_std, b.logit_std);
  EXPECT_EQ(a.sink_mass, b.sink_mass);
  EXPECT_EQ(a.distance_mass, b.distance_mass);
  EXPECT_EQ(a.mean_entropy_nats, b.mean_entropy_nats);
  EXPECT_EQ(a.mean_sink_mass, b.mean_sink_mass);
  EXPECT_EQ(a.layer_window, b.layer_window);
  EXPECT_EQ(a.layer_scale, b.layer_scale);
}

// Layer by layer equals the whole cloud bit for bit: multi-head mode (6 KV heads: head
// Gram, cross-layer alignment from the previous layer's k) and position mode (2 KV heads),
// default and --lem-compat.
TEST(LayerAnalysis, EqualsTheWholeCloudOnCpu) {
  for (int kv_heads : {6, 2})
    for (bool compat : {false, true}) {
      SCOPED_TRACE(std::to_string(kv_heads) + " kv heads, compat " + std::to_string(compat));
      const Snapshot snap = random_snapshot(4, kv_heads * 2, kv_heads, 300, 16);
      const ProbeMetrics m = cpu_metrics(compat);
      ProbeOutcome layered;
      analyse_probe(snap, m, layered);
      ASSERT_TRUE(layered.status.ok()) << layered.status.detail;
      expect_same_bo(*layered.bo, analyse_bo(snap, m.bo_options));
      expect_same_attention(*layered.attention, attention_stats(snap, m.attention_options));
      EXPECT_NE(layered.bo->layer_cross_alignment[1], 0.0);
    }
}

// A NaN in layer 2's v: the status names that layer and tensor as the whole snapshot's first
// non-finite value does, and keep masks exactly the heads it reaches.
TEST(LayerAnalysis, NonFiniteLayerIsNamedAndMasked) {
  Snapshot snap = random_snapshot(4, 4, 2, 40, 8);
  const int64_t per_layer = snap.v->numel() / 4;
  snap.v->data[static_cast<size_t>(2 * per_layer + 40 * 8 + 3)] = std::numeric_limits<float>::quiet_NaN();
  const ProbeMetrics m = cpu_metrics(false);
  ProbeOutcome out;
  analyse_probe(snap, m, out);
  const NonFiniteValue first = *first_nonfinite(snap);
  EXPECT_EQ(out.status.status, "non_finite");
  EXPECT_EQ(out.status.layer, 2);
  EXPECT_EQ(out.status.tensor, "v");
  EXPECT_EQ(out.status.detail, describe_nonfinite(first, 4, 2));
  ASSERT_TRUE(out.bo && out.bo->value);
  BoResult whole = analyse_bo(snap, m.bo_options);
  const std::vector<uint8_t> v_bad = nonfinite_heads(*snap.v);
  mask_nonfinite_bo(whole, nonfinite_heads(snap.k), &v_bad);
  expect_same_bo(*out.bo, whole);
  EXPECT_TRUE(std::isnan(out.bo->value->layer_value_coherence[2]));
}

// Layer l of t as a [1, heads, seq, dim] host view, and as a one-layer host copy.
TensorView layer_view_of(const Tensor4f& t, int l) {
  return host_view(t.data.data() + static_cast<size_t>(l) * static_cast<size_t>(t.numel() / t.shape[0]),
                   {1, t.shape[1], t.shape[2], t.shape[3]});
}
Tensor4f layer_copy(const Tensor4f& t, int l) {
  Tensor4f out;
  out.shape = {1, t.shape[1], t.shape[2], t.shape[3]};
  const size_t n = static_cast<size_t>(t.numel() / t.shape[0]);
  out.data.assign(t.data.begin() + static_cast<std::ptrdiff_t>(l * n),
                  t.data.begin() + static_cast<std::ptrdiff_t>((l + 1) * n));
  return out;
}

// Layer l queued while layer l-1 is still to complete (the sweep's CUDA order: queue l,
// then read l-1), with a NaN in layer 2's v: each completion takes its own layer's results,
// bit for bit those of one layer at a time (analyse_probe), the status naming layer 2.
TEST(LayerAnalysis, LayersQueuedAheadEqualOneAtATime) {
  Snapshot snap = random_snapshot(4, 12, 6, 60, 16);
  const int64_t per_layer = snap.v->numel() / 4;
  snap.v->data[static_cast<size_t>(2 * per_layer + 60 * 16 + 5)] = std::numeric_limits<float>::quiet_NaN();
  const ProbeMetrics m = cpu_metrics(false);
  ProbeLayers probe(m, ExecContext{}, 4, 12, 6);
  std::vector<Snapshot> hosts(4);
  for (int l = 0; l < 4; ++l) {
    hosts[static_cast<size_t>(l)].k = layer_copy(snap.k, l);
    hosts[static_cast<size_t>(l)].v = layer_copy(*snap.v, l);
    hosts[static_cast<size_t>(l)].q = layer_copy(*snap.q, l);
    LayerQkv in;
    in.k = layer_view_of(snap.k, l);
    in.v = layer_view_of(*snap.v, l);
    in.q = layer_view_of(*snap.q, l);
    if (l > 0) in.prev_k = layer_view_of(snap.k, l - 1);
    probe.queue(in, nullptr);
    if (l > 0) probe.complete(l - 1 != 2, l - 1 == 2 ? &hosts[static_cast<size_t>(l - 1)] : nullptr);
  }
  ProbeOutcome early;
  EXPECT_THROW(probe.finish(early), std::logic_error);  // layer 3 still queued
  probe.complete(true, nullptr);
  ProbeOutcome ahead, want;
  probe.finish(ahead);
  analyse_probe(snap, m, want);
  EXPECT_EQ(ahead.status.status, "non_finite");
  EXPECT_EQ(ahead.status.layer, 2);
  EXPECT_EQ(ahead.status.detail, want.status.detail);
  expect_same_bo(*ahead.bo, *want.bo);
  expect_same_attention(*ahead.attention, *want.attention);
  EXPECT_THROW(probe.complete(true, nullptr), std::logic_error);
}

// Layers out of order, and a layer in device memory on a CPU context, are refused by name.
TEST(LayerAnalysis, RefusesWhatItCannotRead) {
  const Snapshot snap = random_snapshot(2, 2, 2, 8, 4);
  const ProbeMetrics m = cpu_metrics(false);
  ExecContext ctx;
  ProbeLayers probe(m, ctx, 1, 2, 2);
  LayerQkv in;
  in.k = host_view(snap.k.data.data(), {1, 2, 8, 4});
  in.v = host_view(snap.v->data.data(), {1, 2, 8, 4});
  in.q = host_view(snap.q->data.data(), {1, 2, 8, 4});
  in.k.device.cuda = true;
  try {
    probe.add(in);
    FAIL() << "a device view on the CPU was read";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("bo metrics: k: the data is in cuda:0 memory"), std::string::npos)
        << e.what();
  }
  ProbeOutcome out;
  EXPECT_THROW(probe.finish(out), std::logic_error);
}

// On a CUDA context, a host view mixed with a device view is refused by name before any
// kernel or copy is queued (no host pointer reaches a kernel): k/v for the BO metrics, q/k
// for the attention statistics, the two layers of the cross-layer alignment.
TEST(LayerAnalysis, HostAndDeviceViewsMixedAreRefused) {
  const Snapshot snap = random_snapshot(2, 2, 2, 8, 4);
  ExecContext ctx;
  ctx.device.cuda = true;
  auto view = [](const Tensor4f& t, bool cuda) {
    TensorView v = host_view(t.data.data(), {1, 2, 8, 4});
    v.device.cuda = cuda;
    return v;
  };
  ProbeMetrics bo = cpu_metrics(false), attention = cpu_metrics(false);
  bo.attention = false;
  attention.bo = false;
  struct Case {
    const ProbeMetrics& m;
    bool q_cuda, k_cuda, v_cuda;
    const char* says;
  };
  for (const Case& c :
       {Case{bo, false, false, true, "bo metrics: v and k are in different memories"},
        Case{attention, false, true, true, "attention statistics: q and k are in different memories"}}) {
    ProbeLayers probe(c.m, ctx, 1, 2, 2);
    LayerQkv in;
    in.q = view(*snap.q, c.q_cuda);
    in.k = view(snap.k, c.k_cuda);
    in.v = view(*snap.v, c.v_cuda);
    try {
      probe.add(in);
      ADD_FAILURE() << "read: " << c.says;
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()), c.says);
    }
  }
  EXPECT_THROW(bo_layer_alignment(view(snap.k, false), view(snap.k, true), bo.bo_options, ctx),
               std::invalid_argument);
}

#if defined(QKGEOM_WITH_TORCH)
// One probe's layers fed from libtorch tensors on `device` (f32 [1, heads, seq, dim] each).
ProbeOutcome feed(const std::vector<at::Tensor>& q, const std::vector<at::Tensor>& k,
                  const std::vector<at::Tensor>& v, const ProbeMetrics& m, const c10::Device& device) {
  ExecContext ctx;
  ctx.device.cuda = device.is_cuda();
  ctx.stream = torch_stream(device);
  ProbeLayers probe(m, ctx, static_cast<int>(k.size()), static_cast<int>(q[0].size(1)),
                    static_cast<int>(k[0].size(1)));
  std::vector<at::Tensor> on(3 * k.size());
  for (size_t l = 0; l < k.size(); ++l) {
    on[3 * l] = q[l].to(device), on[3 * l + 1] = k[l].to(device), on[3 * l + 2] = v[l].to(device);
    LayerQkv in;
    in.q = torch_view(on[3 * l]);
    in.k = torch_view(on[3 * l + 1]);
    in.v = torch_view(on[3 * l + 2]);
    if (l > 0) in.prev_k = torch_view(on[3 * l - 2]);
    in.finite = torch_all_finite({{on[3 * l], on[3 * l + 1], on[3 * l + 2]}})[0];
    probe.add(in);
  }
  ProbeOutcome out;
  probe.finish(out);
  return out;
}

// The sweep's CPU path through libtorch views: the same numbers as the snapshot path.
TEST(LayerAnalysis, TorchViewsOnCpuEqualTheSnapshotPath) {
  const Snapshot snap = random_snapshot(4, 12, 6, 300, 16);
  auto layers = [](const Tensor4f& t) {
    std::vector<at::Tensor> out;
    const at::Tensor all = at::from_blob(const_cast<float*>(t.data.data()), t.shape, at::kFloat);
    for (int l = 0; l < t.layers(); ++l) out.push_back(all.narrow(0, l, 1).clone());
    return out;
  };
  const ProbeMetrics m = cpu_metrics(false);
  const ProbeOutcome a = feed(layers(*snap.q), layers(snap.k), layers(*snap.v), m, c10::Device(c10::kCPU));
  ProbeOutcome b;
  analyse_probe(snap, m, b);
  expect_same_bo(*a.bo, *b.bo);
  expect_same_attention(*a.attention, *b.attention);
}

// Views the analysis cannot read (a transposed libtorch view, bf16) are refused by name,
// never read with the wrong strides or dtype.
TEST(LayerAnalysis, TorchViewsItCannotReadAreRefused) {
  const ProbeMetrics m = cpu_metrics(false);
  const at::Tensor k = at::randn({1, 2, 8, 4}), v = at::randn({1, 2, 8, 4});
  const at::Tensor kt = k.transpose(2, 3).contiguous().transpose(2, 3);  // k's values, column-major
  const at::Tensor v16 = v.to(at::kBFloat16);
  struct Case {
    const at::Tensor& k;
    const at::Tensor& v;
    const char* says;
  };
  for (const Case& c : {Case{kt, v, "bo metrics: k: expected a row-major contiguous tensor"},
                        Case{k, v16, "bo metrics: v: expected f32 data"}}) {
    ProbeLayers probe(m, ExecContext{}, 1, 2, 2);
    LayerQkv in;
    in.k = torch_view(c.k);
    in.v = torch_view(c.v);
    in.q = torch_view(k);
    try {
      probe.add(in);
      ADD_FAILURE() << "read: " << c.says;
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()), c.says);
    }
  }
}

// The finite flags per group: f32 contiguous or not (a transposed view), bf16 with an Inf,
// f16, an empty group; on CUDA (when visible) the same flags from the device, the groups
// also mixed with host tensors.
TEST(TorchView, AllFiniteFlagsPerGroup) {
  const at::Tensor a = at::randn({2, 5, 4});
  at::Tensor nan = at::randn({2, 5, 4});
  nan[1][3][2].fill_(std::numeric_limits<float>::quiet_NaN());
  const at::Tensor nan_t = nan.transpose(1, 2);
  at::Tensor inf16 = at::randn({3, 4}).to(at::kBFloat16);
  inf16[2][1].fill_(std::numeric_limits<float>::infinity());
  const at::Tensor half = at::randn({3, 4}).to(at::kHalf);
  const std::vector<std::vector<at::Tensor>> groups = {{a, half}, {a, nan_t}, {inf16, a}, {}, {a, a, a}};
  const std::vector<bool> want = {true, false, false, true, true};
  EXPECT_EQ(torch_all_finite(groups), want);
  if (!torch::cuda::is_available()) return;
  std::vector<std::vector<at::Tensor>> on_gpu = groups, mixed = groups;
  for (size_t g = 0; g < groups.size(); ++g)
    for (size_t i = 0; i < groups[g].size(); ++i) {
      on_gpu[g][i] = groups[g][i].to(at::kCUDA);
      if (i % 2 == 1) mixed[g][i] = on_gpu[g][i];
    }
  EXPECT_EQ(torch_all_finite(on_gpu), want);
  EXPECT_EQ(torch_all_finite(mixed), want);
}

// The stream the analysis waits on: none on the CPU; on CUDA never null, also for
// libtorch's default stream (its handle is null; null would mean "nothing to wait for").
TEST(TorchView, StreamIsNeverNullOnCuda) {
  EXPECT_EQ(torch_stream(c10::Device(c10::kCPU)), nullptr);
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible to libtorch";
  EXPECT_NE(torch_stream(c10::Device(c10::kCUDA, 0)), nullptr);
}

// |a - b| <= tol elementwise, a NaN equal to a NaN (masked heads).
void expect_near(const std::vector<double>& a, const std::vector<double>& b, double tol, const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i)
    if (!(std::isnan(a[i]) && std::isnan(b[i]))) {
      EXPECT_NEAR(a[i], b[i], tol) << what << "[" << i << "]";
    }
}

// The GPU's outcome against the CPU twin's: same status, numbers to the tolerances of
// test_gpu_parity.
void expect_near_cpu(const ProbeOutcome& gpu, const ProbeOutcome& cpu) {
  EXPECT_EQ(gpu.status.status, cpu.status.status);
  EXPECT_EQ(gpu.status.layer, cpu.status.layer);
  EXPECT_EQ(gpu.status.detail, cpu.status.detail);
  ASSERT_TRUE(gpu.bo && cpu.bo && gpu.attention && cpu.attention);
  EXPECT_EQ(gpu.bo->backend, "cuda:0");
  expect_near({gpu.bo->composite_exact}, {cpu.bo->composite_exact}, 1e-6 * 10000, "composite");
  expect_near(gpu.bo->layer_coherence, cpu.bo->layer_coherence, 1e-9, "layer_coherence");
  expect_near(gpu.bo->layer_cross_alignment, cpu.bo->layer_cross_alignment, 1e-9, "layer_cross_alignment");
  expect_near(gpu.bo->head_entropy, cpu.bo->head_entropy, 1e-6, "head_entropy");
  ASSERT_TRUE(gpu.bo->value && cpu.bo->value);
  expect_near(gpu.bo->value->layer_kv_coupling, cpu.bo->value->layer_kv_coupling, 1e-6, "layer_kv_coupling");
  expect_near(gpu.attention->entropy_nats, cpu.attention->entropy_nats, 1e-4, "entropy_nats");
  expect_near(gpu.attention->sink_mass, cpu.attention->sink_mass, 1e-5, "sink_mass");
  expect_near(gpu.attention->distance_mass, cpu.attention->distance_mass, 1e-5, "distance_mass");
}

// t [layers, heads, len, dim] on `device`.
at::Tensor on_device(const Tensor4f& t, const c10::Device& device) {
  return at::from_blob(const_cast<float*>(t.data.data()), t.shape, at::kFloat).to(device);
}

// Three prompts of lengths 50, 300, 7 (the middle one with a NaN in layer 2's v), 6 KV
// heads, 4 layers, each layer with a shared direction of its own strength (so that every
// per-layer number differs from layer to layer).
std::vector<Snapshot> batch_snapshots() {
  std::vector<Snapshot> out;
  for (int64_t len : {50, 300, 7}) {
    out.push_back(random_snapshot(4, 12, 6, len, 16));
    for (Tensor4f* t : {&out.back().k, &*out.back().v, &*out.back().q}) {  // a per-layer direction
      const size_t per_layer = static_cast<size_t>(t->numel() / 4);
      for (size_t i = 0; i < t->data.size(); i += 16)
        t->data[i + 1] += 0.6f * static_cast<float>(i / per_layer);
    }
  }
  Snapshot& mid = out[1];
  const int64_t per_layer = mid.v->numel() / 4;
  mid.v->data[static_cast<size_t>(2 * per_layer + 5 * 300 * 16 + 17)] =
      std::numeric_limits<float>::quiet_NaN();
  return out;
}

struct BatchRun {
  std::vector<ProbeOutcome> out;
  FedBatch fed;
};

// snaps as one batch through BatchFeed on `device`, --save-kv `save`; with `busy`, every
// layer's tensors are written behind a chain of matmuls on torch's stream. `fed_layers`
// past the snapshots' 4 repeat them (a batch fed more layers than it holds).
BatchRun feed_batch(const std::vector<Snapshot>& snaps, const ProbeMetrics& m, const c10::Device& device,
                    SaveKv save, bool busy, FeedBuffers& buffers, int fed_layers = 4) {
  ExecContext ctx;
  ctx.device.cuda = device.is_cuda();
  ctx.stream = torch_stream(device);
  std::vector<ProbeLayers> probes;
  std::vector<Snapshot> saved;
  for (const Snapshot& s : snaps) {
    probes.emplace_back(m, ctx, 4, static_cast<int>(s.q->shape[1]), static_cast<int>(s.k.shape[1]));
    Snapshot e;
    e.k = s.k;
    if (save == SaveKv::Qkv) {
      e.v = *s.v;
      e.q = *s.q;
    }
    for (Tensor4f* t : {&e.k, e.v ? &*e.v : nullptr, e.q ? &*e.q : nullptr})
      if (t != nullptr) std::fill(t->data.begin(), t->data.end(), -7.0f);
    saved.push_back(e);
  }
  BatchFeed feed(probes, true, save, save == SaveKv::None ? std::vector<Snapshot>() : saved, buffers);
  std::vector<std::array<at::Tensor, 3>> up;  // each prompt's q, k, v on `device`
  for (const Snapshot& s : snaps)
    up.push_back({on_device(*s.q, device), on_device(s.k, device), on_device(*s.v, device)});
  for (int l = 0; l < fed_layers; ++l) {
    at::Tensor chain;
    if (busy) {
      chain = at::randn({2048, 2048}, at::TensorOptions().device(device));
      for (int i = 0; i < 16; ++i) chain = at::tanh(at::mm(chain, chain));
    }
    LayerCapture lc;
    lc.layer = l;
    for (const std::array<at::Tensor, 3>& t : up) {  // copies queued after the chain, bit for bit
      lc.q.push_back(t[0].select(0, l % 4).clone());
      lc.k.push_back(t[1].select(0, l % 4).clone());
      lc.v.push_back(t[2].select(0, l % 4).clone());
    }
    feed.add(lc);
  }
  BatchRun r;
  r.fed = feed.finish();
  std::thread([&r] { r.fed.unstage(); }).join();  // as the sweep's writer thread
  for (ProbeLayers& p : probes) {
    r.out.emplace_back();
    p.finish(r.out.back());
  }
  return r;
}

// The saved tensors hold the inputs bit for bit (NaN included).
void expect_saved(const BatchRun& r, const std::vector<Snapshot>& snaps, SaveKv save) {
  ASSERT_EQ(r.fed.saved.size(), save == SaveKv::None ? 0 : snaps.size());
  for (size_t b = 0; b < r.fed.saved.size(); ++b) {
    const Snapshot& s = r.fed.saved[b];
    auto same = [](const Tensor4f& a, const Tensor4f& w) {
      ASSERT_EQ(a.shape, w.shape);
      EXPECT_EQ(std::memcmp(a.data.data(), w.data.data(), a.data.size() * sizeof(float)), 0);
    };
    same(s.k, snaps[b].k);
    ASSERT_EQ(s.v.has_value(), save == SaveKv::Qkv);
    if (!s.v) continue;
    same(*s.v, *snaps[b].v);
    same(*s.q, *snaps[b].q);
  }
}

// Each layer's numbers of `o` differ from the previous layer's, in at least one place, by
// ten times the parity tolerances of expect_near_cpu (NaN layers aside): a layer's results
// read into its neighbour's place cannot pass.
void expect_layers_apart(const ProbeOutcome& o) {
  auto apart = [](const std::vector<double>& x, size_t per_layer, double gap, const char* what) {
    for (size_t l = 1; l < x.size() / per_layer; ++l) {
      double most = 0;
      bool nan = false;
      for (size_t h = 0; h < per_layer; ++h) {
        const double a = x[l * per_layer + h], b = x[(l - 1) * per_layer + h];
        nan = nan || std::isnan(a) || std::isnan(b);
        most = std::max(most, std::abs(a - b));
      }
      if (!nan) {
        EXPECT_GT(most, gap) << what << " layers " << l - 1 << " and " << l;
      }
    }
  };
  apart(o.bo->layer_coherence, 1, 1e-8, "layer_coherence");
  apart(o.bo->value->layer_kv_coupling, 1, 1e-5, "layer_kv_coupling");
  apart(o.attention->entropy_nats, 12, 1e-3, "entropy_nats");
}

// The sweep's batch feed on the CPU: each prompt's outcome bit for bit its snapshot's
// (analyse_probe), the NaN prompt in the middle named alone, --save-kv qkv exact.
TEST(BatchFeed, OnCpuEqualsEachSnapshot) {
  const std::vector<Snapshot> snaps = batch_snapshots();
  const ProbeMetrics m = cpu_metrics(false);
  FeedBuffers buffers;
  const BatchRun r = feed_batch(snaps, m, c10::Device(c10::kCPU), SaveKv::Qkv, false, buffers);
  for (size_t b = 0; b < snaps.size(); ++b) {
    SCOPED_TRACE("prompt " + std::to_string(b));
    ProbeOutcome want;
    analyse_probe(snaps[b], m, want);
    EXPECT_EQ(r.out[b].status.status, want.status.status);
    EXPECT_EQ(r.out[b].status.detail, want.status.detail);
    expect_same_bo(*r.out[b].bo, *want.bo);
    expect_same_attention(*r.out[b].attention, *want.attention);
  }
  EXPECT_EQ(r.out[1].status.status, "non_finite");
  EXPECT_EQ(r.out[1].status.layer, 2);
  EXPECT_TRUE(r.out[0].status.ok() && r.out[2].status.ok());
  for (const ProbeOutcome& o : r.out) expect_layers_apart(o);
  expect_saved(r, snaps, SaveKv::Qkv);
}

// The batched device path (layer l queued before layer l-1 is read, pinned --save-kv
// copies; result blocks and staging reused from batch to batch) against the CPU twin: the same statuses (the
// NaN prompt in the middle, at layer 2), numbers to the parity tolerances layer by layer (adjacent layers
// differ far beyond them, so a result read into the wrong layer fails), saved tensors bit for bit; with
// torch's stream kept busy before each layer, and for --save-kv none, k and qkv.
TEST(BatchFeed, OnCudaMatchesCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible to libtorch";
  const std::vector<Snapshot> snaps = batch_snapshots();
  const ProbeMetrics m = cpu_metrics(false);
  FeedBuffers buffers;  // one for every batch, as in a sweep
  const BatchRun cpu = feed_batch(snaps, m, c10::Device(c10::kCPU), SaveKv::None, false, buffers);
  for (const ProbeOutcome& o : cpu.out) expect_layers_apart(o);
  for (SaveKv save : {SaveKv::None, SaveKv::K, SaveKv::Qkv})
    for (bool busy : {false, true}) {
      SCOPED_TRACE("save " + std::to_string(static_cast<int>(save)) + ", busy " + std::to_string(busy));
      const BatchRun gpu = feed_batch(snaps, m, c10::Device(c10::kCUDA, 0), save, busy, buffers);
      ASSERT_EQ(gpu.out.size(), cpu.out.size());
      for (size_t b = 0; b < cpu.out.size(); ++b) expect_near_cpu(gpu.out[b], cpu.out[b]);
      EXPECT_EQ(gpu.out[1].status.status, "non_finite");
      EXPECT_EQ(gpu.out[1].status.layer, 2);
      expect_saved(gpu, snaps, save);
    }
  // The staging was reused: one buffer for k (both k runs), one for q, k, v (both qkv runs).
  size_t k = 0;
  for (const Snapshot& x : snaps) k += static_cast<size_t>(x.k.numel());
  const size_t qkv = 4 * k;  // v as k, q twice k (12 query heads, 6 KV heads)
  EXPECT_EQ(buffers.staging().peak_bytes(), (k + qkv) * sizeof(float));
  EXPECT_EQ(buffers.staging().held_bytes(), (k + qkv) * sizeof(float));
}

// A layer past the batch's 4 is refused by name (also after layers in flight and staged
// --save-kv copies on CUDA), never saved past the buffers; the same FeedBuffers then serve
// the next batch, with the numbers and saved tensors of a batch on fresh ones.
TEST(BatchFeed, ExtraLayerIsRefusedAndBuffersStayUsable) {
  const std::vector<Snapshot> snaps = batch_snapshots();
  const ProbeMetrics m = cpu_metrics(false);
  std::vector<c10::Device> devices = {c10::Device(c10::kCPU)};
  if (torch::cuda::is_available()) devices.emplace_back(c10::kCUDA, 0);
  for (const c10::Device& device : devices) {
    SCOPED_TRACE(device.str());
    FeedBuffers used, fresh;
    try {
      feed_batch(snaps, m, device, SaveKv::Qkv, false, used, 5);
      ADD_FAILURE() << "a fifth layer was taken";
    } catch (const std::logic_error& e) {
      // On CUDA the --save-kv staging of layer 4 comes before the analysis is queued.
      const char* says = device.is_cuda() ? "BatchFeed: layer 4 does not fit the saved tensors [4 layers]"
                                          : "ProbeLayers: more layers than the model has";
      EXPECT_EQ(std::string(e.what()), says);
    }
    const BatchRun after = feed_batch(snaps, m, device, SaveKv::Qkv, false, used);
    const BatchRun want = feed_batch(snaps, m, device, SaveKv::Qkv, false, fresh);
    for (size_t b = 0; b < snaps.size(); ++b) {
      expect_same_bo(*after.out[b].bo, *want.out[b].bo);
      expect_same_attention(*after.out[b].attention, *want.out[b].attention);
    }
    expect_saved(after, snaps, SaveKv::Qkv);
  }
}

// The pinned pool: a free buffer is handed again when it fits and is at most twice the
// size asked (also after coming back from another thread); beyond `keep` free buffers,
// the rest are freed; held and peak bytes say so.
TEST(BatchFeed, PinnedPoolReusesWithinItsBound) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible to libtorch";
  PinnedPool pool(1);
  std::shared_ptr<float> a = pool.acquire(100);
  float* first = a.get();
  std::thread([moved = std::move(a)]() mutable { moved.reset(); }).join();
  EXPECT_EQ(pool.held_bytes(), 100 * sizeof(float));
  std::shared_ptr<float> b = pool.acquire(60);  // 100 <= 2 * 60: the same buffer
  EXPECT_EQ(b.get(), first);
  b.reset();
  std::shared_ptr<float> c = pool.acquire(40);  // 100 > 2 * 40: a new one
  EXPECT_NE(c.get(), first);
  EXPECT_EQ(pool.held_bytes(), 140 * sizeof(float));
  c.reset();  // two free, one kept
  EXPECT_EQ(pool.held_bytes(), 100 * sizeof(float));
  EXPECT_EQ(pool.peak_bytes(), 140 * sizeof(float));
}

// GPU parity: CUDA tensors analysed on the device (kernels on the device pointers, after
// libtorch's stream) against the same q/k/v on the CPU, the attention statistics with and
// without a soft-cap, distance masses included; tolerances of test_gpu_parity.
TEST(LayerAnalysis, DeviceAnalysisMatchesCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible to libtorch";
  for (int kv_heads : {6, 2}) {
    at::manual_seed(kv_heads);
    std::vector<at::Tensor> q, k, v;
    for (int l = 0; l < 4; ++l) {
      q.push_back(at::randn({1, 2 * kv_heads, 300, 16}));
      k.push_back(at::randn({1, kv_heads, 300, 16}) + 0.5);
      v.push_back(at::randn({1, kv_heads, 300, 16}));
    }
    ProbeMetrics m = cpu_metrics(false);
    m.attention_options.softcap = kv_heads == 2 ? 1.5 : 0.0;  // Gemma 2's logit soft-cap on one pass
    const ProbeOutcome cpu = feed(q, k, v, m, c10::Device(c10::kCPU));
    const ProbeOutcome gpu = feed(q, k, v, m, c10::Device(c10::kCUDA, 0));
    expect_near_cpu(gpu, cpu);
  }
}

// The device analysis reads q/k/v only after the work libtorch queued before it on its
// current stream (ExecContext::stream = torch_stream, its default stream here): tensors
// written by kernels queued behind a chain of matmuls, analysed with no synchronisation in
// between, give bit for bit the numbers of the same tensors analysed after one.
TEST(LayerAnalysis, DeviceAnalysisWaitsForTorchsStream) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible to libtorch";
  const c10::Device cuda(c10::kCUDA, 0);
  at::manual_seed(7);
  std::vector<at::Tensor> q, k, v;  // host, [1, heads, 500, 32] per layer
  for (int l = 0; l < 4; ++l) {
    q.push_back(at::randn({1, 4, 500, 32}));
    k.push_back(at::randn({1, 2, 500, 32}) + 0.5);
    v.push_back(at::randn({1, 2, 500, 32}));
  }
  const ProbeMetrics m = cpu_metrics(false);
  ExecContext ctx;
  ctx.device.cuda = true;
  ctx.stream = torch_stream(cuda);
  ProbeLayers probe(m, ctx, 4, 4, 2);
  std::vector<at::Tensor> on;  // every layer's device tensors, alive to the end (prev_k)
  for (size_t l = 0; l < 4; ++l) {
    const at::Tensor qd = q[l].to(cuda), kd = k[l].to(cuda), vd = v[l].to(cuda);
    at::Tensor busy = at::randn({2048, 2048}, at::TensorOptions().device(cuda));
    for (int i = 0; i < 16; ++i) busy = at::tanh(at::mm(busy, busy));
    on.insert(on.end(), {qd * 2, kd * 2, vd * 2});  // queued after the chain
    LayerQkv in;
    in.q = torch_view(on[4 * l]);
    in.k = torch_view(on[4 * l + 1]);
    in.v = torch_view(on[4 * l + 2]);
    if (l > 0) in.prev_k = torch_view(on[4 * l - 3]);
    on.push_back(busy);
    probe.add(in);
  }
  ProbeOutcome raced;
  probe.finish(raced);
  auto twice = [](const std::vector<at::Tensor>& t) {
    std::vector<at::Tensor> out;
    for (const at::Tensor& x : t) out.push_back(x * 2);
    return out;
  };
  const ProbeOutcome synced = feed(twice(q), twice(k), twice(v), m, cuda);
  expect_same_bo(*raced.bo, *synced.bo);
  expect_same_attention(*raced.attention, *synced.attention);
}
#endif

}  // namespace
}  // namespace qk
