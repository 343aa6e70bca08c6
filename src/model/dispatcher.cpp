#include "adaensemble/model/dispatcher.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

namespace adaensemble::model {

DispatchResult dispatch_and_combine(const std::vector<Expert>& experts, const at::Tensor& x,
                                    const at::Tensor& x0, const at::Tensor& weights,
                                    const at::Tensor& mask) {
  const int64_t num_experts = static_cast<int64_t>(experts.size());
  TORCH_CHECK(
      weights.dim() == 2 && weights.size(1) == num_experts && mask.sizes() == weights.sizes(),
      "dispatch_and_combine: weights and mask must be [B, ", num_experts, "]");
  TORCH_CHECK(x.size(0) == weights.size(0) && x0.size(0) == x.size(0),
              "dispatch_and_combine: x, x0 and weights disagree on the batch size");
  DispatchResult result;
  result.expert_rows.assign(experts.size(), 0);

  // One pass over the mask, expert-major: (expert, row) pairs grouped by
  // expert. Only the per-expert counts cross to the host.
  const at::Tensor pairs = mask.t().nonzero();
  const at::Tensor counts = mask.sum(0).to(at::kCPU);
  const auto* count = counts.data_ptr<int64_t>();
  const int64_t row_size = x.numel() / std::max<int64_t>(x.size(0), 1);

  const int64_t batch = x.size(0);
  at::Tensor dense_sum;
  std::vector<at::Tensor> rows_list;
  std::vector<at::Tensor> outputs;
  int64_t offset = 0;
  for (int64_t e = 0; e < num_experts; ++e) {
    const int64_t n = count[e];
    result.expert_rows[e] = n;
    if (n == 0) continue;
    const at::Tensor rows = pairs.narrow(0, offset, n).select(1, 1);
    offset += n;
    if (n == batch) {
      // Every row routed here (dense k = N): no gather or scatter needed.
      const at::Tensor out = experts[e]->forward(x, x0);
      const at::Tensor w = weights.select(1, e).reshape({n, 1, 1}).to(out.scalar_type());
      dense_sum = dense_sum.defined() ? dense_sum + out * w : out * w;
    } else {
      const at::Tensor out = experts[e]->forward(x.index_select(0, rows), x0.index_select(0, rows));
      const at::Tensor w = weights.select(1, e).index_select(0, rows);
      outputs.push_back(out * w.reshape({n, 1, 1}).to(out.scalar_type()));
      rows_list.push_back(rows);
    }
    // Weighting and summing: one multiply and one add per element.
    result.flops += static_cast<double>(n) *
                    (static_cast<double>(experts[e]->flops_per_row()) + 2.0 * row_size);
  }
  result.combined = dense_sum.defined() ? dense_sum : at::zeros_like(x);
  if (!outputs.empty()) {
    result.combined = result.combined.index_add(0, at::cat(rows_list), at::cat(outputs));
  }
  return result;
}

}  // namespace adaensemble::model
