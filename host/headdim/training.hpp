#pragma once
// The seed's training: full-batch Adam on cross-entropy, one step per epoch.
#include <cstdint>
#include <functional>

#include <torch/torch.h>

#include "mha_classifier.hpp"

namespace qk {

struct EpochStats {
  int64_t epoch = 0;
  double loss = 0;  // of the epoch's step (before its update), as the seed prints
  double acc = 0;   // after the update, in eval mode
};

// Trains for `epochs`; after epoch epochs / 2 (when >= 1) calls at_mid with that epoch's stats.
// Returns the last epoch's stats.
EpochStats train_classifier(MhaClassifier& model, const torch::Tensor& x, const torch::Tensor& y,
                            int64_t epochs, double lr, const std::function<void(const EpochStats&)>& at_mid);

// Loss and accuracy on (x, y) in eval mode without grad.
EpochStats evaluate(MhaClassifier& model, const torch::Tensor& x, const torch::Tensor& y);

}  // namespace qk
