// Auxiliary routing losses: the load-distribution loss of a gate
// (alpha * sum_j f_j P_j / F_j; the Switch Transformer loss under a uniform
// prior F_j = 1/N) and the router z-loss. Both are zero for an empty batch.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

namespace adaensemble::model {

/// How f_j counts the rows dispatched to expert j.
enum class BalanceCount {
  kArgmax,  ///< Paper: the row's highest-scoring expert only.
  kTopK,    ///< Reference code: every expert in the row's top k.
};

/// Returns the [B, N] float indicator of which rows count for which expert:
/// one-hot argmax of `scores`, or `top_k_mask` itself.
at::Tensor dispatch_indicator(const at::Tensor& scores, const at::Tensor& top_k_mask,
                              BalanceCount count);

/// Returns alpha * sum_j f_j * P_j / F_j with P_j = mean over rows of
/// softmax(scores)_j (unmasked), f_j = mean over rows of dispatched[:, j], and
/// F_j = prior[j] (uniform when `prior` is empty). Zero when B = 0.
at::Tensor load_distribution_loss(const at::Tensor& scores, const at::Tensor& dispatched,
                                  const std::vector<double>& prior, double alpha);

/// Returns mean over rows of logsumexp(scores)^2; zero when B = 0.
at::Tensor router_z_loss(const at::Tensor& scores);

}  // namespace adaensemble::model
