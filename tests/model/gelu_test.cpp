// The attention expert's GELU against its definition 0.5 x (1 + erf(x / sqrt 2))
// computed in double: values and first derivatives, with contiguous and
// permuted incoming gradients, and second derivatives through it.
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

TEST(GeluTest, FloatMatchesTheDefinition) {
  const torch::Tensor x = torch::linspace(-12.0, 12.0, 20001);
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
}

TEST(GeluTest, MatchesHandValues) {
  const torch::Tensor y = detail::gelu(torch::tensor({0.0f, 1.0f, -1.0f}));
  EXPECT_EQ(y[0].item<float>(), 0.0f);
  EXPECT_NEAR(y[1].item<float>(), 0.8413447f, 2e-7);   // Phi(1)
  EXPECT_NEAR(y[2].item<float>(), -0.1586553f, 2e-7);  // -Phi(-1)
}

TEST(GeluTest, PermutedIncomingGradientIsReadAsItsValues) {
  // A permuted gradient, as the attention expert's views hand back one.
  for (const auto type : {torch::kFloat, torch::kDouble}) {
    SCOPED_TRACE(c10::toString(type));
    torch::manual_seed(4);
    const auto options = torch::TensorOptions().dtype(type);
    const torch::Tensor x = torch::randn({5, 7, 3}, options).requires_grad_(true);
    const torch::Tensor weight = torch::randn({3, 7, 5}, options);
    (detail::gelu(x).permute({2, 1, 0}) * weight).sum().backward();
    const torch::Tensor expected = exact_derivative(x.detach().to(torch::kDouble)) *
                                   weight.permute({2, 1, 0}).to(torch::kDouble);
    EXPECT_LT((x.grad().to(torch::kDouble) - expected).abs().max().item<double>(), 1e-5);
  }
}

TEST(GeluTest, SecondDerivativeMatchesTheDefinition) {
  // d2/dx2 x Phi(x) = phi(x) (2 - x^2).
  const torch::Tensor x = torch::linspace(-4.0, 4.0, 81, torch::kDouble).requires_grad_(true);
  const torch::Tensor slope =
      torch::autograd::grad({detail::gelu(x).sum()}, {x}, {}, /*retain_graph=*/true,
                            /*create_graph=*/true)[0];
  const torch::Tensor curvature = torch::autograd::grad({slope.sum()}, {x})[0];
  const torch::Tensor xd = x.detach();
  const torch::Tensor expected = torch::exp(-0.5 * xd * xd) / std::sqrt(2 * M_PI) * (2 - xd * xd);
  EXPECT_LT((curvature - expected).abs().max().item<double>(), 1e-12);
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
