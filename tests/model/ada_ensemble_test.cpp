#include "adaensemble/model/ada_ensemble.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/optim/adam.h>
#include <torch/utils.h>

#include <set>
#include <unordered_set>

#include "adaensemble/config/model_config.h"
#include "adaensemble/model/model_builder.h"
#include "model_test_util.h"

namespace adaensemble::model {
namespace {

using testing::random_batch;
using testing::small_spec;

AdaEnsemble build(const std::string& yaml) {
  register_builtin_experts();
  const config::ModelConfig config =
      config::parse_model_config(config::ConfigNode(YAML::Load(yaml), "model"));
  return build_model(config, small_spec());
}

const char* kThreeLayers =
    "{num_layers: 3, experts: [dense, cross, polynomial], embedding_dim: 4,"
    " gate: {top_k: 2, anneal_steps: 0, reduction: 2, gate_dim: 6}}";

TEST(AdaEnsembleTest, HardRoutingReturnsRowsInInputOrder) {
  torch::manual_seed(7);
  AdaEnsemble model = build(kThreeLayers);
  model->eval();
  const testing::Batch batch = random_batch(small_spec(), 48);
  model->set_collect_stats(true);
  const at::Tensor logits =
      model->forward(batch.categorical, batch.numeric, RoutingMode::kHard).logits;
  const RoutingStats stats = model->take_stats();
  int used_exits = 0;
  for (int64_t rows : stats.exit_rows) used_exits += rows > 0;
  ASSERT_GE(used_exits, 2) << "the test needs rows with different exits";

  // Per-row reference: run the row alone through layers 0..exit, then estimator `exit`.
  const at::Tensor x0 = model->embedding()(batch.categorical, batch.numeric);
  const at::Tensor exits = model->controller()->route(x0).argmax(1);
  for (int64_t i = 0; i < 48; ++i) {
    const int64_t exit = exits[i].item<int64_t>();
    const at::Tensor row_x0 = x0.narrow(0, i, 1);
    at::Tensor x = row_x0;
    for (int64_t d = 0; d <= exit; ++d)
      x = model->layer(d)->forward(x, row_x0, RoutingMode::kHard).x;
    const float expected = model->controller()->estimator(exit)(x).item<float>();
    EXPECT_NEAR(logits[i].item<float>(), expected, 1e-5f) << "row " << i << " exit " << exit;
  }
}

TEST(AdaEnsembleTest, DeeperLayersRunOnlyOnRowsThatReachThem) {
  torch::manual_seed(7);
  AdaEnsemble model = build(kThreeLayers);
  model->eval();
  const testing::Batch batch = random_batch(small_spec(), 48);
  model->set_collect_stats(true);
  model->forward(batch.categorical, batch.numeric, RoutingMode::kHard);
  const RoutingStats stats = model->take_stats();
  EXPECT_EQ(stats.rows, 48);
  int64_t reaching = 48;
  for (int64_t d = 0; d < 3; ++d) {
    int64_t routed = 0;
    for (int64_t rows : stats.expert_rows[d]) routed += rows;
    EXPECT_EQ(routed, 2 * reaching) << "layer " << d;  // k = 2 experts per row.
    reaching -= stats.exit_rows[d];
  }
  EXPECT_EQ(reaching, 0);
}

TEST(AdaEnsembleTest, DisabledControllerRunsFullDepth) {
  torch::manual_seed(8);
  AdaEnsemble model = build(
      "{num_layers: 3, experts: [dense, cross], embedding_dim: 4,"
      " gate: {top_k: 1, anneal_steps: 0, reduction: 2}, controller: {enabled: false}}");
  model->eval();
  EXPECT_EQ(model->controller()->estimators.size(), 1u);
  const testing::Batch batch = random_batch(small_spec(), 20);
  model->set_collect_stats(true);
  const ModelOutput out = model->forward(batch.categorical, batch.numeric, RoutingMode::kHard);
  const RoutingStats stats = model->take_stats();
  EXPECT_EQ(stats.exit_rows, (std::vector<int64_t>{0, 0, 20}));
  EXPECT_EQ(out.depth_balance_loss.item<float>(), 0.0f);

  const at::Tensor x0 = model->embedding()(batch.categorical, batch.numeric);
  at::Tensor x = x0;
  for (int64_t d = 0; d < 3; ++d) x = model->layer(d)->forward(x, x0, RoutingMode::kHard).x;
  EXPECT_TRUE(at::allclose(out.logits, model->controller()->estimator(2)(x), 1e-5, 1e-6));
}

TEST(AdaEnsembleTest, SoftModeGivesEveryGateParameterAGradientFromTheLogloss) {
  torch::manual_seed(9);
  AdaEnsemble model = build(kThreeLayers);
  model->train();
  const testing::Batch batch = random_batch(small_spec(), 64);
  const ModelOutput out = model->forward(batch.categorical, batch.numeric, RoutingMode::kSoft);
  at::binary_cross_entropy_with_logits(out.logits, batch.labels).backward();
  const ParameterGroups groups = model->parameter_groups();
  ASSERT_FALSE(groups.gates.empty());
  std::unordered_set<const void*> gates;
  for (const auto& p : groups.gates) gates.insert(p.unsafeGetTensorImpl());
  for (const auto& item : model->named_parameters()) {
    if (!gates.count(item.value().unsafeGetTensorImpl())) continue;
    SCOPED_TRACE(item.key());
    ASSERT_TRUE(item.value().grad().defined());
    EXPECT_GT(item.value().grad().abs().sum().item<float>(), 0.0f);
  }
}

TEST(AdaEnsembleTest, SoftModeGradientsReachEveryParameter) {
  torch::manual_seed(10);
  AdaEnsemble model = build(kThreeLayers);
  model->train();
  const testing::Batch batch = random_batch(small_spec(), 64);
  const ModelOutput out = model->forward(batch.categorical, batch.numeric, RoutingMode::kSoft);
  (at::binary_cross_entropy_with_logits(out.logits, batch.labels) + out.expert_balance_loss +
   out.depth_balance_loss)
      .backward();
  for (const auto& item : model->named_parameters()) {
    SCOPED_TRACE(item.key());
    ASSERT_TRUE(item.value().grad().defined());
    EXPECT_GT(item.value().grad().abs().sum().item<float>(), 0.0f);
  }
}

TEST(AdaEnsembleTest, HardRoutingDoesNotTrainTheDepthRouterFromTheLogloss) {
  torch::manual_seed(11);
  AdaEnsemble model = build(kThreeLayers);
  const testing::Batch batch = random_batch(small_spec(), 32);
  const ModelOutput out = model->forward(batch.categorical, batch.numeric, RoutingMode::kHard);
  at::binary_cross_entropy_with_logits(out.logits, batch.labels).backward();
  // Top-1 exit is a constant gate of 1: the reason kSoft exists.
  for (const auto& p : model->controller()->router->parameters()) {
    EXPECT_TRUE(!p.grad().defined() || p.grad().abs().sum().item<float>() == 0.0f);
  }
}

TEST(AdaEnsembleTest, ParameterGroupsPartitionTheParameters) {
  torch::manual_seed(12);
  AdaEnsemble model = build(kThreeLayers);
  const ParameterGroups groups = model->parameter_groups();
  std::multiset<const void*> seen;
  for (const auto& p : groups.gates) seen.insert(p.unsafeGetTensorImpl());
  for (const auto& p : groups.model) seen.insert(p.unsafeGetTensorImpl());
  const auto named = model->named_parameters();
  EXPECT_EQ(seen.size(), named.size());
  std::size_t gate_count = 0;
  for (const auto& item : named) {
    SCOPED_TRACE(item.key());
    EXPECT_EQ(seen.count(item.value().unsafeGetTensorImpl()), 1u);
    const bool is_gate = item.key().find(".gate.") != std::string::npos ||
                         item.key().find("controller.router.") != std::string::npos;
    gate_count += is_gate;
  }
  // Per layer: reduce (w, b), project (w, b), embeddings, temperature; same for the router.
  EXPECT_EQ(gate_count, 4u * 6u);
  EXPECT_EQ(groups.gates.size(), gate_count);
}

TEST(AdaEnsembleTest, StepDrivesAnnealedTopKAndIsABuffer) {
  torch::manual_seed(13);
  AdaEnsemble model = build(
      "{num_layers: 2, experts: [dense, cross, polynomial], embedding_dim: 4,"
      " gate: {top_k: 1, anneal_steps: 10, reduction: 2}}");
  EXPECT_EQ(model->current_top_k(), 3);
  model->set_step(5);
  EXPECT_EQ(model->step(), 5);
  EXPECT_EQ(model->current_top_k(), 2);
  model->set_step(10);
  EXPECT_EQ(model->current_top_k(), 1);
  bool found = false;
  for (const auto& item : model->named_buffers()) {
    if (item.key() == "anneal_step") found = item.value().item<int64_t>() == 10;
  }
  EXPECT_TRUE(found);
  const testing::Batch batch = random_batch(small_spec(), 16);
  model->set_collect_stats(true);
  model->forward(batch.categorical, batch.numeric, RoutingMode::kHard);
  const RoutingStats stats = model->take_stats();
  int64_t routed = 0;
  for (int64_t rows : stats.expert_rows[0]) routed += rows;
  EXPECT_EQ(routed, 16);  // k = 1 at step 10.
}

TEST(AdaEnsembleTest, SparseRoutingAndEarlyExitCostFewerFlops) {
  const testing::Batch batch = random_batch(small_spec(), 64);
  auto flops_of = [&](const std::string& yaml) {
    torch::manual_seed(14);
    AdaEnsemble model = build(yaml);
    model->eval();
    model->set_collect_stats(true);
    model->forward(batch.categorical, batch.numeric, RoutingMode::kHard);
    return model->take_stats().flops;
  };
  const std::string base = "num_layers: 3, experts: [dense, cross, polynomial], embedding_dim: 4";
  const double k1 = flops_of("{" + base + ", gate: {top_k: 1, anneal_steps: 0}}");
  const double k3 = flops_of("{" + base + ", gate: {top_k: 3, anneal_steps: 0}}");
  const double full =
      flops_of("{" + base + ", gate: {top_k: 1, anneal_steps: 0}, controller: {enabled: false}}");
  EXPECT_LT(k1, k3);
  EXPECT_GT(k1, 0.0);
  EXPECT_LT(k1, full);  // Early exit skips layers (minus the router's own cost).
}

TEST(AdaEnsembleTest, EmptyBatch) {
  AdaEnsemble model = build(kThreeLayers);
  const testing::Batch batch = random_batch(small_spec(), 0);
  for (RoutingMode mode : {RoutingMode::kHard, RoutingMode::kSoft}) {
    const ModelOutput out = model->forward(batch.categorical, batch.numeric, mode);
    EXPECT_EQ(out.logits.numel(), 0);
    EXPECT_EQ(out.expert_balance_loss.item<float>(), 0.0f);
    EXPECT_EQ(out.depth_balance_loss.item<float>(), 0.0f);
    EXPECT_FALSE(std::isnan(out.z_loss.item<float>()));
  }
}

TEST(AdaEnsembleTest, LearnsASimpleSignalWithAlternatingSteps) {
  torch::manual_seed(15);
  AdaEnsemble model = build(kThreeLayers);
  testing::Batch batch = random_batch(small_spec(), 256);
  // Click when categorical field 0 has an id below 3, or field 1 the id 4.
  batch.labels =
      at::logical_or(batch.categorical.select(1, 0).lt(3), batch.categorical.select(1, 1).eq(4))
          .to(at::kFloat);
  const ParameterGroups groups = model->parameter_groups();
  torch::optim::Adam theta(groups.model, torch::optim::AdamOptions(1e-2));
  torch::optim::Adam gates(groups.gates, torch::optim::AdamOptions(1e-2));
  auto loss_of = [&](RoutingMode mode) {
    const ModelOutput out = model->forward(batch.categorical, batch.numeric, mode);
    return at::binary_cross_entropy_with_logits(out.logits, batch.labels) +
           0.01 * (out.expert_balance_loss + out.depth_balance_loss);
  };
  model->train();
  for (int step = 0; step < 60; ++step) {
    if (step % 3 == 0) {  // Upper level on the gates, relaxed routing.
      gates.zero_grad();
      loss_of(RoutingMode::kSoft).backward();
      gates.step();
    }
    theta.zero_grad();
    loss_of(RoutingMode::kHard).backward();
    theta.step();
  }
  model->eval();
  const at::Tensor logits =
      model->forward(batch.categorical, batch.numeric, RoutingMode::kHard).logits;
  const double logloss = at::binary_cross_entropy_with_logits(logits, batch.labels).item<double>();
  EXPECT_LT(logloss, 0.2);  // A constant predictor scores about 0.69 here.
}

TEST(RoutingStatsTest, MergeAddsAndGrows) {
  RoutingStats a;
  a.rows = 2;
  a.expert_rows = {{1, 1}};
  a.exit_rows = {2};
  a.flops = 10;
  RoutingStats b;
  b.rows = 3;
  b.expert_rows = {{2, 1}, {1, 0}};
  b.exit_rows = {1, 2};
  b.flops = 5;
  a.merge(b);
  EXPECT_EQ(a.rows, 5);
  EXPECT_EQ(a.expert_rows, (std::vector<std::vector<int64_t>>{{3, 2}, {1, 0}}));
  EXPECT_EQ(a.exit_rows, (std::vector<int64_t>{3, 2}));
  EXPECT_DOUBLE_EQ(a.flops, 15.0);
}

}  // namespace
}  // namespace adaensemble::model
