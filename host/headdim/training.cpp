#include "training.hpp"

namespace qk {

EpochStats evaluate(MhaClassifier& model, const torch::Tensor& x, const torch::Tensor& y) {
  torch::NoGradGuard no_grad;
  model->eval();
  const torch::Tensor logits = model->forward(x);
  EpochStats s;
  s.loss = torch::nn::functional::cross_entropy(logits, y).item<double>();
  s.acc = logits.argmax(-1).eq(y).to(torch::kFloat64).mean().item<double>();
  return s;
}

EpochStats train_classifier(MhaClassifier& model, const torch::Tensor& x, const torch::Tensor& y,
                            int64_t epochs, double lr, const std::function<void(const EpochStats&)>& at_mid) {
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(lr));
  EpochStats s;
  for (int64_t epoch = 1; epoch <= epochs; ++epoch) {
    model->train();
    opt.zero_grad();
    const torch::Tensor loss = torch::nn::functional::cross_entropy(model->forward(x), y);
    loss.backward();
    opt.step();
    s.epoch = epoch;
    s.loss = loss.item<double>();
    if (epoch == epochs / 2 || epoch == epochs) {
      s.acc = evaluate(model, x, y).acc;
      if (epoch == epochs / 2 && at_mid) at_mid(s);
    }
  }
  return s;
}

}  // namespace qk
