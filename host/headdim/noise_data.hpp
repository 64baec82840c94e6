#pragma once
// The seed's data: one random base pattern of seq_len tokens per class; each sample is its
// class's pattern with every token replaced by a random one with probability `noise`;
// samples shuffled. Deterministic for a seed (its own CPU generator).
#include <cstdint>

#include <torch/torch.h>

namespace qk {

struct NoiseData {
  torch::Tensor x;  // [n_classes * per_class, seq_len] int64
  torch::Tensor y;  // [n_classes * per_class] int64
};

NoiseData make_noise_data(int64_t n_classes, int64_t per_class, int64_t seq_len, int64_t vocab, double noise,
                          uint64_t seed);

}  // namespace qk
