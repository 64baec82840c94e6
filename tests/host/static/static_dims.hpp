#pragma once
// StaticDims from its numbers in one call, for the host/static tests (CPU and GPU twins).
#include <cstdint>

#include "static_types.hpp"

namespace qk {

inline StaticDims static_dims(int64_t layers, int64_t hq, int64_t hkv, int64_t d, int64_t hidden,
                              int64_t topk = 0) {
  StaticDims s;
  s.layers = layers;
  s.q_heads = hq;
  s.kv_heads = hkv;
  s.head_dim = d;
  s.hidden = hidden;
  s.topk = topk;
  return s;
}

}  // namespace qk
