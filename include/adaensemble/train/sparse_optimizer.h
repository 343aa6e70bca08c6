// Adam, Adagrad and SGD that also accept row-sparse gradients, as the
// embedding tables produce with `model.embedding.sparse_gradients`. A sparse
// gradient updates only the rows it holds ("lazy" updates: the optimizer
// state and the weight decay of every other row are left alone), so a step
// costs in proportion to the rows a batch touches, not to the table size.
// Dense gradients get the update of the torch optimizer each class extends
// (Adam's in one fused pass on CPU floats, equal to float rounding), and the
// state is that optimizer's, so checkpoints interchange. step() consumes
// sparse gradients (undefined after it returns) and uses the intra-op
// threads; one optimizer is not to be stepped from two threads at once.
#pragma once

#include <torch/optim/adagrad.h>
#include <torch/optim/adam.h>
#include <torch/optim/sgd.h>

namespace adaensemble::train {

/// Adam; a sparse gradient moves the first and second moments of its rows
/// only, with the bias correction of the table's step count (torch's
/// SparseAdam rule, plus weight decay and amsgrad on those rows).
class RowSparseAdam : public torch::optim::Adam {
 public:
  using torch::optim::Adam::Adam;
  torch::Tensor step(LossClosure closure = nullptr) override;
};

/// Adagrad; a sparse gradient adds to the squared-gradient sums of its rows only.
class RowSparseAdagrad : public torch::optim::Adagrad {
 public:
  using torch::optim::Adagrad::Adagrad;
  torch::Tensor step(LossClosure closure = nullptr) override;
};

/// SGD; with momentum, a sparse gradient decays and feeds the momentum of its rows only.
class RowSparseSgd : public torch::optim::SGD {
 public:
  using torch::optim::SGD::SGD;
  torch::Tensor step(LossClosure closure = nullptr) override;
};

}  // namespace adaensemble::train
