#pragma once
// The seed's MHAClassifier: embedding + learned positions + one multi-head self-attention
// + residual LayerNorm + mean pooling over the sequence + a linear classifier.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace qk {

class MhaClassifierImpl : public torch::nn::Module {
 public:
  MhaClassifierImpl(int64_t vocab, int64_t dim, int64_t n_heads, int64_t seq_len, int64_t n_classes);

  // x [B, S] token ids -> logits [B, n_classes].
  torch::Tensor forward(const torch::Tensor& x);

  // The seed's forward_activations, no grad: act_Q_h{i}, act_K_h{i}, act_V_h{i}, act_post_h{i}
  // ([B*S, head_dim] each, heads in order), then act_emb and act_post_full ([B*S, dim]).
  std::vector<std::pair<std::string, torch::Tensor>> activations(const torch::Tensor& x);

  // The seed's weight matrices, in its order: emb, Q_full, K_full, V_full, then per head
  // Q_h{i}, K_h{i}, V_h{i} ([head_dim, dim]), out_proj, cls_head.
  std::vector<std::pair<std::string, torch::Tensor>> weights();

  int64_t dim() const { return dim_; }
  int64_t heads() const { return heads_; }

 private:
  // [B, S, D] (batch first) through the attention, which takes [S, B, D].
  torch::Tensor attend(const torch::Tensor& h);
  torch::Tensor embed(const torch::Tensor& x);

  int64_t dim_, heads_;
  torch::nn::Embedding emb_{nullptr};
  torch::Tensor pos_;
  torch::nn::MultiheadAttention mha_{nullptr};
  torch::nn::LayerNorm norm_{nullptr};
  torch::nn::Linear head_{nullptr};
};
TORCH_MODULE(MhaClassifier);

}  // namespace qk
