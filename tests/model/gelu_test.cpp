// The fused float GELU against the double-precision definition
// 0.5 x (1 + erf(x / sqrt 2)): values and first derivatives over the range
// where both tails matter, and the fallback for other types.
#include "adaensemble/model/experts/gelu.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

namespace adaensemble::model {
namespace {

// x Phi(x) and Phi(x) + x phi(x), from the definitions.
torch::Tensor exact_gelu(const torch::Tensor& x) {
  return 0.5 * x * (1.0 + torch::erf(x / M_SQRT2));
}
torch::Tensor exact_derivative(const torch::Tensor& x) {
  return 0.5 * (1.0 + torch::erf(x / M_SQRT2)) + x * torch::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
}

TEST(GeluTest, FloatMatchesTheErfDefinition) {
  // Enough elements for several parallel chunks, from -12 to 12.
  const torch::Tensor x = torch::linspace(-12.0, 12.0, 200001);
  const torch::Tensor leaf = x.clone().requires_grad_(true);
  const torch::Tensor y = detail::gelu(leaf);
  y.sum().backward();
  const torch::Tensor exact = x.to(torch::kDouble);
  const torch::Tensor value_error = (y.detach().to(torch::kDouble) - exact_gelu(exact)).abs();
  const torch::Tensor slope_error =
      (leaf.grad().to(torch::kDouble) - exact_derivative(exact)).abs();
  // About a float rounding of values up to 12 (ulp 9.5e-7 there).
  EXPECT_LT(value_error.max().item<double>(), 1e-6);
  EXPECT_LT(slope_error.max().item<double>(), 3e-7);
  // The left tail keeps its relative precision: gelu(-5) = -1.4333e-6.
  const double at_minus_five = detail::gelu(torch::full({1}, -5.0f)).item<float>();
  const double expected = exact_gelu(torch::full({1}, -5.0, torch::kDouble)).item<double>();
  EXPECT_NEAR(at_minus_five / expected, 1.0, 1e-5);
}

TEST(GeluTest, HandValues) {
  const torch::Tensor y = detail::gelu(torch::tensor({0.0f, 1.0f, -1.0f}));
  EXPECT_EQ(y[0].item<float>(), 0.0f);
  EXPECT_NEAR(y[1].item<float>(), 0.8413447f, 2e-7);   // Phi(1)
  EXPECT_NEAR(y[2].item<float>(), -0.1586553f, 2e-7);  // -Phi(-1)
}

TEST(GeluTest, PermutedIncomingGradient) {
  // A permuted gradient (as the attention expert's views hand back) is read
  // as the values it holds.
  torch::manual_seed(4);
  const torch::Tensor x = torch::randn({5, 7, 3}).requires_grad_(true);
  const torch::Tensor weight = torch::randn({3, 7, 5});
  (detail::gelu(x).permute({2, 1, 0}) * weight).sum().backward();
  const torch::Tensor expected = exact_derivative(x.detach().to(torch::kDouble)) *
                                 weight.permute({2, 1, 0}).to(torch::kDouble);
  EXPECT_LT((x.grad().to(torch::kDouble) - expected).abs().max().item<double>(), 1e-5);
}

TEST(GeluTest, DoubleTakesATen) {
  const torch::Tensor x = torch::linspace(-4.0, 4.0, 101, torch::kDouble).requires_grad_(true);
  const torch::Tensor y = detail::gelu(x);
  y.sum().backward();
  EXPECT_LT((y.detach() - exact_gelu(x.detach())).abs().max().item<double>(), 1e-14);
  EXPECT_LT((x.grad() - exact_derivative(x.detach())).abs().max().item<double>(), 1e-14);
}

TEST(GeluTest, EmptyInput) {
  const torch::Tensor x = torch::zeros({0, 4}).requires_grad_(true);
  const torch::Tensor y = detail::gelu(x);
  EXPECT_EQ(y.sizes(), x.sizes());
  y.sum().backward();
  EXPECT_EQ(x.grad().sizes(), x.sizes());
}

}  // namespace
}  // namespace adaensemble::model
