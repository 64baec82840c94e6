#pragma once
// Columns and deterministic values (a function of the probe index) shared by the
// results-store tests and tests/tools/store_writer_tool.cpp; the Python check
// tests/reference/test_results_store_h5py.py recomputes the same values.
#include <cstdint>
#include <string>
#include <vector>

#include "results_store.hpp"

namespace qk::store_test {

constexpr uint64_t kLayers = 3, kHeads = 2, kDim = 4, kWide = 512;

inline std::vector<ColumnSpec> columns(bool wide = false) {
  std::vector<ColumnSpec> c = {
      {"probe/index", ColType::I64, {}, false, "", "probe number", {}},
      {"probe/id", ColType::Str, {}, false, "", "probe name", {}},
      {"bo/composite", ColType::F64, {}, false, "score", "index / 2 + 0.25", {}},
      {"bo/layer", ColType::F32, {kLayers}, false, "", "index + layer / 8", {"layer"}},
      {"attention/entropy",
       ColType::F64,
       {kLayers, kHeads},
       false,
       "nats",
       "index * 10 + layer * 2 + head",
       {"layer", "head"}},
      {"attention/flag", ColType::U8, {}, false, "", "index % 251", {}},
      {"meta/neg", ColType::I32, {}, false, "", "-index", {}},
      {"kv/k", ColType::F32, {kDim}, true, "", "index * 100 + token * 4 + d", {"d"}},
      {"kv/token", ColType::Str, {}, true, "", "t<index>.<token>", {}},
  };
  if (wide)  // incompressible per-probe rows, to fill a file quickly
    c.push_back({"meta/noise", ColType::F64, {kWide}, false, "", "hash noise", {"k"}});
  return c;
}

inline int64_t tokens(int64_t index) { return index % 5; }

inline double noise(int64_t index, uint64_t k) {
  uint64_t x = static_cast<uint64_t>(index) * 0x9E3779B97F4A7C15ull + k * 0xBF58476D1CE4E5B9ull;
  x ^= x >> 31;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 29;
  return static_cast<double>(x >> 11) / 9007199254740992.0;
}

// The rows of `indices`, in that order.
inline StoreBatch batch(const std::vector<int64_t>& indices, bool wide = false) {
  std::vector<int64_t> index, counts;
  std::vector<std::string> id, tok;
  std::vector<double> comp, ent, noi;
  std::vector<float> layer, k;
  std::vector<uint8_t> flag;
  std::vector<int32_t> neg;
  for (int64_t i : indices) {
    index.push_back(i);
    id.push_back("p" + std::to_string(i) + (i % 7 == 3 ? ",\"q\"" : ""));
    comp.push_back(static_cast<double>(i) / 2 + 0.25);
    for (uint64_t l = 0; l < kLayers; ++l) layer.push_back(static_cast<float>(i) + static_cast<float>(l) / 8);
    for (uint64_t l = 0; l < kLayers; ++l)
      for (uint64_t h = 0; h < kHeads; ++h)
        ent.push_back(static_cast<double>(i * 10 + static_cast<int64_t>(l * 2 + h)));
    flag.push_back(static_cast<uint8_t>(i % 251));
    neg.push_back(static_cast<int32_t>(-i));
    counts.push_back(tokens(i));
    for (int64_t t = 0; t < tokens(i); ++t) {
      for (uint64_t d = 0; d < kDim; ++d)
        k.push_back(static_cast<float>(i * 100 + t * 4 + static_cast<int64_t>(d)));
      tok.push_back("t" + std::to_string(i) + "." + std::to_string(t));
    }
    if (wide)
      for (uint64_t w = 0; w < kWide; ++w) noi.push_back(noise(i, w));
  }
  StoreBatch b;
  b.n = static_cast<int64_t>(indices.size());
  b.cols = {ColumnData::of(index), ColumnData::of(id),  ColumnData::of(comp),
            ColumnData::of(layer), ColumnData::of(ent), ColumnData::of(flag),
            ColumnData::of(neg),   ColumnData::of(k),   ColumnData::of(tok)};
  b.cols[7].counts = counts;
  b.cols[8].counts = counts;
  if (wide) b.cols.push_back(ColumnData::of(noi));
  return b;
}

inline std::vector<int64_t> range(int64_t from, int64_t to) {
  std::vector<int64_t> v;
  for (int64_t i = from; i < to; ++i) v.push_back(i);
  return v;
}

}  // namespace qk::store_test
