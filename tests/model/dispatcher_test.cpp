#include "adaensemble/model/dispatcher.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include "adaensemble/model/top_k.h"
#include "model_test_util.h"

namespace adaensemble::model {
namespace {

using testing::TestExpertImpl;

std::vector<Expert> make_experts(const ExpertShape& shape, int n) {
  std::vector<Expert> experts;
  for (int i = 0; i < n; ++i) experts.push_back(std::make_shared<TestExpertImpl>(shape));
  return experts;
}

// Every expert on every row, masked and weighted: what the sparse path must equal.
at::Tensor dense_reference(const std::vector<Expert>& experts, const at::Tensor& x,
                           const at::Tensor& x0, const at::Tensor& weights) {
  at::Tensor out = at::zeros_like(x);
  for (std::size_t e = 0; e < experts.size(); ++e) {
    out = out + experts[e]->forward(x, x0) * weights.select(1, e).view({-1, 1, 1});
  }
  return out;
}

TEST(DispatcherTest, SparseEqualsDenseReference) {
  torch::manual_seed(0);
  const ExpertShape shape{3, 4};
  const auto experts = make_experts(shape, 4);
  const at::Tensor x = at::randn({10, 3, 4});
  const at::Tensor x0 = at::randn({10, 3, 4});
  for (int64_t k = 1; k <= 4; ++k) {
    SCOPED_TRACE(k);
    const TopKGates routed = top_k_softmax(at::randn({10, 4}), k);
    const DispatchResult result = dispatch_and_combine(experts, x, x0, routed.gates, routed.mask);
    EXPECT_TRUE(
        at::allclose(result.combined, dense_reference(experts, x, x0, routed.gates), 1e-6, 1e-6));
    int64_t routed_rows = 0;
    for (int64_t rows : result.expert_rows) routed_rows += rows;
    EXPECT_EQ(routed_rows, 10 * k);
  }
}

TEST(DispatcherTest, GradientsFlowToWeightsAndExperts) {
  torch::manual_seed(1);
  const ExpertShape shape{2, 3};
  const auto experts = make_experts(shape, 3);
  const at::Tensor scores = at::randn({8, 3}).requires_grad_();
  const TopKGates routed = top_k_softmax(scores, 2);
  const at::Tensor x = at::randn({8, 2, 3});
  dispatch_and_combine(experts, x, x, routed.gates, routed.mask).combined.pow(2).sum().backward();
  ASSERT_TRUE(scores.grad().defined());
  EXPECT_GT(scores.grad().abs().sum().item<float>(), 0.0f);
  for (const auto& expert : experts) {
    EXPECT_GT(expert->parameters()[0].grad().abs().sum().item<float>(), 0.0f);
  }
}

TEST(DispatcherTest, ExpertWithNoRowsIsSkipped) {
  torch::manual_seed(2);
  const ExpertShape shape{2, 2};
  const auto experts = make_experts(shape, 3);
  const at::Tensor x = at::randn({4, 2, 2});
  // Expert 1 gets no row.
  const at::Tensor mask =
      at::tensor({1, 0, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0}).view({4, 3}).to(at::kBool);
  const at::Tensor weights = mask.to(at::kFloat) * 0.5;
  const DispatchResult result = dispatch_and_combine(experts, x, x, weights, mask);
  EXPECT_EQ(result.expert_rows, (std::vector<int64_t>{3, 0, 2}));
  EXPECT_EQ(std::static_pointer_cast<TestExpertImpl>(experts[1])->calls, 0);
  EXPECT_EQ(std::static_pointer_cast<TestExpertImpl>(experts[0])->calls, 1);
  EXPECT_TRUE(at::allclose(result.combined, dense_reference(experts, x, x, weights), 1e-6, 1e-6));
}

TEST(DispatcherTest, EmptyBatch) {
  const ExpertShape shape{2, 2};
  const auto experts = make_experts(shape, 2);
  const at::Tensor x = at::zeros({0, 2, 2});
  const DispatchResult result =
      dispatch_and_combine(experts, x, x, at::zeros({0, 2}), at::zeros({0, 2}, at::kBool));
  EXPECT_EQ(result.combined.sizes(), x.sizes());
  EXPECT_EQ(result.flops, 0.0);
}

TEST(DispatcherTest, FewerExpertsCostFewerFlops) {
  torch::manual_seed(3);
  const ExpertShape shape{4, 4};
  const auto experts = make_experts(shape, 5);
  const at::Tensor x = at::randn({64, 4, 4});
  const at::Tensor scores = at::randn({64, 5});
  const TopKGates one = top_k_softmax(scores, 1);
  const TopKGates all = top_k_softmax(scores, 5);
  const double flops_one = dispatch_and_combine(experts, x, x, one.gates, one.mask).flops;
  const double flops_all = dispatch_and_combine(experts, x, x, all.gates, all.mask).flops;
  // Each routed row costs the expert's flops plus a multiply and an add per element.
  const double per_row = static_cast<double>(experts[0]->flops_per_row()) + 2 * 16;
  EXPECT_DOUBLE_EQ(flops_one, 64 * per_row);
  EXPECT_DOUBLE_EQ(flops_all, 5 * 64 * per_row);
}

}  // namespace
}  // namespace adaensemble::model
