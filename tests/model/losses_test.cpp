#include "adaensemble/model/losses.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <cmath>

#include "adaensemble/model/top_k.h"

namespace adaensemble::model {
namespace {

TEST(BalanceLossTest, HandComputedSmallBatch) {
  // Scores chosen so that softmax rows are exact: log-probabilities.
  const at::Tensor probs = at::tensor({0.5f, 0.25f, 0.25f, 0.2f, 0.6f, 0.2f}).view({2, 3});
  const at::Tensor scores = probs.log();
  // argmax: row 0 -> expert 0, row 1 -> expert 1. f = [0.5, 0.5, 0].
  // P = [0.35, 0.425, 0.225]. Prior F = [0.5, 0.25, 0.25], alpha 2:
  // 2 * (0.5 * 0.35 / 0.5 + 0.5 * 0.425 / 0.25 + 0) = 2 * (0.35 + 0.85) = 2.4.
  const at::Tensor dispatched =
      dispatch_indicator(scores, top_k_softmax(scores, 2).mask, BalanceCount::kArgmax);
  EXPECT_TRUE(at::equal(dispatched, at::tensor({1.f, 0.f, 0.f, 0.f, 1.f, 0.f}).view({2, 3})));
  const at::Tensor loss = load_distribution_loss(scores, dispatched, {0.5, 0.25, 0.25}, 2.0);
  EXPECT_NEAR(loss.item<float>(), 2.4f, 1e-5f);
}

TEST(BalanceLossTest, TopKCountingUsesTheMask) {
  const at::Tensor probs = at::tensor({0.5f, 0.25f, 0.25f, 0.2f, 0.6f, 0.2f}).view({2, 3});
  const at::Tensor scores = probs.log();
  const at::Tensor mask = at::tensor({1, 1, 0, 1, 1, 0}).view({2, 3}).to(at::kBool);
  // f = [1, 1, 0]; uniform prior 1/3: 3 * (0.35 + 0.425) = 2.325.
  const at::Tensor loss = load_distribution_loss(
      scores, dispatch_indicator(scores, mask, BalanceCount::kTopK), {}, 1.0);
  EXPECT_NEAR(loss.item<float>(), 2.325f, 1e-5f);
}

TEST(BalanceLossTest, UniformPriorIsTheSwitchLoss) {
  torch::manual_seed(0);
  const at::Tensor scores = at::randn({32, 5});
  const at::Tensor dispatched =
      dispatch_indicator(scores, top_k_softmax(scores, 1).mask, BalanceCount::kArgmax);
  const at::Tensor f = dispatched.mean(0);
  const at::Tensor p = at::softmax(scores, 1).mean(0);
  const double switch_loss = 5.0 * (f * p).sum().item<double>();
  EXPECT_NEAR(load_distribution_loss(scores, dispatched, {}, 1.0).item<double>(), switch_loss,
              1e-6);
  EXPECT_NEAR(
      load_distribution_loss(scores, dispatched, {0.2, 0.2, 0.2, 0.2, 0.2}, 1.0).item<double>(),
      switch_loss, 1e-6);
}

TEST(BalanceLossTest, EmptyBatchIsZeroNotNaN) {
  const at::Tensor scores = at::zeros({0, 4}).requires_grad_();
  const at::Tensor dispatched =
      dispatch_indicator(scores, at::zeros({0, 4}, at::kBool), BalanceCount::kArgmax);
  const at::Tensor loss = load_distribution_loss(scores, dispatched, {}, 1.0);
  EXPECT_EQ(loss.item<float>(), 0.0f);
  EXPECT_EQ(router_z_loss(scores).item<float>(), 0.0f);
}

TEST(RouterZLossTest, HandComputed) {
  // logsumexp([0, 0]) = ln 2; logsumexp([ln 3, 0]) = ln 4 = 2 ln 2.
  // mean((ln 2)^2, (2 ln 2)^2) = 2.5 (ln 2)^2.
  const at::Tensor scores = at::tensor({0.0f, 0.0f, std::log(3.0f), 0.0f}).view({2, 2});
  const double ln2 = std::log(2.0);
  EXPECT_NEAR(router_z_loss(scores).item<double>(), 2.5 * ln2 * ln2, 1e-6);
}

}  // namespace
}  // namespace adaensemble::model
