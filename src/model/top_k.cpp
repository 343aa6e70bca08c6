#include "adaensemble/model/top_k.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

namespace adaensemble::model {

TopKGates top_k_softmax(const at::Tensor& scores, int64_t k) {
  TORCH_CHECK(scores.dim() == 2, "top_k_softmax: expected scores [B, N], got ", scores.sizes());
  TORCH_CHECK(k >= 1 && k <= scores.size(1), "top_k_softmax: k = ", k, " must be in [1, ",
              scores.size(1), "]");
  const auto [values, indices] = at::topk(scores, k, /*dim=*/1, /*largest=*/true, /*sorted=*/true);
  TopKGates out;
  out.gates = at::zeros_like(scores).scatter(1, indices, at::softmax(values, 1));
  out.mask =
      at::zeros(scores.sizes(), scores.options().dtype(at::kBool)).scatter_(1, indices, true);
  return out;
}

TopKSchedule::TopKSchedule(int64_t num_experts, int64_t final_k, int64_t anneal_steps,
                           std::vector<std::pair<int64_t, int64_t>> piecewise)
    : num_experts_(num_experts),
      final_k_(final_k),
      anneal_steps_(anneal_steps),
      piecewise_(std::move(piecewise)) {
  TORCH_CHECK(final_k_ >= 1 && final_k_ <= num_experts_, "TopKSchedule: final_k = ", final_k_,
              " must be in [1, ", num_experts_, "]");
  TORCH_CHECK(anneal_steps_ >= 0, "TopKSchedule: anneal_steps must be >= 0");
}

int64_t TopKSchedule::k_at(int64_t step) const {
  if (!piecewise_.empty()) {
    int64_t k = num_experts_;
    for (const auto& [from, entry_k] : piecewise_) {
      if (step >= from) k = entry_k;
    }
    return std::min(k, num_experts_);
  }
  if (anneal_steps_ == 0 || step >= anneal_steps_) return final_k_;
  const int64_t drop = (num_experts_ - final_k_) * std::max<int64_t>(step, 0) / anneal_steps_;
  return num_experts_ - drop;
}

}  // namespace adaensemble::model
