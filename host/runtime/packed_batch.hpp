#pragma once
// Segment bookkeeping of a packed batch: prompt b's tokens are rows [offset[b], offset[b] +
// len[b]) of the concatenated [total, ...] tensors the row-wise ops run on.
#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

namespace qk {

struct PackedSegments {
  std::vector<int64_t> offset, len;  // per prompt
  int64_t total = 0;                 // sum of len
};

// The segments of prompts of lengths `lens`, packed in order.
PackedSegments packed_segments(const std::vector<int64_t>& lens);

// parts[b] concatenated along `dim` (their other sizes equal); parts[0] itself for one part.
at::Tensor pack(const std::vector<at::Tensor>& parts, int64_t dim);

// Prompt b's segment of `packed` along `dim`: a view, no copy.
at::Tensor segment(const at::Tensor& packed, const PackedSegments& s, size_t b, int64_t dim);

// One segment's attention by at::scaled_dot_product_attention: q [q_heads, len, head_dim],
// k and v [kv_heads, len, head_dim] (GQA inside), scores scaled by `scale`, causal or with
// the additive `mask` [len, len] (undefined: none). Returns [q_heads, len, head_dim].
at::Tensor sdpa_segment(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask,
                        bool causal, double scale);

}  // namespace qk
