#pragma once
// The multi-head mode's three K reductions in one pass over memory (CPU only):
// head_gram_cpu + magnitude_entropy_cpu (all heads) + layer_alignment_cpu. Each chunk
// of every head stays in cache while all three use it; results equal the three twins
// up to the order of fp64 additions.
#include <cstdint>

namespace qk {

// x: [layers][heads][seq][dim] f32. gram: [layers][heads][heads]; entropy:
// [layers][heads]; cos: [layers-1] (unused when layers < 2).
void multi_head_pass_cpu(const float* x, int layers, int heads, int64_t seq, int64_t dim, bool seed_f32_mean,
                         double* gram, double* entropy, double* cos);

// cos[l] of multi_head_pass_cpu for two layers held apart: prev and cur [heads][seq][dim]
// f32 (host), the same chunks and fp64 sums, so the same double as the whole cloud gives.
double multi_head_alignment_pair_cpu(const float* prev, const float* cur, int heads, int64_t seq, int64_t dim,
                                     bool seed_f32_mean);

}  // namespace qk
