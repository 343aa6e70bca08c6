// The fused CPU attention kernel against at::matmul / at::softmax: values and
// the gradient of the packed [N, F, 3, H, h] queries, keys and values, in
// float and double, for every fused head width, one and several heads, and
// field counts around the kernel's 4-row and 16/8-column blocks.
#include "adaensemble/model/experts/field_attention.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace adaensemble::model {
namespace {

struct Result {
  torch::Tensor out, grad;
  std::string node;  // name of the autograd node that produced `out`
};

// Runs `attend` on a copy of qkv and back-propagates a fixed weighting through
// a transposed view, so the incoming gradient is not contiguous.
template <typename Fn>
Result run(Fn attend, const torch::Tensor& qkv, double scale, const torch::Tensor& weight) {
  const torch::Tensor leaf = qkv.detach().clone().requires_grad_(true);
  torch::Tensor out = attend(leaf, scale);
  const std::string node = out.grad_fn() ? out.grad_fn()->name() : "";
  (out.transpose(1, 2) * weight.transpose(1, 2)).sum().backward();
  return {out.detach(), leaf.grad(), node};
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

// Largest difference relative to the reference's largest magnitude (at least 1).
double relative_diff(const torch::Tensor& got, const torch::Tensor& reference) {
  return max_diff(got, reference) / std::max(1.0, reference.abs().max().item<double>());
}

// Standard normal queries, keys and values [rows, fields, 3, heads, width]:
// scores spread over several units, so the softmax is far from uniform.
torch::Tensor packed(int64_t rows, int64_t fields, int64_t heads, int64_t width,
                     torch::ScalarType type = torch::kFloat) {
  return torch::randn({rows, fields, 3, heads, width}, torch::TensorOptions().dtype(type));
}

void expect_matches_reference(torch::ScalarType type, int64_t rows, int64_t fields, int64_t heads,
                              int64_t head_dim, double scale, double tolerance) {
  SCOPED_TRACE("type=" + std::string(c10::toString(type)) + " rows=" + std::to_string(rows) +
               " fields=" + std::to_string(fields) + " heads=" + std::to_string(heads) +
               " head_dim=" + std::to_string(head_dim) + " scale=" + std::to_string(scale));
  torch::manual_seed(3);
  const torch::Tensor qkv = packed(rows, fields, heads, head_dim, type);
  const torch::Tensor weight =
      torch::randn({rows, fields, heads, head_dim}, torch::TensorOptions().dtype(type));
  const Result fused = run(detail::field_attention, qkv, scale, weight);
  const Result reference = run(detail::field_attention_reference, qkv, scale, weight);
  EXPECT_NE(fused.node.find("FieldAttentionFunction"), std::string::npos) << fused.node;
  EXPECT_EQ(fused.out.sizes(), (std::vector<int64_t>{rows, fields, heads, head_dim}));
  EXPECT_LT(relative_diff(fused.out, reference.out), tolerance);
  EXPECT_LT(relative_diff(fused.grad, reference.grad), tolerance);
}

TEST(FieldAttentionTest, MatchesMatmulSoftmaxForEveryFusedWidth) {
  for (const int64_t head_dim : {4, 8, 16, 32}) {
    for (const int64_t fields : {1, 2, 3, 4, 5, 8, 9, 16, 17, 39}) {
      expect_matches_reference(torch::kDouble, 3, fields, 1, head_dim, 1.0, 1e-10);
      expect_matches_reference(torch::kFloat, 3, fields, 1, head_dim, 1.0, 2e-5);
    }
  }
}

TEST(FieldAttentionTest, SeveralHeadsAndScaleMatchReference) {
  // Heads interleave within each field's q, k and v; the scale multiplies the
  // scores (and so reaches the gradients of q and k).
  for (const int64_t heads : {2, 4}) {
    expect_matches_reference(torch::kDouble, 5, 39, heads, 8, 0.35, 1e-10);
    expect_matches_reference(torch::kFloat, 5, 39, heads, 8, 0.35, 2e-5);
    expect_matches_reference(torch::kFloat, 2, 7, heads, 4, 2.0, 2e-5);
  }
}

TEST(FieldAttentionTest, ManyItemsAcrossThreads) {
  // Enough items for several parallel chunks; the result must not depend on
  // how they are split.
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  expect_matches_reference(torch::kFloat, 75, 39, 4, 8, 0.5, 2e-5);
  at::set_num_threads(3);
  expect_matches_reference(torch::kFloat, 75, 39, 4, 8, 0.5, 2e-5);
  at::set_num_threads(threads);
}

TEST(FieldAttentionTest, OtherWidthsTakeTheReferencePath) {
  torch::manual_seed(6);
  const torch::Tensor qkv = packed(2, 5, 2, 3);
  const torch::Tensor leaf = qkv.clone().requires_grad_(true);
  const torch::Tensor out = detail::field_attention(leaf, 0.5);
  EXPECT_EQ(std::string(out.grad_fn()->name()).find("FieldAttentionFunction"), std::string::npos);
  out.sum().backward();
  // Head by head and row by row, from the definition: out = p v with
  // p = softmax(0.5 q k^T), and d(sum out) / d v[j] = sum_i p[i, j].
  torch::Tensor expected = torch::empty({2, 5, 2, 3});
  torch::Tensor expected_dv = torch::empty({2, 5, 2, 3});
  for (int64_t n = 0; n < 2; ++n) {
    for (int64_t a = 0; a < 2; ++a) {
      const torch::Tensor q = qkv[n].select(1, 0).select(1, a);  // [F, h]
      const torch::Tensor k = qkv[n].select(1, 1).select(1, a);
      const torch::Tensor v = qkv[n].select(1, 2).select(1, a);
      const torch::Tensor p = torch::softmax(0.5 * q.mm(k.t()), 1);
      expected[n].select(1, a).copy_(p.mm(v));
      expected_dv[n].select(1, a).copy_(p.sum(0).unsqueeze(1).expand({5, 3}));
    }
  }
  EXPECT_LT(max_diff(out.detach(), expected), 1e-6);
  EXPECT_LT(max_diff(leaf.grad().select(2, 2), expected_dv), 1e-6);
}

TEST(FieldAttentionTest, HandComputedTwoFields) {
  // One head of width 4, only the first component non-zero: q = [[1], [0]],
  // k = [[2 ln 3], [0]] and scale 1/2, so row 0 scores (ln 3, 0) -> weights
  // (3/4, 1/4) and row 1 scores (0, 0) -> (1/2, 1/2). v = [[4], [8]] gives
  // 3 + 2 = 5 and 2 + 4 = 6.
  torch::Tensor qkv = torch::zeros({1, 2, 3, 1, 4});
  const auto first = [&](int64_t part) { return qkv.select(2, part).select(2, 0).select(2, 0); };
  first(0).copy_(torch::tensor({1.0f, 0.0f}).view({1, 2}));
  first(1).copy_(torch::tensor({static_cast<float>(2.0 * std::log(3.0)), 0.0f}).view({1, 2}));
  first(2).copy_(torch::tensor({4.0f, 8.0f}).view({1, 2}));
  const torch::Tensor out = detail::field_attention(qkv, 0.5);
  EXPECT_NEAR(out[0][0][0][0].item<float>(), 5.0f, 1e-5);
  EXPECT_NEAR(out[0][1][0][0].item<float>(), 6.0f, 1e-5);
  EXPECT_EQ(out.select(3, 1).abs().max().item<float>(), 0.0f);
}

TEST(FieldAttentionTest, ExtremeScoresStayFinite) {
  // Score gaps of 1e4 underflow every weight but the largest; the gradient of
  // a saturated softmax is zero for q and k.
  torch::Tensor qkv = torch::zeros({2, 3, 3, 1, 4});
  const auto first = [&](int64_t part) { return qkv.select(2, part).select(2, 0).select(2, 0); };
  first(0).fill_(100.0f);
  first(1).copy_(torch::tensor({100.0f, 0.0f, -100.0f}).expand({2, 3}));
  first(2).copy_(torch::tensor({1.0f, 2.0f, 3.0f}).expand({2, 3}));
  qkv.requires_grad_(true);
  const torch::Tensor out = detail::field_attention(qkv, 1.0);
  EXPECT_TRUE(torch::allclose(out.select(3, 0).select(2, 0), torch::ones({2, 3})));
  out.sum().backward();
  const torch::Tensor grad = qkv.grad();
  EXPECT_TRUE(torch::isfinite(grad).all().item<bool>());
  EXPECT_LT(grad.select(2, 0).abs().max().item<float>(), 1e-6);
  EXPECT_LT(grad.select(2, 1).abs().max().item<float>(), 1e-6);
}

TEST(FieldAttentionTest, NonContiguousInput) {
  torch::manual_seed(5);
  const torch::Tensor base = torch::randn({4, 2, 3, 8, 6});
  const torch::Tensor qkv = base.permute({0, 4, 2, 1, 3});  // [4, 6, 3, 2, 8], not contiguous
  EXPECT_LT(
      max_diff(detail::field_attention(qkv, 0.7), detail::field_attention_reference(qkv, 0.7)),
      2e-5);
}

TEST(FieldAttentionTest, EmptyBatch) {
  const torch::Tensor empty = torch::zeros({0, 6, 3, 2, 8});
  EXPECT_EQ(detail::field_attention(empty, 1.0).sizes(), (std::vector<int64_t>{0, 6, 2, 8}));
}

TEST(FieldAttentionTest, SecondDerivativesAreRefused) {
  torch::manual_seed(7);
  const torch::Tensor qkv = packed(2, 3, 1, 8).requires_grad_(true);
  const torch::Tensor out = detail::field_attention(qkv, 1.0).sum();
  try {
    torch::autograd::grad({out}, {qkv}, {}, /*retain_graph=*/true, /*create_graph=*/true);
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("field attention: only first derivatives are implemented"),
              std::string::npos);
  }
}

TEST(FieldAttentionTest, RejectsOtherShapes) {
  for (const auto& sizes : {std::vector<int64_t>{2, 3, 4}, std::vector<int64_t>{2, 3, 2, 1, 4}}) {
    try {
      detail::field_attention(torch::zeros(sizes), 1.0);
      FAIL() << "expected an error";
    } catch (const c10::Error& e) {
      EXPECT_NE(std::string(e.what()).find("field attention: qkv must be [N, F, 3, H, h], got " +
                                           c10::str(c10::IntArrayRef(sizes))),
                std::string::npos)
          << e.what();
    }
  }
}

}  // namespace
}  // namespace adaensemble::model
