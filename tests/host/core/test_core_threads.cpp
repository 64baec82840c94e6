// host/core: the thread resolver (--threads, OMP_NUM_THREADS, the affinity mask), the
// --device parser and resolver, tensor views, and the analyses' view entry points.
#include <cblas.h>
#include <omp.h>
#include <sched.h>

#include <fstream>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "attn/attention_stats.hpp"
#include "bo/bo_metrics.hpp"
#include "cpu_budget.hpp"
#include "device.hpp"
#include "exec_context.hpp"
#include "tensor_view.hpp"
#include "threads.hpp"

namespace qk {
namespace {

// The CPUs of /proc/self/status's Cpus_allowed_list ("0-3,6"): the kernel's own count.
int proc_allowed_cpus() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("Cpus_allowed_list:", 0) != 0) continue;
    int n = 0;
    std::string list = line.substr(line.find(':') + 1);
    size_t at = 0;
    while (at < list.size()) {
      const size_t comma = list.find(',', at);
      const std::string part = list.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
      const size_t dash = part.find('-');
      n += dash == std::string::npos ? 1 : std::stoi(part.substr(dash + 1)) - std::stoi(part) + 1;
      if (comma == std::string::npos) break;
      at = comma + 1;
    }
    return n;
  }
  return -1;
}

// The message of the std::invalid_argument `f` throws ("" when it throws none).
template <class F>
std::string invalid_message(F f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(Threads, AffinityCountIsTheKernels) { EXPECT_EQ(affinity_cpus(), proc_allowed_cpus()); }

TEST(Threads, DefaultFollowsANarrowedAffinityMask) {
  cpu_set_t saved;
  ASSERT_EQ(sched_getaffinity(0, sizeof saved, &saved), 0);
  int first = 0;
  while (!CPU_ISSET(first, &saved)) ++first;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
  const int narrowed = affinity_cpus();
  const ThreadChoice c = resolve_threads(0, nullptr);
  ASSERT_EQ(sched_setaffinity(0, sizeof saved, &saved), 0);
  EXPECT_EQ(narrowed, 1);
  EXPECT_EQ(c.threads, 1);
  EXPECT_EQ(c.source, "affinity");
  EXPECT_EQ(affinity_cpus(), CPU_COUNT(&saved));
}

TEST(Threads, OptionWinsOverEnvironmentWhichWinsOverAffinity) {
  EXPECT_EQ(resolve_threads(3, "5").threads, 3);
  EXPECT_EQ(resolve_threads(3, "5").source, "--threads");
  EXPECT_EQ(resolve_threads(0, "5").threads, 5);
  EXPECT_EQ(resolve_threads(0, "5").source, "OMP_NUM_THREADS");
  EXPECT_EQ(resolve_threads(0, "4,2").threads, 4);  // a nested list: the outer level
  EXPECT_EQ(resolve_threads(0, "").source, "affinity");
  EXPECT_EQ(resolve_threads(0, nullptr).threads, affinity_cpus());
}

TEST(Threads, BadValuesNameTheirSource) {
  for (int bad : {-1, kMaxThreads + 1})
    EXPECT_NE(invalid_message([&] { resolve_threads(bad, nullptr); }).find("--threads"), std::string::npos)
        << bad;
  for (const char* bad : {"abc", "0", "-2", "99999999", "3x"})
    EXPECT_NE(invalid_message([&] { resolve_threads(0, bad); }).find("OMP_NUM_THREADS"), std::string::npos)
        << bad;
  EXPECT_EQ(invalid_message([&] { resolve_threads(2, "abc"); }), "");  // the option wins: env unread
}

int g_hooked = 0;

TEST(Threads, ApplySetsOpenMpBlasBudgetAndHook) {
  set_thread_hook([](int n) { g_hooked = n; });
  apply_threads(3);
  EXPECT_EQ(omp_get_max_threads(), 3);
  EXPECT_EQ(openblas_get_num_threads(), 1);  // BLAS runs inside the OpenMP loops
  EXPECT_EQ(cpu_budget(), 3);
  EXPECT_EQ(g_hooked, 3);
  EXPECT_EQ(applied_threads(), 3);
  EXPECT_EQ(engine_settings().threads, 3);
  set_thread_hook(nullptr);
  apply_threads(1);
  EXPECT_EQ(omp_get_max_threads(), 1);
  EXPECT_THROW(apply_threads(0), std::invalid_argument);
}

TEST(Device, ParsesTheFourSpellings) {
  EXPECT_EQ(parse_device("auto").kind, DeviceSpec::Kind::Auto);
  EXPECT_EQ(parse_device("cpu").kind, DeviceSpec::Kind::Cpu);
  EXPECT_EQ(parse_device("cuda").kind, DeviceSpec::Kind::Cuda);
  EXPECT_EQ(parse_device("cuda").index, 0);
  EXPECT_EQ(parse_device("cuda:3").index, 3);
  for (const char* bad : {"gpu", "cuda:", "cuda:x", "cuda:12345", "cuda0", "CPU", ""})
    EXPECT_NE(invalid_message([&] { parse_device(bad); }).find("--device"), std::string::npos) << bad;
}

TEST(Device, ResolvesAgainstTheVisibleGpus) {
  EXPECT_EQ(resolve_device(parse_device("auto"), 0, "none").name(), "cpu");
  EXPECT_EQ(resolve_device(parse_device("auto"), 2, "").name(), "cuda:0");
  EXPECT_EQ(resolve_device(parse_device("cpu"), 2, "").name(), "cpu");
  EXPECT_EQ(resolve_device(parse_device("cuda:1"), 2, "").name(), "cuda:1");
  try {
    resolve_device(parse_device("cuda"), 0, "no driver");
    ADD_FAILURE() << "cuda without a GPU resolved";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("no driver"), std::string::npos);
  }
  EXPECT_THROW(resolve_device(parse_device("cuda:2"), 2, ""), std::runtime_error);
}

TEST(TensorView, RefusesWhatTheAnalysisCannotRead) {
  std::vector<float> x(24, 1.0f);
  TensorView v = host_view(x.data(), {1, 2, 3, 4});
  EXPECT_EQ(f32_data(v, 4, Device{}, false, "k"), x.data());
  TensorView on_gpu = v;
  on_gpu.device = Device{true, 0};
  EXPECT_NE(invalid_message([&] { f32_data(on_gpu, 4, Device{}, false, "k"); }).find("cuda:0 memory"),
            std::string::npos);
  EXPECT_NE(invalid_message([&] {
              f32_data(on_gpu, 4, Device{true, 0}, false, "k");
            }).find("host"),
            std::string::npos);
  EXPECT_EQ(f32_data(on_gpu, 4, Device{true, 0}, true, "k"), x.data());
  EXPECT_THROW(f32_data(on_gpu, 4, Device{true, 1}, true, "k"), std::invalid_argument);
  TensorView half = v;
  half.dtype = DType::F16;
  EXPECT_THROW(f32_data(half, 4, Device{}, false, "k"), std::invalid_argument);
  EXPECT_THROW(f32_data(v, 3, Device{}, false, "k"), std::invalid_argument);
  TensorView strided = v;
  strided.strides = {24, 12, 1, 3};  // a transposed last pair
  EXPECT_FALSE(strided.contiguous());
  EXPECT_THROW(f32_data(strided, 4, Device{}, false, "k"), std::invalid_argument);
  strided.strides = {24, 12, 4, 1};
  EXPECT_TRUE(strided.contiguous());
}

// A snapshot of pseudo-random values: [layers, heads, seq, dim] for k, v and q.
Snapshot small_snapshot() {
  Snapshot s;
  uint32_t state = 12345;
  auto fill = [&](int h) {
    Tensor4f t;
    t.shape = {2, h, 5, 8};
    t.data.resize(static_cast<size_t>(t.numel()));
    for (float& x : t.data) {
      state = state * 1664525u + 1013904223u;
      x = static_cast<float>(state >> 8) / 16777216.0f - 0.5f;
    }
    return t;
  };
  s.k = fill(2);
  s.v = fill(2);
  s.q = fill(4);
  return s;
}

TEST(AnalysisViews, HostViewsGiveTheSnapshotPathsNumbers) {
  const Snapshot s = small_snapshot();
  BoOptions o;
  o.device = "cpu";
  ExecContext ctx;
  const BoResult a = analyse_bo(s, o), b = analyse_bo(bo_input(s), o, ctx);
  EXPECT_EQ(a.composite_exact, b.composite_exact);
  EXPECT_EQ(a.layer_coherence, b.layer_coherence);
  ASSERT_TRUE(b.value.has_value());
  EXPECT_EQ(a.value->layer_kv_coupling, b.value->layer_kv_coupling);
  AttentionStatsOptions ao;
  ao.device = "cpu";
  const AttentionStats x = attention_stats(s, ao), y = attention_stats(attention_input(s), ao, ctx);
  EXPECT_EQ(x.entropy_nats, y.entropy_nats);
  EXPECT_EQ(x.sink_mass, y.sink_mass);
}

TEST(AnalysisViews, DeviceViewsAreRefusedByName) {
  const Snapshot s = small_snapshot();
  ExecContext cpu;
  BoInput in = bo_input(s);
  in.k.device = Device{true, 0};
  EXPECT_NE(invalid_message([&] { analyse_bo(in, BoOptions{}, cpu); }).find("bo metrics: k"),
            std::string::npos);
  AttentionInput ai = attention_input(s);
  ai.q.device = Device{true, 0};
  EXPECT_NE(invalid_message([&] {
              attention_stats(ai, AttentionStatsOptions{}, cpu);
            }).find("attention statistics: q"),
            std::string::npos);
  BoInput mismatched = bo_input(s);
  mismatched.v->shape[2] = 4;
  EXPECT_THROW(analyse_bo(mismatched, BoOptions{}, cpu), std::invalid_argument);
}

}  // namespace
}  // namespace qk
