#include "adaensemble/train/sparse_optimizer.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <c10/util/string_utils.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <cmath>
#include <string>
#include <vector>

namespace adaensemble::train {
namespace {

/// A row-sparse gradient: distinct row ids [n] and their gradient rows [n, ...].
struct Rows {
  at::Tensor index;
  at::Tensor grad;
};

std::string state_key(const at::Tensor& p) { return c10::guts::to_string(p.unsafeGetTensorImpl()); }

/// Takes the sparse gradient off `p` (leaving it undefined) as distinct rows.
Rows take_rows(at::Tensor& p) {
  const at::Tensor grad = p.grad().coalesce();
  TORCH_CHECK(grad.sparse_dim() == 1,
              "row-sparse optimizer: a sparse gradient must index rows only (sparse_dim 1), got "
              "sparse_dim ",
              grad.sparse_dim(), " for a parameter of shape ", p.sizes());
  p.mutable_grad() = at::Tensor();
  return {grad._indices().select(0, 0), grad._values()};
}

/// Returns the rows' gradient plus L2 decay of those rows of `p` only.
at::Tensor decayed(const at::Tensor& p, const Rows& rows, double weight_decay) {
  if (weight_decay == 0) return rows.grad;
  return rows.grad.add(p.index_select(0, rows.index), weight_decay);
}

/// Calls `closure` (if any) with gradients enabled, as torch's optimizers do.
at::Tensor call_closure(const torch::optim::Optimizer::LossClosure& closure) {
  if (!closure) return {};
  at::AutoGradMode enable_grad(true);
  return closure();
}

/// Runs `update(p, rows, options)` for every parameter holding a sparse
/// gradient; they are then undefined, so the dense step skips them.
template <typename Options, typename Update>
void step_sparse(std::vector<torch::optim::OptimizerParamGroup>& groups, const Update& update) {
  at::NoGradGuard no_grad;
  for (auto& group : groups) {
    auto& options = static_cast<Options&>(group.options());
    for (auto& p : group.params()) {
      if (!p.grad().defined() || !p.grad().is_sparse()) continue;
      const Rows rows = take_rows(p);
      update(p, rows, options);
    }
  }
}

}  // namespace

torch::Tensor RowSparseAdam::step(LossClosure closure) {
  const at::Tensor loss = call_closure(closure);
  step_sparse<torch::optim::AdamOptions>(param_groups_, [&](at::Tensor& p, const Rows& rows,
                                                            const torch::optim::AdamOptions& o) {
    auto& slot = state_[state_key(p)];
    if (!slot) {
      auto fresh = std::make_unique<torch::optim::AdamParamState>();
      fresh->exp_avg(at::zeros_like(p, at::MemoryFormat::Preserve));
      fresh->exp_avg_sq(at::zeros_like(p, at::MemoryFormat::Preserve));
      if (o.amsgrad()) fresh->max_exp_avg_sq(at::zeros_like(p, at::MemoryFormat::Preserve));
      slot = std::move(fresh);
    }
    auto& state = static_cast<torch::optim::AdamParamState&>(*slot);
    state.step(state.step() + 1);
    const auto [beta1, beta2] = o.betas();
    const at::Tensor grad = decayed(p, rows, o.weight_decay());

    const at::Tensor exp_avg =
        state.exp_avg().index_select(0, rows.index).mul_(beta1).add_(grad, 1 - beta1);
    at::Tensor exp_avg_sq =
        state.exp_avg_sq().index_select(0, rows.index).mul_(beta2).addcmul_(grad, grad, 1 - beta2);
    state.exp_avg().index_copy_(0, rows.index, exp_avg);
    state.exp_avg_sq().index_copy_(0, rows.index, exp_avg_sq);
    if (o.amsgrad()) {
      exp_avg_sq = at::maximum(state.max_exp_avg_sq().index_select(0, rows.index), exp_avg_sq);
      state.max_exp_avg_sq().index_copy_(0, rows.index, exp_avg_sq);
    }
    const double correction1 = 1 - std::pow(beta1, static_cast<double>(state.step()));
    const double correction2 = 1 - std::pow(beta2, static_cast<double>(state.step()));
    const at::Tensor denom = (exp_avg_sq.sqrt() / std::sqrt(correction2)).add_(o.eps());
    p.index_add_(0, rows.index, exp_avg.div(denom).mul_(-o.lr() / correction1));
  });
  torch::optim::Adam::step();
  return loss;
}

torch::Tensor RowSparseAdagrad::step(LossClosure closure) {
  const at::Tensor loss = call_closure(closure);
  step_sparse<torch::optim::AdagradOptions>(
      param_groups_, [&](at::Tensor& p, const Rows& rows, const torch::optim::AdagradOptions& o) {
        // Adagrad creates every parameter's state when it is constructed.
        auto& state = static_cast<torch::optim::AdagradParamState&>(*state_.at(state_key(p)));
        state.step(state.step() + 1);
        const at::Tensor grad = decayed(p, rows, o.weight_decay());
        const double rate = o.lr() / (1 + static_cast<double>(state.step() - 1) * o.lr_decay());
        const at::Tensor sum = state.sum().index_select(0, rows.index).addcmul_(grad, grad, 1.0);
        state.sum().index_copy_(0, rows.index, sum);
        p.index_add_(0, rows.index, grad.div(sum.sqrt().add_(o.eps())).mul_(-rate));
      });
  torch::optim::Adagrad::step();
  return loss;
}

torch::Tensor RowSparseSgd::step(LossClosure closure) {
  const at::Tensor loss = call_closure(closure);
  step_sparse<torch::optim::SGDOptions>(
      param_groups_, [&](at::Tensor& p, const Rows& rows, const torch::optim::SGDOptions& o) {
        at::Tensor update = decayed(p, rows, o.weight_decay());
        if (o.momentum() != 0) {
          auto& slot = state_[state_key(p)];
          at::Tensor buffer;
          if (!slot) {
            // As SGD's first step: the buffer starts as the first gradient.
            auto fresh = std::make_unique<torch::optim::SGDParamState>();
            fresh->momentum_buffer(at::zeros_like(p, at::MemoryFormat::Preserve));
            slot = std::move(fresh);
            buffer = update;
          } else {
            buffer = static_cast<torch::optim::SGDParamState&>(*slot)
                         .momentum_buffer()
                         .index_select(0, rows.index)
                         .mul_(o.momentum())
                         .add_(update, 1 - o.dampening());
          }
          static_cast<torch::optim::SGDParamState&>(*slot).momentum_buffer().index_copy_(
              0, rows.index, buffer);
          update = o.nesterov() ? update.add(buffer, o.momentum()) : buffer;
        }
        p.index_add_(0, rows.index, update.mul(-o.lr()));
      });
  torch::optim::SGD::step();
  return loss;
}

}  // namespace adaensemble::train
