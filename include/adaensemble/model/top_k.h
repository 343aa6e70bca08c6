// Top-k softmax gating and the annealing schedule of k. Scores [B, N] become
// gates [B, N]: softmax over each row's k largest scores, zeros elsewhere.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace adaensemble::model {

struct TopKGates {
  /// [B, N]: softmax over the kept scores, exactly zero elsewhere.
  at::Tensor gates;
  /// [B, N] bool: the kept (routed) entries.
  at::Tensor mask;
};

/// Keeps the k largest scores of each row and softmaxes over them.
/// Requires: 1 <= k <= scores.size(1). Exact ties are broken by at::topk.
TopKGates top_k_softmax(const at::Tensor& scores, int64_t k);

/// The number of experts k in use at a training step. Linear: k falls from
/// num_experts to final_k in equal steps over anneal_steps steps, reaching
/// final_k at step anneal_steps. Piecewise: k is the k of the last
/// (from_step, k) entry with from_step <= step, num_experts before the first.
/// Neither: k = final_k from the start.
class TopKSchedule {
 public:
  TopKSchedule() = default;
  TopKSchedule(int64_t num_experts, int64_t final_k, int64_t anneal_steps,
               std::vector<std::pair<int64_t, int64_t>> piecewise = {});

  /// Returns k at training step `step` (>= 0).
  int64_t k_at(int64_t step) const;

  int64_t num_experts() const { return num_experts_; }
  int64_t final_k() const { return final_k_; }

 private:
  int64_t num_experts_ = 1;
  int64_t final_k_ = 1;
  int64_t anneal_steps_ = 0;
  std::vector<std::pair<int64_t, int64_t>> piecewise_;
};

}  // namespace adaensemble::model
