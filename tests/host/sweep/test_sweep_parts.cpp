// The sweep's pieces without a model: shards, probe selection, token batches, the
// column schema, rows (NaN fill, status columns, token-major raw vectors), the
// --on-nonfinite policy and duration formatting.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "bo/bo_nonfinite.hpp"
#include "probe_tokens.hpp"
#include "store_schema.hpp"
#include "progress.hpp"
#include "sweep_rows.hpp"
#include "sweep_schema.hpp"

namespace {

qk::Probe probe(int64_t index) {
  qk::Probe p;
  p.index = index;
  p.line = index + 1;
  p.id = "p" + std::to_string(index);
  return p;
}

qk::TokenizedProbe tokenized(int64_t index, size_t len) {
  return qk::TokenizedProbe{probe(index), std::vector<int64_t>(len, 1)};
}

TEST(Shard, ParsesAndRejects) {
  const qk::Shard s = qk::parse_shard("2/5");
  EXPECT_EQ(s.index, 2);
  EXPECT_EQ(s.count, 5);
  EXPECT_EQ(s.str(), "2/5");
  for (const char* bad : {"5/5", "1", "/3", "a/3", "-1/3", "1/0", "1/-2", "1/3/4", ""})
    EXPECT_THROW(qk::parse_shard(bad), std::invalid_argument) << bad;
}

TEST(Shard, PartitionsByIndexAndSkipsDone) {
  std::vector<qk::Probe> all;
  for (int64_t i = 0; i < 10; ++i) all.push_back(probe(i));
  std::vector<int64_t> seen;
  for (int i = 0; i < 3; ++i)
    for (const qk::Probe& p : qk::select_probes(all, qk::Shard{i, 3}, {})) {
      EXPECT_EQ(p.index % 3, i);
      seen.push_back(p.index);
    }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  const std::vector<qk::Probe> rest = qk::select_probes(all, qk::Shard{}, {0, 2, 9});
  ASSERT_EQ(rest.size(), 7u);
  EXPECT_EQ(rest.front().index, 1);
  EXPECT_EQ(rest.back().index, 8);
}

TEST(TokenBatches, RespectTheBudgetInOrder) {
  const std::vector<qk::TokenizedProbe> p = {tokenized(0, 3),  tokenized(1, 4), tokenized(2, 5),
                                             tokenized(3, 20), tokenized(4, 1), tokenized(5, 9)};
  const auto b = qk::token_batches(p, 10);
  const std::vector<std::pair<size_t, size_t>> want = {{0, 2}, {2, 3}, {3, 4}, {4, 6}};
  EXPECT_EQ(b, want);  // 3+4 | 5 | 20 alone | 1+9
  EXPECT_TRUE(qk::token_batches({}, 10).empty());
  EXPECT_EQ(qk::token_batches(p, 1).size(), p.size());
}

TEST(Schema, ColumnsFollowTheLayout) {
  qk::SweepLayout d;
  d.layers = 3;
  d.q_heads = 4;
  d.kv_heads = 2;
  d.head_dim = 8;
  d.analysed_heads = 2;
  d.save_kv = qk::SaveKv::Qkv;
  const std::vector<qk::ColumnSpec> cols = qk::sweep_columns(d);
  auto find = [&](const std::string& path) -> const qk::ColumnSpec* {
    for (const auto& c : cols)
      if (c.path == path) return &c;
    return nullptr;
  };
  ASSERT_NE(find("attention/entropy"), nullptr);
  EXPECT_EQ(find("attention/entropy")->row_shape, (std::vector<uint64_t>{3, 4}));
  EXPECT_EQ(find("attention/entropy")->units, "nats");
  EXPECT_EQ(find("bo/layer_cross_alignment")->row_shape, (std::vector<uint64_t>{2}));
  EXPECT_EQ(find("kv/q")->row_shape, (std::vector<uint64_t>{3, 4, 8}));
  EXPECT_TRUE(find("kv/k")->ragged);
  EXPECT_EQ(find("probe/index")->type, qk::ColType::I64);
  d.bo = false;
  d.save_kv = qk::SaveKv::None;
  EXPECT_EQ(qk::sweep_columns(d).size(), cols.size() - 19 - 3);
  EXPECT_THROW(qk::parse_save_kv("kv"), std::invalid_argument);
}

TEST(Rows, NanFillAndTokenMajorVectors) {
  qk::SweepLayout d;
  d.layers = 2;
  d.q_heads = 2;
  d.kv_heads = 1;
  d.head_dim = 2;
  d.analysed_heads = 1;
  d.attention = false;
  d.save_kv = qk::SaveKv::K;
  const std::vector<qk::ColumnSpec> cols = qk::sweep_columns(d);
  qk::TokenizedProbe tp = tokenized(7, 3);
  qk::Snapshot snap;
  snap.k.shape = {2, 1, 3, 2};  // [L, H, S, D]: value = 100 l + 10 s + d
  for (int l = 0; l < 2; ++l)
    for (int s = 0; s < 3; ++s)
      for (int dd = 0; dd < 2; ++dd) snap.k.data.push_back(100.f * l + 10.f * s + dd);
  qk::BoResult r;
  r.composite = 4321;
  r.gqa = false;  // no head_differentiation: NaN
  r.layer_coherence = {0.5, 0.25};
  r.layer_cross_alignment = {0.75};
  r.head_entropy = {0.1, 0.2};
  qk::ProbeOutcome o;
  o.probe = &tp;
  o.bo = r;
  o.snap = &snap;
  const qk::StoreBatch b = qk::sweep_rows(cols, {o});
  ASSERT_EQ(b.cols.size(), cols.size());
  for (size_t i = 0; i < cols.size(); ++i) {
    const qk::ColumnData& c = b.cols[i];
    if (cols[i].path == "bo/composite") {
      EXPECT_EQ(reinterpret_cast<const double*>(c.bytes.data())[0], 4321.0);
    } else if (cols[i].path == "bo/head_differentiation") {
      const double* v = reinterpret_cast<const double*>(c.bytes.data());
      ASSERT_EQ(c.bytes.size(), 2 * sizeof(double));
      EXPECT_TRUE(std::isnan(v[0]) && std::isnan(v[1]));
    } else if (cols[i].path == "bo/mean_kv_coupling") {  // no value side
      EXPECT_TRUE(std::isnan(reinterpret_cast<const double*>(c.bytes.data())[0]));
    } else if (cols[i].path == "kv/k") {
      const float* v = reinterpret_cast<const float*>(c.bytes.data());
      ASSERT_EQ(c.counts, (std::vector<int64_t>{3}));
      // token-major [S, L, H, D]: token 2, layer 1, dim 1 -> 100 + 20 + 1
      EXPECT_EQ(v[((2 * 2 + 1) * 1 + 0) * 2 + 1], 121.f);
      EXPECT_EQ(v[0 * 2 + 1], 1.f);
    } else if (cols[i].path == "probe/index") {
      EXPECT_EQ(reinterpret_cast<const int64_t*>(c.bytes.data())[0], 7);
    } else if (cols[i].path == "probe/status") {
      EXPECT_EQ(c.strings, (std::vector<std::string>{"ok"}));
    } else if (cols[i].path == "probe/nonfinite_layer") {
      EXPECT_EQ(reinterpret_cast<const int32_t*>(c.bytes.data())[0], -1);
    }
  }
}

// A probe without numbers: status columns filled, every metric NaN (composite and the
// joint-collapse count included, never 0), all per-layer values NaN.
TEST(Rows, NonFiniteProbeHasNoNumbers) {
  qk::SweepLayout d;
  d.layers = 3;
  d.q_heads = 4;
  d.kv_heads = 2;
  d.head_dim = 2;
  d.analysed_heads = 2;
  const std::vector<qk::ColumnSpec> cols = qk::sweep_columns(d);
  qk::TokenizedProbe tp = tokenized(3, 4);
  qk::ProbeOutcome o;
  o.probe = &tp;
  o.bo = qk::nan_bo_result(3, 2, false);
  o.attention = qk::nan_attention_stats();
  o.status = {"non_finite", 1, "k", "layer 1 k: ..."};
  const qk::StoreBatch b = qk::sweep_rows(cols, {o});
  for (size_t i = 0; i < cols.size(); ++i) {
    const qk::ColumnData& c = b.cols[i];
    const std::string& p = cols[i].path;
    if (p == "probe/status") {
      EXPECT_EQ(c.strings[0], "non_finite");
    } else if (p == "probe/nonfinite_tensor") {
      EXPECT_EQ(c.strings[0], "k");
    } else if (p == "probe/nonfinite_layer") {
      EXPECT_EQ(reinterpret_cast<const int32_t*>(c.bytes.data())[0], 1);
    } else if (p == "bo/position_mode") {
      EXPECT_EQ(c.bytes[0], 1);
    }
    if (cols[i].type != qk::ColType::F64) continue;
    const double* v = reinterpret_cast<const double*>(c.bytes.data());
    ASSERT_EQ(c.bytes.size(), qk::row_elems(cols[i].row_shape) * sizeof(double)) << p;
    for (size_t j = 0; j < c.bytes.size() / sizeof(double); ++j)
      EXPECT_TRUE(std::isnan(v[j])) << p << "[" << j << "]";
  }
}

// mask_nonfinite_bo on hand-made results: exactly the values computed from a flagged
// head become NaN (multi-head mode: every head counts; compat position mode: head 0 only).
qk::BoResult filled(int layers, int heads, bool gqa, int analysed) {
  qk::BoResult r;
  r.layers = layers;
  r.kv_heads = heads;
  r.gqa = gqa;
  r.analysed_heads = analysed;
  r.layer_coherence.assign(layers, 0.5);
  r.layer_cross_alignment.assign(layers - 1, 0.75);
  r.head_entropy.assign(static_cast<size_t>(layers) * analysed, 0.25);
  if (gqa) r.head_differentiation.assign(static_cast<size_t>(layers) * analysed, 0.125);
  r.composite_exact = 5000;
  r.features.fill(0.5);
  qk::BoValueResult v;
  v.layer_value_coherence.assign(layers, 0.5);
  v.layer_kv_coupling.assign(layers, 0.5);
  v.features7.fill(0.5);
  r.value = v;
  return r;
}

std::vector<int> nan_at(const std::vector<double>& x) {
  std::vector<int> out;
  for (size_t i = 0; i < x.size(); ++i)
    if (std::isnan(x[i])) out.push_back(static_cast<int>(i));
  return out;
}

TEST(BoNonFinite, MasksExactlyWhatTheFlaggedHeadsReach) {
  qk::BoResult r = filled(3, 6, false, 6);
  std::vector<uint8_t> k_bad(18, 0), v_bad(18, 0);
  k_bad[1 * 6 + 4] = 1;
  v_bad[2 * 6 + 0] = 1;
  qk::mask_nonfinite_bo(r, k_bad, &v_bad);
  EXPECT_EQ(nan_at(r.head_entropy), (std::vector<int>{10}));
  EXPECT_EQ(nan_at(r.layer_coherence), (std::vector<int>{1}));
  EXPECT_EQ(nan_at(r.layer_cross_alignment), (std::vector<int>{0, 1}));
  EXPECT_TRUE(std::isnan(r.mean_coherence) && std::isnan(r.phase_lock_score) &&
              std::isnan(r.composite_exact) && std::isnan(r.mean_cross_alignment) &&
              std::isnan(r.features[4]));
  EXPECT_TRUE(qk::bo_without_score(r));
  EXPECT_EQ(nan_at(r.value->layer_value_coherence), (std::vector<int>{2}));
  EXPECT_EQ(nan_at(r.value->layer_kv_coupling), (std::vector<int>{1, 2}));
  EXPECT_EQ(nan_at(std::vector<double>(r.value->features7.begin(), r.value->features7.end())),
            (std::vector<int>{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(qk::first_nonfinite_bo(r), std::optional<std::string>("bo/mean_coherence"));

  qk::BoResult c = filled(2, 2, true, 1);  // lem-compat position mode: head 0 analysed
  std::vector<uint8_t> k1(4, 0);
  k1[0 * 2 + 1] = 1;
  qk::mask_nonfinite_bo(c, k1, nullptr);
  EXPECT_TRUE(nan_at(c.head_entropy).empty() && nan_at(c.layer_coherence).empty() &&
              !qk::bo_without_score(c));
  EXPECT_EQ(nan_at(c.value->layer_kv_coupling), (std::vector<int>{0}));  // CKA reads every head
  EXPECT_TRUE(std::isnan(c.value->mean_kv_coupling) && !std::isnan(c.value->mean_value_coherence));
  EXPECT_EQ(qk::first_nonfinite_bo(c), std::optional<std::string>("bo/layer_kv_coupling[0]"));
}

TEST(OnNonFinite, ParsesAndRejects) {
  EXPECT_EQ(qk::parse_on_nonfinite("fail"), qk::OnNonFinite::Fail);
  EXPECT_EQ(qk::parse_on_nonfinite("skip"), qk::OnNonFinite::Skip);
  EXPECT_EQ(qk::parse_on_nonfinite("keep"), qk::OnNonFinite::Keep);
  EXPECT_STREQ(qk::on_nonfinite_name(qk::OnNonFinite::Keep), "keep");
  EXPECT_THROW(qk::parse_on_nonfinite("ignore"), std::invalid_argument);
}

// Each spelling reads back to itself; an unknown one names the option and every spelling.
TEST(OptionNames, RoundTripAndListTheSpellings) {
  for (const char* n : {"none", "k", "qkv"}) EXPECT_STREQ(qk::save_kv_name(qk::parse_save_kv(n)), n);
  for (const char* n : {"f32", "f16", "bf16"})
    EXPECT_STREQ(qk::save_kv_dtype_name(qk::parse_save_kv_dtype(n)), n);
  for (const char* n : {"fail", "skip", "keep"})
    EXPECT_STREQ(qk::on_nonfinite_name(qk::parse_on_nonfinite(n)), n);
  const auto message = [](auto&& parse, const char* name) {
    try {
      parse(name);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message(qk::parse_save_kv, "kv"), "--save-kv: unknown 'kv'; use none, k or qkv");
  EXPECT_EQ(message(qk::parse_save_kv_dtype, "F32"), "--save-kv-dtype: unknown 'F32'; use f32, f16 or bf16");
  EXPECT_EQ(message(qk::parse_on_nonfinite, ""), "--on-nonfinite: unknown ''; use fail, skip or keep");
}

TEST(Progress, FormatsDurations) {
  EXPECT_EQ(qk::format_duration(0.4), "0s");
  EXPECT_EQ(qk::format_duration(75), "1m15s");
  EXPECT_EQ(qk::format_duration(3725), "1h02m");
  EXPECT_EQ(qk::format_duration(NAN), "?");
}

}  // namespace
