#include "adaensemble/train/sparse_optimizer.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <torch/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "adaensemble/model/embedding.h"
#include "adaensemble/train/optimizers.h"

namespace adaensemble::train {
namespace {

using MakeOptimizer =
    std::function<std::unique_ptr<torch::optim::Optimizer>(const at::Tensor& table)>;

/// A sparse gradient holding `rows` of `dense` (rows may repeat: they add up).
at::Tensor sparse_rows(const at::Tensor& dense, const std::vector<int64_t>& rows) {
  const at::Tensor index = at::tensor(rows, at::kLong);
  return at::sparse_coo_tensor(index.unsqueeze(0), dense.index_select(0, index), dense.sizes());
}

/// Runs three steps with the same gradients, once dense and once as a sparse
/// gradient listing every row, and returns both tables.
std::pair<at::Tensor, at::Tensor> dense_and_sparse(const MakeOptimizer& make) {
  torch::manual_seed(3);
  const at::Tensor start = at::randn({4, 3});
  const std::vector<at::Tensor> grads = {at::randn({4, 3}), at::randn({4, 3}), at::randn({4, 3})};
  at::Tensor dense = start.clone().requires_grad_();
  at::Tensor sparse = start.clone().requires_grad_();
  auto dense_optimizer = make(dense);
  auto sparse_optimizer = make(sparse);
  for (const at::Tensor& g : grads) {
    dense.mutable_grad() = g.clone();
    sparse.mutable_grad() = sparse_rows(g, {3, 0, 2, 1});
    dense_optimizer->step();
    sparse_optimizer->step();
  }
  return {dense.detach(), sparse.detach()};
}

TEST(RowSparseAdamTest, EveryRowSparseEqualsDenseAdamWithDecayAndAmsgrad) {
  for (const bool amsgrad : {false, true}) {
    SCOPED_TRACE(amsgrad ? "amsgrad" : "adam");
    const auto [dense, sparse] = dense_and_sparse([&](const at::Tensor& table) {
      return std::make_unique<RowSparseAdam>(
          std::vector<at::Tensor>{table},
          torch::optim::AdamOptions(0.1).weight_decay(0.01).amsgrad(amsgrad));
    });
    EXPECT_TRUE(at::allclose(dense, sparse, 1e-6, 1e-6)) << (dense - sparse).abs().max();
  }
}

/// Five dense steps of RowSparseAdam and of torch's Adam from the same start
/// with the same gradients, on parameters of sizes 1, 7, 37 and 100003 (off
/// the vector width, and long enough to split across threads); expects
/// parameters and moments to agree to float rounding and every parameter to move.
void expect_dense_steps_match_torch(at::ScalarType dtype,
                                    const torch::optim::AdamOptions& options) {
  torch::manual_seed(11);
  std::vector<at::Tensor> starts, ours, theirs;
  for (const int64_t size : {1, 7, 37, 100003}) {
    starts.push_back(at::randn({size}, dtype));
    ours.push_back(starts.back().clone().requires_grad_());
    theirs.push_back(starts.back().clone().requires_grad_());
  }
  RowSparseAdam fused(ours, options);
  torch::optim::Adam reference(theirs, options);
  for (int step = 0; step < 5; ++step) {
    for (size_t i = 0; i < ours.size(); ++i) {
      const at::Tensor g = at::randn(ours[i].sizes(), dtype);
      ours[i].mutable_grad() = g.clone();
      theirs[i].mutable_grad() = g.clone();
    }
    fused.step();
    reference.step();
  }
  const auto state_of = [](torch::optim::Optimizer & o, const at::Tensor& p) -> auto& {
    return static_cast<torch::optim::AdamParamState&>(
        *o.state().at(c10::guts::to_string(p.unsafeGetTensorImpl())));
  };
  for (size_t i = 0; i < ours.size(); ++i) {
    SCOPED_TRACE("size " + std::to_string(ours[i].numel()));
    EXPECT_TRUE(at::allclose(ours[i], theirs[i], 1e-6, 1e-7)) << (ours[i] - theirs[i]).abs().max();
    EXPECT_GT((ours[i] - starts[i]).abs().max().item<double>(), 1e-3);
    const auto& got = state_of(fused, ours[i]);
    const auto& want = state_of(reference, theirs[i]);
    EXPECT_EQ(got.step(), 5);
    EXPECT_TRUE(at::allclose(got.exp_avg(), want.exp_avg(), 1e-6, 1e-7));
    EXPECT_TRUE(at::allclose(got.exp_avg_sq(), want.exp_avg_sq(), 1e-6, 1e-7));
  }
}

TEST(RowSparseAdamTest, FusedDenseStepMatchesTorchAdamOnAnyThreadCount) {
  const int threads = at::get_num_threads();
  for (const int n : {1, 3}) {
    at::set_num_threads(n);
    for (const double decay : {0.0, 0.05}) {
      SCOPED_TRACE(std::to_string(n) + " threads, weight decay " + std::to_string(decay));
      expect_dense_steps_match_torch(
          at::kFloat, torch::optim::AdamOptions(0.01).betas({0.8, 0.99}).weight_decay(decay));
    }
  }
  at::set_num_threads(threads);
}

TEST(RowSparseAdamTest, TensorOpDenseStepMatchesTorchAdam) {
  // Doubles and amsgrad take the tensor-op path.
  expect_dense_steps_match_torch(
      at::kDouble, torch::optim::AdamOptions(0.01).betas({0.8, 0.99}).weight_decay(0.05));
  expect_dense_steps_match_torch(at::kFloat, torch::optim::AdamOptions(0.01).amsgrad(true));
}

TEST(RowSparseAdagradTest, EveryRowSparseEqualsDenseAdagradWithDecay) {
  const auto [dense, sparse] = dense_and_sparse([](const at::Tensor& table) {
    return std::make_unique<RowSparseAdagrad>(
        std::vector<at::Tensor>{table},
        torch::optim::AdagradOptions(0.1).weight_decay(0.01).lr_decay(0.1));
  });
  EXPECT_TRUE(at::allclose(dense, sparse, 1e-6, 1e-6)) << (dense - sparse).abs().max();
}

TEST(RowSparseSgdTest, EveryRowSparseEqualsDenseSgdWithMomentum) {
  for (const bool nesterov : {false, true}) {
    SCOPED_TRACE(nesterov ? "nesterov" : "momentum");
    const auto [dense, sparse] = dense_and_sparse([&](const at::Tensor& table) {
      return std::make_unique<RowSparseSgd>(
          std::vector<at::Tensor>{table},
          torch::optim::SGDOptions(0.1).momentum(0.9).weight_decay(0.01).nesterov(nesterov));
    });
    EXPECT_TRUE(at::allclose(dense, sparse, 1e-6, 1e-6)) << (dense - sparse).abs().max();
  }
}

TEST(RowSparseAdamTest, OnlyTouchedRowsMoveAndDecay) {
  // Row 1 gets gradient 1 + 2 = 3 (repeated ids add up). Adam's first step
  // moves it by lr * m_hat / (sqrt(v_hat) + eps) = 0.1 * 3 / (3 + 1e-8), with
  // weight decay 0.5 * 2 = 1 added: 0.1 * 4 / 4 = 0.1, so 2 -> 1.9.
  at::Tensor table = at::full({3, 2}, 2.0).requires_grad_();
  RowSparseAdam optimizer({table}, torch::optim::AdamOptions(0.1).weight_decay(0.5));
  table.mutable_grad() = at::sparse_coo_tensor(torch::tensor({{1, 1}}, at::kLong),
                                               torch::tensor({{1.0f, 1.0f}, {2.0f, 2.0f}}), {3, 2});
  optimizer.step();
  EXPECT_FALSE(table.grad().defined());  // consumed
  EXPECT_TRUE(at::allclose(table[1], at::full({2}, 1.9), 0, 1e-6)) << table[1];
  EXPECT_TRUE(at::equal(table[0], at::full({2}, 2.0)));
  EXPECT_TRUE(at::equal(table[2], at::full({2}, 2.0)));
  const auto& state = static_cast<torch::optim::AdamParamState&>(
      *optimizer.state().at(c10::guts::to_string(table.unsafeGetTensorImpl())));
  EXPECT_EQ(state.step(), 1);
  EXPECT_EQ(state.exp_avg_sq()[0].abs().sum().item<float>(), 0.0f);
  EXPECT_NEAR(state.exp_avg()[1][0].item<float>(), 0.1 * 4.0, 1e-6);
}

TEST(RowSparseAdamTest, StateSurvivesSaveAndLoad) {
  torch::manual_seed(5);
  const at::Tensor start = at::randn({6, 2});
  const at::Tensor g1 = sparse_rows(at::randn({6, 2}), {0, 4});
  const at::Tensor g2 = sparse_rows(at::randn({6, 2}), {4, 5});
  at::Tensor a = start.clone().requires_grad_();
  RowSparseAdam first({a}, torch::optim::AdamOptions(0.05));
  a.mutable_grad() = g1.clone();
  first.step();
  torch::serialize::OutputArchive out;
  first.save(out);
  std::stringstream bytes;
  out.save_to(bytes);

  at::Tensor b = a.detach().clone().requires_grad_();
  RowSparseAdam second({b}, torch::optim::AdamOptions(0.05));
  torch::serialize::InputArchive in;
  in.load_from(bytes);
  second.load(in);
  a.mutable_grad() = g2.clone();
  b.mutable_grad() = g2.clone();
  first.step();
  second.step();
  EXPECT_TRUE(at::equal(a, b));
}

TEST(RowSparseAdamTest, RejectsGradientsSparseInMoreThanRows) {
  at::Tensor table = at::zeros({2, 2}).requires_grad_();
  RowSparseAdam optimizer({table}, torch::optim::AdamOptions(0.1));
  table.mutable_grad() = at::zeros({2, 2}).to_sparse();  // sparse_dim 2
  try {
    optimizer.step();
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("row-sparse optimizer: a sparse gradient must index rows "
                                         "only (sparse_dim 1), got sparse_dim 2"),
              std::string::npos)
        << e.what();
  }
}

TEST(RowSparseAdamTest, SparseEmbeddingStepEqualsDenseFirstStep) {
  // On the first Adam step a row without gradient does not move in dense
  // Adam either, so sparse and dense embedding gradients give the same table.
  model::FeatureSpec spec;
  spec.num_numeric = 1;
  spec.cardinalities = {5, 7};
  const at::Tensor categorical = torch::tensor({{1, 2}, {1, 6}, {3, 2}}, at::kLong);
  const at::Tensor numeric = torch::tensor({{0.5f}, {3.0f}, {NAN}});
  std::vector<at::Tensor> tables;
  at::Tensor initial;
  for (const bool sparse : {false, true}) {
    torch::manual_seed(9);
    model::EmbeddingInputOptions options;
    options.sparse_gradients = sparse;
    model::EmbeddingInput input(spec, options);
    initial = input->categorical_table.detach().clone();
    config::OptimizerConfig c;
    c.lr = 0.01;
    auto optimizer = make_optimizer(c, {}, input->parameters());
    const at::Tensor weights = at::arange(144, at::kFloat).view({3, 3, 16}) / 100.0;
    (input(categorical, numeric) * weights).sum().backward();
    EXPECT_EQ(input->categorical_table.grad().is_sparse(), sparse);
    optimizer->step();
    tables.push_back(input->categorical_table.detach().clone());
  }
  EXPECT_TRUE(at::allclose(tables[0], tables[1], 1e-6, 1e-7));
  EXPECT_TRUE(at::equal(tables[1][0], initial[0]));           // field 0, id 0: not in the batch
  EXPECT_FALSE(at::equal(tables[1][1], initial[1]));          // field 0, id 1: in the batch
  EXPECT_FALSE(at::equal(tables[1][5 + 6], initial[5 + 6]));  // field 1, id 6
}

TEST(RowSparseAdamTest, EmbeddingWeightDecayReachesOnlyTouchedRows) {
  model::FeatureSpec spec;
  spec.cardinalities = {4};
  model::EmbeddingInputOptions options;
  options.sparse_gradients = true;
  model::EmbeddingInput input(spec, options);
  {
    at::NoGradGuard no_grad;
    input->categorical_table[2].fill_(1.0);
  }
  const at::Tensor initial = input->categorical_table.detach().clone();
  config::OptimizerConfig c;
  c.lr = 0.01;
  c.embedding_weight_decay = 0.1;
  auto optimizer = make_optimizer(c, {}, input->parameters());
  // A zero loss gradient: the decay alone moves row 2. Adam's first step is
  // lr * g / |g| = 0.01 towards zero for any gradient g = 0.1 * 1.
  (input(torch::tensor({{2}}, at::kLong), at::zeros({1, 0})) * 0).sum().backward();
  optimizer->step();
  const at::Tensor table = input->categorical_table.detach();
  EXPECT_TRUE(at::equal(table.index_select(0, at::tensor({0, 1, 3}, at::kLong)),
                        initial.index_select(0, at::tensor({0, 1, 3}, at::kLong))));
  EXPECT_TRUE(at::allclose(table[2], at::full({16}, 0.99), 0, 1e-6)) << table[2];
}

}  // namespace
}  // namespace adaensemble::train
