#include "adaensemble/train/sparse_optimizer.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <c10/util/flat_hash_map.h>
#include <c10/util/string_utils.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/csrc/autograd/variable.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "adaensemble/util/cpu_clones.h"

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

/// The float constants of one Adam step, rounded as torch's tensor ops round
/// their scalar arguments.
struct AdamScalars {
  float beta1, one_minus_beta1, beta2, one_minus_beta2;
  float sqrt_correction2, eps, neg_step_size, weight_decay;
};

using StateMap =
    ska::flat_hash_map<std::string, std::unique_ptr<torch::optim::OptimizerParamState>>;

/// Returns the state of `p`, created (zero moments, step 0) on its first step.
torch::optim::AdamParamState& adam_state(StateMap& states, const at::Tensor& p, bool amsgrad) {
  auto& slot = states[state_key(p)];
  if (!slot) {
    auto fresh = std::make_unique<torch::optim::AdamParamState>();
    fresh->exp_avg(at::zeros_like(p, at::MemoryFormat::Preserve));
    fresh->exp_avg_sq(at::zeros_like(p, at::MemoryFormat::Preserve));
    if (amsgrad) fresh->max_exp_avg_sq(at::zeros_like(p, at::MemoryFormat::Preserve));
    slot = std::move(fresh);
  }
  return static_cast<torch::optim::AdamParamState&>(*slot);
}

/// Adam's elementwise update of `n` values, the operations of torch's Adam in
/// its order (with d = g + wd p: m = b1 m + (1 - b1) d, v = b2 v + (1 - b2) d^2,
/// p += -step_size m / (sqrt(v) / sqrt(c2) + eps)); the products associate
/// differently from torch's kernels, so results differ from torch's in the
/// last bits. Every operation is one IEEE-rounded float op, none contracted,
/// so each instruction-set clone and any split over threads give the same bits.
template <bool kDecay>
inline __attribute__((always_inline)) void adam_loop(float* __restrict p, const float* __restrict g,
                                                     float* __restrict m, float* __restrict v,
                                                     int64_t n, const AdamScalars& s) {
  for (int64_t i = 0; i < n; ++i) {
    const float grad = kDecay ? g[i] + s.weight_decay * p[i] : g[i];
    const float mi = m[i] * s.beta1 + s.one_minus_beta1 * grad;
    const float vi = v[i] * s.beta2 + s.one_minus_beta2 * (grad * grad);
    m[i] = mi;
    v[i] = vi;
    p[i] += s.neg_step_size * (mi / (std::sqrt(vi) / s.sqrt_correction2 + s.eps));
  }
}

/// adam_loop over one slice, compiled per instruction set.
ADAENSEMBLE_CPU_CLONES void adam_range(float* p, const float* g, float* m, float* v, int64_t n,
                                       const AdamScalars& s) {
  if (s.weight_decay != 0) {
    adam_loop<true>(p, g, m, v, n, s);
  } else {
    adam_loop<false>(p, g, m, v, n, s);
  }
}

/// True when one fused pass over raw floats can do the step of `p`.
bool fusable(const at::Tensor& p, const at::Tensor& grad, const torch::optim::AdamParamState& state,
             bool amsgrad) {
  const auto plain = [&](const at::Tensor& t) {
    return t.device().is_cpu() && t.scalar_type() == at::kFloat && t.is_contiguous() &&
           t.numel() == p.numel();
  };
  return !amsgrad && plain(p) && plain(grad) && plain(state.exp_avg()) && plain(state.exp_avg_sq());
}

/// One dense Adam step of `p`: on contiguous CPU floats without amsgrad, a
/// single threaded pass over its values, its gradient and both moments where
/// torch runs eight tensor ops and allocates two temporaries; elsewhere
/// (other devices or dtypes, amsgrad) torch's sequence of tensor ops.
void adam_dense_step(at::Tensor& p, torch::optim::AdamParamState& state,
                     const torch::optim::AdamOptions& o) {
  state.step(state.step() + 1);
  const auto [beta1, beta2] = o.betas();
  const double correction1 = 1 - std::pow(beta1, static_cast<double>(state.step()));
  const double correction2 = 1 - std::pow(beta2, static_cast<double>(state.step()));
  const double step_size = o.lr() / correction1;
  const at::Tensor& grad = p.grad();
  if (fusable(p, grad, state, o.amsgrad())) {
    AdamScalars s;
    s.beta1 = static_cast<float>(beta1);
    s.one_minus_beta1 = static_cast<float>(1 - beta1);
    s.beta2 = static_cast<float>(beta2);
    s.one_minus_beta2 = static_cast<float>(1 - beta2);
    s.sqrt_correction2 = static_cast<float>(std::sqrt(correction2));
    s.eps = static_cast<float>(o.eps());
    s.neg_step_size = static_cast<float>(-step_size);
    s.weight_decay = static_cast<float>(o.weight_decay());
    float* values = p.data_ptr<float>();
    const float* g = grad.data_ptr<float>();
    float* m = state.exp_avg().data_ptr<float>();
    float* v = state.exp_avg_sq().data_ptr<float>();
    // Large enough a slice that a thread's share outweighs waking it.
    constexpr int64_t kGrain = 1 << 15;
    at::parallel_for(0, p.numel(), kGrain, [&](int64_t begin, int64_t end) {
      adam_range(values + begin, g + begin, m + begin, v + begin, end - begin, s);
    });
    // Writes through raw pointers bypass the version counter that autograd
    // checks before using a saved tensor; count them as the in-place ops would.
    torch::autograd::impl::bump_version(p);
    torch::autograd::impl::bump_version(state.exp_avg());
    torch::autograd::impl::bump_version(state.exp_avg_sq());
    return;
  }
  at::Tensor decayed_grad = o.weight_decay() != 0 ? grad.add(p, o.weight_decay()) : grad;
  state.exp_avg().mul_(beta1).add_(decayed_grad, 1 - beta1);
  state.exp_avg_sq().mul_(beta2).addcmul_(decayed_grad, decayed_grad, 1 - beta2);
  at::Tensor second = state.exp_avg_sq();
  if (o.amsgrad()) {
    at::maximum_out(state.max_exp_avg_sq(), state.max_exp_avg_sq(), second);
    second = state.max_exp_avg_sq();
  }
  const at::Tensor denom = (second.sqrt() / std::sqrt(correction2)).add_(o.eps());
  p.addcdiv_(state.exp_avg(), denom, -step_size);
}

}  // namespace

torch::Tensor RowSparseAdam::step(LossClosure closure) {
  const at::Tensor loss = call_closure(closure);
  step_sparse<torch::optim::AdamOptions>(param_groups_, [&](at::Tensor& p, const Rows& rows,
                                                            const torch::optim::AdamOptions& o) {
    auto& state = adam_state(state_, p, o.amsgrad());
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
  at::NoGradGuard no_grad;
  for (auto& group : param_groups_) {
    const auto& options = static_cast<const torch::optim::AdamOptions&>(group.options());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      adam_dense_step(p, adam_state(state_, p, options.amsgrad()), options);
    }
  }
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
