#include "packed_batch.hpp"

#include <ATen/ATen.h>

namespace qk {

PackedSegments packed_segments(const std::vector<int64_t>& lens) {
  PackedSegments s;
  for (int64_t n : lens) {
    s.offset.push_back(s.total);
    s.len.push_back(n);
    s.total += n;
  }
  return s;
}

at::Tensor pack(const std::vector<at::Tensor>& parts, int64_t dim) {
  return parts.size() == 1 ? parts[0] : at::cat(parts, dim);
}

at::Tensor segment(const at::Tensor& packed, const PackedSegments& s, size_t b, int64_t dim) {
  return packed.narrow(dim, s.offset[b], s.len[b]);
}

at::Tensor sdpa_segment(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask,
                        bool causal, double scale) {
  const bool gqa = q.size(0) != k.size(0);
  std::optional<at::Tensor> m;
  if (mask.defined() && !causal) m = mask;
  return at::scaled_dot_product_attention(q.unsqueeze(0), k.unsqueeze(0), v.unsqueeze(0), m, 0.0, causal,
                                          scale, gqa)
      .squeeze(0);
}

}  // namespace qk
