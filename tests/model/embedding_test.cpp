// Tests of the embedding input layer: shapes, which table rows each id and
// numeric value reaches, the zero OOV row, the log-linear transform, id checks.
#include "adaensemble/model/embedding.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <vector>

namespace adaensemble::model {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Two numeric fields, then categorical fields of 5 and 3 rows.
FeatureSpec small_spec() {
  FeatureSpec spec;
  spec.num_numeric = 2;
  spec.cardinalities = {5, 3};
  spec.field_names = {"I1", "I2", "C1", "C2"};
  return spec;
}

EmbeddingInputOptions options_with_dim(int64_t dim) {
  EmbeddingInputOptions options;
  options.dim = dim;
  return options;
}

// Sets every row r of a table to the value r in all columns.
void number_rows(const torch::Tensor& table) {
  torch::NoGradGuard no_grad;
  table.copy_(torch::arange(table.size(0), torch::kFloat).unsqueeze(1).expand_as(table));
}

torch::Tensor ids(const std::vector<int64_t>& values, int64_t columns) {
  return torch::tensor(values, torch::kLong).view({-1, columns});
}

torch::Tensor numbers(const std::vector<float>& values, int64_t columns) {
  return torch::tensor(values).view({-1, columns});
}

TEST(EmbeddingInputTest, ForwardShapeIsNumericThenCategorical) {
  torch::manual_seed(0);
  EmbeddingInput input(small_spec(), options_with_dim(4));
  const torch::Tensor x0 = input(ids({0, 1, 4, 2, 3, 0}, 2), numbers({1, 2, 3, 4, 5, 6}, 2));
  EXPECT_EQ(x0.sizes(), (std::vector<int64_t>{3, 4, 4}));
  EXPECT_EQ(input->categorical_table.sizes(), (std::vector<int64_t>{8, 4}));
  EXPECT_EQ(input->numeric_table.sizes(), (std::vector<int64_t>{128, 4}));
  EXPECT_EQ(input(ids({}, 2), numbers({}, 2)).sizes(), (std::vector<int64_t>{0, 4, 4}));
}

TEST(EmbeddingInputTest, CategoricalIdsReachTheirFieldsRows) {
  torch::manual_seed(0);
  EmbeddingInput input(small_spec(), options_with_dim(2));
  number_rows(input->categorical_table);
  // Field C1 starts at row 0, C2 at row 5.
  EXPECT_EQ(input->categorical_row(1, 2), 7);
  const torch::Tensor x0 = input(ids({2, 1, 0, 2}, 2), numbers({0, 0, 0, 0}, 2));
  const torch::Tensor picked = x0.slice(1, 2).select(2, 0);
  EXPECT_TRUE(torch::equal(picked, torch::tensor({2.f, 6.f, 0.f, 7.f}).view({2, 2})));
}

TEST(EmbeddingInputTest, NumericValuesReachTheirBuckets) {
  torch::manual_seed(0);
  EmbeddingInput input(small_spec(), options_with_dim(2));
  number_rows(input->numeric_table);
  // Buckets floor(ln(x^2 + 1)): 0 -> 0, 10 -> 4, 2 -> 1; negative -> 62, missing -> 63.
  // Field I2's table starts at row 64.
  const torch::Tensor x0 =
      input(ids({0, 0, 0, 0, 0, 0}, 2), numbers({0, 10, kNaN, -1, 2, kNaN}, 2));
  const torch::Tensor picked = x0.slice(1, 0, 2).select(2, 0);
  EXPECT_TRUE(
      torch::equal(picked, torch::tensor({0.f, 68.f, 63.f, 126.f, 1.f, 127.f}).view({3, 2})));
}

TEST(EmbeddingInputTest, FoldNegativeSharesTheBucketOfTheMagnitude) {
  torch::manual_seed(0);
  EmbeddingInputOptions options = options_with_dim(2);
  options.bucketing.fold_negative = true;
  EmbeddingInput input(small_spec(), options);
  number_rows(input->numeric_table);
  // -2 -> floor(ln 5) = 1 in field I1; -1 -> floor(ln 2) = 0 in field I2 (row 64).
  const torch::Tensor x0 = input(ids({0, 0}, 2), numbers({-2, -1}, 2));
  EXPECT_TRUE(torch::equal(x0.slice(1, 0, 2).select(2, 0), torch::tensor({{1.f, 64.f}})));
}

TEST(EmbeddingInputTest, ZeroOovGivesZerosAndNoGradient) {
  torch::manual_seed(0);
  EmbeddingInputOptions options = options_with_dim(3);
  options.zero_oov = true;
  EmbeddingInput input(small_spec(), options);
  EXPECT_EQ(input->categorical_table[5].abs().sum().item<float>(), 0.f);  // C2's OOV row
  {
    // Even a trained-looking OOV row must not leak into the output.
    torch::NoGradGuard no_grad;
    input->categorical_table.fill_(1.0);
  }
  const torch::Tensor x0 = input(ids({0, 2, 3, 0}, 2), numbers({1, 1, 1, 1}, 2));
  EXPECT_EQ(x0[0][2].abs().sum().item<float>(), 0.f);
  EXPECT_EQ(x0[1][3].abs().sum().item<float>(), 0.f);
  EXPECT_EQ(x0[0][3].sum().item<float>(), 3.f);

  (x0 * torch::randn_like(x0)).sum().backward();
  const torch::Tensor grad = input->categorical_table.grad();
  EXPECT_EQ(grad[0].abs().sum().item<float>(), 0.f);  // C1 id 0
  EXPECT_EQ(grad[5].abs().sum().item<float>(), 0.f);  // C2 id 0
  EXPECT_GT(grad[3].abs().sum().item<float>(), 0.f);  // C1 id 3
  EXPECT_GT(grad[7].abs().sum().item<float>(), 0.f);  // C2 id 2
}

TEST(EmbeddingInputTest, LogLinearScalesAPerFieldVector) {
  torch::manual_seed(0);
  EmbeddingInputOptions options = options_with_dim(2);
  options.numeric = EmbeddingInputOptions::Numeric::kLogLinear;
  EmbeddingInput input(small_spec(), options);
  EXPECT_FALSE(input->numeric_table.defined());
  {
    torch::NoGradGuard no_grad;
    input->numeric_weight.copy_(torch::tensor({{1.f, 2.f}, {-1.f, 1.f}}));
    input->numeric_bias.copy_(torch::tensor({{0.5f, 0.f}, {0.f, 0.25f}}));
  }
  const float e_minus_1 = static_cast<float>(std::exp(1.0) - 1.0);
  // Row 0: I1 = e - 1 -> log 1 = 1 -> [1.5, 2]; I2 missing -> 0 -> bias [0, 0.25].
  // Row 1: I1 = -3 -> log(1 + 0) = 0 -> [0.5, 0]; I2 = e^2 - 1 -> 2 -> [-2, 2.25].
  const float e2_minus_1 = static_cast<float>(std::exp(2.0) - 1.0);
  const torch::Tensor x0 =
      input(ids({0, 0, 0, 0}, 2), numbers({e_minus_1, kNaN, -3, e2_minus_1}, 2));
  const torch::Tensor expected =
      torch::tensor({1.5f, 2.f, 0.f, 0.25f, 0.5f, 0.f, -2.f, 2.25f}).view({2, 2, 2});
  EXPECT_TRUE(torch::allclose(x0.slice(1, 0, 2), expected, 1e-5, 1e-6));
}

TEST(EmbeddingInputTest, OutOfRangeIdNamesTheField) {
  torch::manual_seed(0);
  EmbeddingInput input(small_spec(), options_with_dim(2));
  try {
    input(ids({0, 1, 4, 3}, 2), numbers({0, 0, 0, 0}, 2));
    FAIL() << "expected an error";
  } catch (const c10::Error& error) {
    EXPECT_EQ(std::string(error.what_without_backtrace()),
              "embedding input: field C2 has id 3 outside [0, 3) (ids must come from this "
              "model's vocabulary)");
  }
  EXPECT_THROW(input(ids({-1, 0}, 2), numbers({0, 0}, 2)), c10::Error);
}

TEST(EmbeddingInputTest, SparseGradientsAreSparse) {
  torch::manual_seed(0);
  EmbeddingInputOptions options = options_with_dim(2);
  options.sparse_gradients = true;
  EmbeddingInput input(small_spec(), options);
  input(ids({1, 2}, 2), numbers({1, 2}, 2)).sum().backward();
  EXPECT_TRUE(input->categorical_table.grad().is_sparse());
  EXPECT_TRUE(input->numeric_table.grad().is_sparse());
}

TEST(EmbeddingInputTest, GradientsReachTablesAndInitIsSmall) {
  torch::manual_seed(0);
  EmbeddingInput input(small_spec(), options_with_dim(4));
  const double std = input->categorical_table.std().item<double>();
  EXPECT_NEAR(std, 0.01, 0.005);
  input(ids({1, 2}, 2), numbers({1, kNaN}, 2)).sum().backward();
  for (const auto& param : input->named_parameters()) {
    SCOPED_TRACE(param.key());
    EXPECT_GT(param.value().grad().abs().sum().item<double>(), 0.0);
  }
}

}  // namespace
}  // namespace adaensemble::model
