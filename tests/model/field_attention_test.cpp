// The fused CPU attention kernel against at::matmul / at::softmax: values and
// the gradients of q, k and v, in float and double, over odd shapes.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <array>
#include <string>
#include <vector>

#include "adaensemble/model/experts/field_attention.h"

namespace adaensemble::model {
namespace {

struct Result {
  torch::Tensor out, dq, dk, dv;
};

// Runs `attend` on copies of q, k, v and back-propagates a fixed weighting.
template <typename Fn>
Result run(Fn attend, const std::array<torch::Tensor, 3>& qkv, const torch::Tensor& weight) {
  std::array<torch::Tensor, 3> leaves;
  for (int i = 0; i < 3; ++i) leaves[i] = qkv[i].detach().clone().requires_grad_(true);
  torch::Tensor out = attend(leaves[0], leaves[1], leaves[2]);
  (out * weight).sum().backward();
  return {out.detach(), leaves[0].grad(), leaves[1].grad(), leaves[2].grad()};
}

void expect_matches_reference(torch::ScalarType type, int64_t items, int64_t fields,
                              int64_t head_dim, double tolerance) {
  SCOPED_TRACE("type=" + std::string(c10::toString(type)) + " items=" + std::to_string(items) +
               " fields=" + std::to_string(fields) + " head_dim=" + std::to_string(head_dim));
  torch::manual_seed(3);
  const auto options = torch::TensorOptions().dtype(type);
  // Scores spread over several units, so the softmax is far from uniform.
  const std::array<torch::Tensor, 3> qkv = {torch::randn({items, fields, head_dim}, options) * 2,
                                            torch::randn({items, fields, head_dim}, options) * 2,
                                            torch::randn({items, fields, head_dim}, options)};
  const torch::Tensor weight = torch::randn({items, fields, head_dim}, options);
  const Result fused = run(detail::field_attention, qkv, weight);
  const Result reference = run(detail::field_attention_reference, qkv, weight);
  EXPECT_TRUE(torch::allclose(fused.out, reference.out, tolerance, tolerance));
  EXPECT_TRUE(torch::allclose(fused.dq, reference.dq, tolerance, tolerance));
  EXPECT_TRUE(torch::allclose(fused.dk, reference.dk, tolerance, tolerance));
  EXPECT_TRUE(torch::allclose(fused.dv, reference.dv, tolerance, tolerance));
}

TEST(FieldAttentionTest, MatchesMatmulSoftmaxInFloatAndDouble) {
  for (const auto& [items, fields, head_dim] : std::vector<std::array<int64_t, 3>>{
           {1, 1, 1}, {3, 2, 5}, {7, 39, 8}, {130, 13, 3}, {5, 24, 16}}) {
    expect_matches_reference(torch::kDouble, items, fields, head_dim, 1e-10);
    expect_matches_reference(torch::kFloat, items, fields, head_dim, 2e-5);
  }
}

TEST(FieldAttentionTest, HandComputedTwoFields) {
  // q = [[1], [0]], k = [[ln 3], [0]]: row 0 scores (ln 3, 0) -> weights
  // (3/4, 1/4); row 1 scores (0, 0) -> (1/2, 1/2). v = [[4], [8]] gives
  // 3 + 2 = 5 and 2 + 4 = 6.
  const torch::Tensor q = torch::tensor({1.0f, 0.0f}).view({1, 2, 1});
  const torch::Tensor k = torch::tensor({static_cast<float>(std::log(3.0)), 0.0f}).view({1, 2, 1});
  const torch::Tensor v = torch::tensor({4.0f, 8.0f}).view({1, 2, 1});
  const torch::Tensor out = detail::field_attention(q, k, v);
  EXPECT_NEAR(out[0][0][0].item<float>(), 5.0f, 1e-5);
  EXPECT_NEAR(out[0][1][0].item<float>(), 6.0f, 1e-5);
}

TEST(FieldAttentionTest, ExtremeScoresStayFinite) {
  // Score gaps of 1e4 underflow every weight but the largest.
  const torch::Tensor q = torch::full({2, 3, 1}, 100.0f);
  const torch::Tensor k = torch::tensor({100.0f, 0.0f, -100.0f}).view({1, 3, 1}).expand({2, 3, 1});
  const torch::Tensor v = torch::tensor({1.0f, 2.0f, 3.0f}).view({1, 3, 1}).expand({2, 3, 1});
  const torch::Tensor out = detail::field_attention(q, k, v);
  EXPECT_TRUE(torch::allclose(out, torch::ones({2, 3, 1})));
}

TEST(FieldAttentionTest, NonContiguousInputsAndEmptyBatch) {
  torch::manual_seed(5);
  const torch::Tensor base = torch::randn({4, 8, 6});
  const torch::Tensor q = base.transpose(1, 2);  // [4, 6, 8], not contiguous
  const torch::Tensor k = base.flip(2).transpose(1, 2);
  const torch::Tensor v = base.transpose(1, 2) * 0.5;
  EXPECT_TRUE(torch::allclose(detail::field_attention(q, k, v),
                              detail::field_attention_reference(q, k, v), 2e-5, 2e-5));
  const torch::Tensor empty = torch::zeros({0, 6, 8});
  EXPECT_EQ(detail::field_attention(empty, empty, empty).sizes(), empty.sizes());
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
