#include "noise_data.hpp"

#include <ATen/CPUGeneratorImpl.h>

namespace qk {

NoiseData make_noise_data(int64_t n_classes, int64_t per_class, int64_t seq_len, int64_t vocab, double noise,
                          uint64_t seed) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  const torch::Tensor base = torch::randint(0, vocab, {n_classes, seq_len}, gen, i64);
  const int64_t n = n_classes * per_class;
  torch::Tensor x = base.repeat_interleave(per_class, 0);
  const torch::Tensor mask = torch::rand({n, seq_len}, gen) < noise;
  const torch::Tensor random = torch::randint(0, vocab, {n, seq_len}, gen, i64);
  x = torch::where(mask, random, x);
  const torch::Tensor y = torch::arange(n_classes, i64).repeat_interleave(per_class);
  const torch::Tensor perm = torch::randperm(n, gen, i64);
  return {x.index_select(0, perm).contiguous(), y.index_select(0, perm).contiguous()};
}

}  // namespace qk
