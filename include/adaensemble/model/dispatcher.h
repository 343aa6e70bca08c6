// The sparse dispatcher: each expert runs only on the rows routed to it
// (gather those rows, run the expert, scatter-add its weighted output back),
// so compute falls with k. An expert with no rows is skipped entirely.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "adaensemble/model/experts/expert.h"

namespace adaensemble::model {

struct DispatchResult {
  /// [B, F, D]: sum over each row's routed experts of weight * expert output.
  at::Tensor combined;
  /// Rows each expert ran on.
  std::vector<int64_t> expert_rows;
  /// FLOPs of the experts that ran plus the weighting and summing of their outputs.
  double flops = 0.0;
};

/// Runs expert e on the rows where mask[:, e] is true and returns
/// sum_e weights[:, e] * expert_e(x, x0) over those rows (zero elsewhere).
/// x, x0: [B, F, D]; weights: [B, N] float (its gradient flows into the
/// result); mask: [B, N] bool. Requires: experts.size() == N.
DispatchResult dispatch_and_combine(const std::vector<Expert>& experts, const at::Tensor& x,
                                    const at::Tensor& x0, const at::Tensor& weights,
                                    const at::Tensor& mask);

}  // namespace adaensemble::model
