// The fused CPU attention kernel against at::matmul / at::softmax: values and
// the gradients of q, k and v, in float and double, for every fused head width
// and field counts around the kernel's 4-row and 16/8-column blocks.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "adaensemble/model/experts/field_attention.h"

namespace adaensemble::model {
namespace {

struct Result {
  torch::Tensor out, dq, dk, dv;
  std::string node;  // name of the autograd node that produced `out`
};

// Runs `attend` on copies of q, k, v and back-propagates a fixed weighting
// through a transposed view, so the incoming gradient is not contiguous.
template <typename Fn>
Result run(Fn attend, const std::array<torch::Tensor, 3>& qkv, const torch::Tensor& weight) {
  std::array<torch::Tensor, 3> leaves;
  for (int i = 0; i < 3; ++i) leaves[i] = qkv[i].detach().clone().requires_grad_(true);
  torch::Tensor out = attend(leaves[0], leaves[1], leaves[2]);
  const std::string node = out.grad_fn() ? out.grad_fn()->name() : "";
  (out.transpose(1, 2) * weight.transpose(1, 2)).sum().backward();
  return {out.detach(), leaves[0].grad(), leaves[1].grad(), leaves[2].grad(), node};
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

// Largest difference relative to the reference's largest magnitude (at least 1).
double relative_diff(const torch::Tensor& got, const torch::Tensor& reference) {
  return max_diff(got, reference) / std::max(1.0, reference.abs().max().item<double>());
}

void expect_matches_reference(torch::ScalarType type, int64_t items, int64_t fields,
                              int64_t head_dim, double tolerance) {
  SCOPED_TRACE("type=" + std::string(c10::toString(type)) + " items=" + std::to_string(items) +
               " fields=" + std::to_string(fields) + " head_dim=" + std::to_string(head_dim));
  torch::manual_seed(3);
  const auto options = torch::TensorOptions().dtype(type);
  // Scores spread over several units, so the softmax is far from uniform.
  const std::array<torch::Tensor, 3> qkv = {torch::randn({items, fields, head_dim}, options),
                                            torch::randn({items, fields, head_dim}, options),
                                            torch::randn({items, fields, head_dim}, options)};
  const torch::Tensor weight = torch::randn({items, fields, head_dim}, options);
  const Result fused = run(detail::field_attention, qkv, weight);
  const Result reference = run(detail::field_attention_reference, qkv, weight);
  EXPECT_NE(fused.node.find("FieldAttentionFunction"), std::string::npos) << fused.node;
  EXPECT_LT(relative_diff(fused.out, reference.out), tolerance);
  EXPECT_LT(relative_diff(fused.dq, reference.dq), tolerance);
  EXPECT_LT(relative_diff(fused.dk, reference.dk), tolerance);
  EXPECT_LT(relative_diff(fused.dv, reference.dv), tolerance);
}

TEST(FieldAttentionTest, MatchesMatmulSoftmaxForEveryFusedWidth) {
  for (const int64_t head_dim : {4, 8, 16, 32}) {
    for (const int64_t fields : {1, 2, 3, 4, 5, 8, 9, 16, 17, 39}) {
      expect_matches_reference(torch::kDouble, 3, fields, head_dim, 1e-10);
      expect_matches_reference(torch::kFloat, 3, fields, head_dim, 2e-5);
    }
  }
}

TEST(FieldAttentionTest, ManyItemsAcrossThreads) {
  // Enough items for several parallel chunks; the result must not depend on
  // how they are split.
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  expect_matches_reference(torch::kFloat, 301, 39, 8, 2e-5);
  at::set_num_threads(3);
  expect_matches_reference(torch::kFloat, 301, 39, 8, 2e-5);
  at::set_num_threads(threads);
}

TEST(FieldAttentionTest, OtherWidthsTakeTheReferencePath) {
  const torch::Tensor q = torch::randn({2, 5, 3}).requires_grad_(true);
  const torch::Tensor out = detail::field_attention(q, q, q);
  EXPECT_EQ(std::string(out.grad_fn()->name()).find("FieldAttentionFunction"), std::string::npos);
  EXPECT_TRUE(torch::allclose(out, detail::field_attention_reference(q, q, q)));
}

TEST(FieldAttentionTest, HandComputedTwoFields) {
  // Head width 4, only the first component non-zero: q = [[1], [0]],
  // k = [[ln 3], [0]]. Row 0 scores (ln 3, 0) -> weights (3/4, 1/4); row 1
  // scores (0, 0) -> (1/2, 1/2). v = [[4], [8]] gives 3 + 2 = 5 and 2 + 4 = 6.
  const auto pad = [](std::vector<float> first) {
    torch::Tensor t = torch::zeros({1, 2, 4});
    t.select(2, 0).copy_(torch::tensor(first).view({1, 2}));
    return t;
  };
  const torch::Tensor out = detail::field_attention(
      pad({1.0f, 0.0f}), pad({static_cast<float>(std::log(3.0)), 0.0f}), pad({4.0f, 8.0f}));
  EXPECT_NEAR(out[0][0][0].item<float>(), 5.0f, 1e-5);
  EXPECT_NEAR(out[0][1][0].item<float>(), 6.0f, 1e-5);
  EXPECT_EQ(out.select(2, 1).abs().max().item<float>(), 0.0f);
}

TEST(FieldAttentionTest, ExtremeScoresStayFinite) {
  // Score gaps of 1e4 underflow every weight but the largest; the gradient of
  // a saturated softmax is zero for q and k.
  torch::Tensor q = torch::zeros({2, 3, 4});
  torch::Tensor k = torch::zeros({2, 3, 4});
  torch::Tensor v = torch::zeros({2, 3, 4});
  q.select(2, 0).fill_(100.0f);
  k.select(2, 0).copy_(torch::tensor({100.0f, 0.0f, -100.0f}).expand({2, 3}));
  v.select(2, 0).copy_(torch::tensor({1.0f, 2.0f, 3.0f}).expand({2, 3}));
  q.requires_grad_(true);
  k.requires_grad_(true);
  const torch::Tensor out = detail::field_attention(q, k, v);
  EXPECT_TRUE(torch::allclose(out.select(2, 0), torch::ones({2, 3})));
  out.sum().backward();
  EXPECT_TRUE(torch::isfinite(q.grad()).all().item<bool>());
  EXPECT_LT(q.grad().abs().max().item<float>(), 1e-6);
  EXPECT_LT(k.grad().abs().max().item<float>(), 1e-6);
}

TEST(FieldAttentionTest, NonContiguousInputs) {
  torch::manual_seed(5);
  const torch::Tensor base = torch::randn({4, 8, 6});
  const torch::Tensor q = base.transpose(1, 2);  // [4, 6, 8], not contiguous
  const torch::Tensor k = base.flip(2).transpose(1, 2);
  const torch::Tensor v = base.transpose(1, 2) * 0.5;
  EXPECT_LT(max_diff(detail::field_attention(q, k, v), detail::field_attention_reference(q, k, v)),
            2e-5);
}

TEST(FieldAttentionTest, EmptyBatch) {
  const torch::Tensor empty = torch::zeros({0, 6, 8});
  EXPECT_EQ(detail::field_attention(empty, empty, empty).sizes(), empty.sizes());
}

TEST(FieldAttentionTest, SecondDerivativesAreRefused) {
  const torch::Tensor q = torch::randn({2, 3, 8}).requires_grad_(true);
  const torch::Tensor out = detail::field_attention(q, q, q).sum();
  try {
    torch::autograd::grad({out}, {q}, {}, /*retain_graph=*/true, /*create_graph=*/true);
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("field attention: only first derivatives are implemented"),
              std::string::npos);
  }
}

TEST(FieldAttentionTest, RejectsMismatchedShapes) {
  const torch::Tensor q = torch::zeros({2, 3, 4});
  try {
    detail::field_attention(q, torch::zeros({2, 3, 5}), q);
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "field attention: q, k and v must all be [N, F, h], got [2, 3, 4], [2, 3, 5] "
                  "and [2, 3, 4]"),
              std::string::npos);
  }
}

}  // namespace
}  // namespace adaensemble::model
