#include "adaensemble/model/losses.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

namespace adaensemble::model {

at::Tensor dispatch_indicator(const at::Tensor& scores, const at::Tensor& top_k_mask,
                              BalanceCount count) {
  if (count == BalanceCount::kTopK) return top_k_mask.to(scores.scalar_type());
  at::Tensor one_hot = at::zeros_like(scores);
  if (scores.size(0) == 0) return one_hot;
  return one_hot.scatter_(1, scores.argmax(1, /*keepdim=*/true), 1.0);
}

at::Tensor load_distribution_loss(const at::Tensor& scores, const at::Tensor& dispatched,
                                  const std::vector<double>& prior, double alpha) {
  const int64_t experts = scores.size(1);
  if (scores.size(0) == 0) return at::zeros({}, scores.options());
  const at::Tensor router_probability = at::softmax(scores, 1).mean(0);
  const at::Tensor fraction = dispatched.to(scores.scalar_type()).mean(0);
  at::Tensor expected;
  if (prior.empty()) {
    expected = at::full({experts}, 1.0 / static_cast<double>(experts), scores.options());
  } else {
    TORCH_CHECK(static_cast<int64_t>(prior.size()) == experts, "load_distribution_loss: prior has ",
                prior.size(), " entries for ", experts, " experts");
    expected = at::tensor(prior, scores.options().dtype(at::kDouble)).to(scores.options());
  }
  return alpha * (fraction * router_probability / expected).sum();
}

at::Tensor router_z_loss(const at::Tensor& scores) {
  if (scores.size(0) == 0) return at::zeros({}, scores.options());
  return at::logsumexp(scores, {1}).pow(2).mean();
}

}  // namespace adaensemble::model
