#include "mha_classifier.hpp"

namespace qk {

MhaClassifierImpl::MhaClassifierImpl(int64_t vocab, int64_t dim, int64_t n_heads, int64_t seq_len,
                                     int64_t n_classes)
    : dim_(dim), heads_(n_heads) {
  emb_ = register_module("emb", torch::nn::Embedding(vocab, dim));
  pos_ = register_parameter("pos", torch::randn({1, seq_len, dim}) * 0.02);
  mha_ = register_module("mha", torch::nn::MultiheadAttention(dim, n_heads));
  norm_ = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
  head_ = register_module("head", torch::nn::Linear(dim, n_classes));
}

torch::Tensor MhaClassifierImpl::embed(const torch::Tensor& x) { return emb_(x) + pos_; }

torch::Tensor MhaClassifierImpl::attend(const torch::Tensor& h) {
  const torch::Tensor s = h.transpose(0, 1);
  return std::get<0>(mha_->forward(s, s, s, torch::Tensor(), false)).transpose(0, 1);
}

torch::Tensor MhaClassifierImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = embed(x);
  h = norm_(h + attend(h));
  return head_(h.mean(1));
}

std::vector<std::pair<std::string, torch::Tensor>> MhaClassifierImpl::activations(const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  const torch::Tensor h = embed(x);
  const int64_t B = h.size(0), S = h.size(1), D = h.size(2), hd = D / heads_;
  const std::vector<torch::Tensor> qkv =
      torch::nn::functional::linear(h, mha_->in_proj_weight, mha_->in_proj_bias).chunk(3, -1);
  const torch::Tensor post = norm_(h + attend(h));
  const torch::Tensor q = qkv[0].reshape({B, S, heads_, hd});
  const torch::Tensor k = qkv[1].reshape({B, S, heads_, hd});
  const torch::Tensor v = qkv[2].reshape({B, S, heads_, hd});
  const torch::Tensor p = post.reshape({B, S, heads_, hd});
  std::vector<std::pair<std::string, torch::Tensor>> acts;
  for (int64_t i = 0; i < heads_; ++i) {
    const std::string h_i = "_h" + std::to_string(i);
    acts.emplace_back("act_Q" + h_i, q.select(2, i).reshape({-1, hd}));
    acts.emplace_back("act_K" + h_i, k.select(2, i).reshape({-1, hd}));
    acts.emplace_back("act_V" + h_i, v.select(2, i).reshape({-1, hd}));
    acts.emplace_back("act_post" + h_i, p.select(2, i).reshape({-1, hd}));
  }
  acts.emplace_back("act_emb", h.reshape({-1, D}));
  acts.emplace_back("act_post_full", post.reshape({-1, D}));
  return acts;
}

std::vector<std::pair<std::string, torch::Tensor>> MhaClassifierImpl::weights() {
  const torch::Tensor w = mha_->in_proj_weight.detach();
  const int64_t D = dim_, hd = D / heads_;
  const torch::Tensor q = w.narrow(0, 0, D), k = w.narrow(0, D, D), v = w.narrow(0, 2 * D, D);
  std::vector<std::pair<std::string, torch::Tensor>> out{
      {"emb", emb_->weight.detach()}, {"Q_full", q}, {"K_full", k}, {"V_full", v}};
  for (int64_t i = 0; i < heads_; ++i) {
    const std::string h_i = "_h" + std::to_string(i);
    out.emplace_back("Q" + h_i, q.narrow(0, i * hd, hd));
    out.emplace_back("K" + h_i, k.narrow(0, i * hd, hd));
    out.emplace_back("V" + h_i, v.narrow(0, i * hd, hd));
  }
  out.emplace_back("out_proj", mha_->out_proj->weight.detach());
  out.emplace_back("cls_head", head_->weight.detach());
  return out;
}

}  // namespace qk
