#pragma once
// The reductions the Bone-Orientation metrics need from one vector cloud (K or V),
// computed by the CPU twins or by the CUDA kernels (same plan, same outputs).
#include <cstdint>
#include <vector>

namespace qk {

// Shape of a [layers][heads][seq][head_dim] f32 cloud.
struct CloudDims {
  int layers = 0;
  int heads = 0;
  int64_t seq = 0;
  int64_t head_dim = 0;
  int64_t head_elems() const { return seq * head_dim; }
};

// Which reductions to run. Position-wise reductions and entropy run on the
// first `*_heads` heads of every layer (1 reproduces the seed's head-0 quirk).
struct StatsPlan {
  bool head_gram = false;
  int position_heads = 0;        // 0: no position-wise analysis
  double below_threshold = 0.3;  // count position pairs with cos below this
  int entropy_heads = 0;
  bool layer_alignment = false;
  bool seed_f32_mean = false;  // the seed's f32 head-mean for layer alignment
};

struct CloudStats {
  std::vector<double> head_gram;    // [layers][heads][heads]
  std::vector<double> pos_sum_cos;  // [layers][position_heads]
  std::vector<uint64_t> pos_below;  // [layers][position_heads]
  std::vector<double> entropy;      // [layers][entropy_heads]
  std::vector<double> layer_align;  // [layers-1]
};

// x: host [layers][heads][seq][head_dim] f32.
CloudStats compute_cloud_stats_cpu(const float* x, const CloudDims& dims, const StatsPlan& plan);
// k, v: host clouds of equal dims; [layers][heads] linear CKA.
std::vector<double> compute_kv_cka_cpu(const float* k, const float* v, const CloudDims& dims);

}  // namespace qk
