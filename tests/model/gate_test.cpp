#include "adaensemble/model/gate.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/optim/sgd.h>

#include "adaensemble/model/top_k.h"

namespace adaensemble::model {
namespace {

NoisyCosineGateOptions small_gate() {
  NoisyCosineGateOptions options;
  options.input_dim = 12;
  options.num_outputs = 4;
  options.reduction = 2;
  options.gate_dim = 5;
  return options;
}

TEST(TopKTest, KeepsTheKLargestAndSoftmaxesOverThem) {
  const at::Tensor scores =
      at::tensor({0.5f, 2.0f, -1.0f, 1.0f, 3.0f, 0.0f, 0.0f, 1.0f}).view({2, 4});
  const TopKGates routed = top_k_softmax(scores, 2);
  // Row 0 keeps 2.0 and 1.0: e^1 / (e^1 + 1) = 0.731059, 1 / (e + 1) = 0.268941.
  // Row 1 keeps 3.0 and 1.0: e^2 / (e^2 + 1) = 0.880797, 0.119203.
  const at::Tensor expected =
      at::tensor({0.0f, 0.731059f, 0.0f, 0.268941f, 0.880797f, 0.0f, 0.0f, 0.119203f}).view({2, 4});
  EXPECT_TRUE(at::allclose(routed.gates, expected, 1e-5, 1e-6));
  const at::Tensor mask = at::tensor({0, 1, 0, 1, 1, 0, 0, 1}).view({2, 4}).to(at::kBool);
  EXPECT_TRUE(at::equal(routed.mask, mask));
  // Entries outside the top k are exactly zero.
  EXPECT_EQ(routed.gates.masked_select(mask.logical_not()).abs().sum().item<float>(), 0.0f);
}

TEST(TopKTest, KEqualToNIsThePlainSoftmax) {
  const at::Tensor scores = at::tensor({0.1f, -0.3f, 0.7f}).view({1, 3});
  EXPECT_TRUE(at::allclose(top_k_softmax(scores, 3).gates, at::softmax(scores, 1)));
}

TEST(TopKTest, AcceptsAnEmptyBatch) {
  const TopKGates routed = top_k_softmax(at::zeros({0, 5}), 3);
  EXPECT_EQ(routed.gates.sizes(), (at::IntArrayRef{0, 5}));
}

TEST(TopKScheduleTest, LinearAnnealing) {
  // 5 experts down to 3 over 100 steps: k drops by one every 50 steps.
  const TopKSchedule schedule(5, 3, 100);
  EXPECT_EQ(schedule.k_at(0), 5);
  EXPECT_EQ(schedule.k_at(49), 5);
  EXPECT_EQ(schedule.k_at(50), 4);
  EXPECT_EQ(schedule.k_at(99), 4);
  EXPECT_EQ(schedule.k_at(100), 3);
  EXPECT_EQ(schedule.k_at(100000), 3);
}

TEST(TopKScheduleTest, PiecewiseAnnealing) {
  const TopKSchedule schedule(5, 2, 0, {{10, 4}, {30, 3}, {60, 2}});
  EXPECT_EQ(schedule.k_at(0), 5);
  EXPECT_EQ(schedule.k_at(9), 5);
  EXPECT_EQ(schedule.k_at(10), 4);
  EXPECT_EQ(schedule.k_at(29), 4);
  EXPECT_EQ(schedule.k_at(30), 3);
  EXPECT_EQ(schedule.k_at(60), 2);
  EXPECT_EQ(schedule.k_at(1000), 2);
}

TEST(TopKScheduleTest, NoAnnealingStartsAtFinalK) { EXPECT_EQ(TopKSchedule(5, 3, 0).k_at(0), 3); }

TEST(NoisyCosineGateTest, ScoresAreCosinesOverTemperature) {
  torch::manual_seed(0);
  NoisyCosineGate gate(small_gate());
  gate->eval();
  const at::Tensor x0 = at::randn({6, 3, 4});
  const at::Tensor scores = gate(x0);
  EXPECT_EQ(scores.sizes(), (at::IntArrayRef{6, 4}));
  EXPECT_NEAR(gate->temperature().item<double>(), 1.0, 1e-6);
  EXPECT_LE(scores.abs().max().item<float>(), 1.0f + 1e-5f);
  // Recompute by hand from the parameters.
  const at::Tensor h = gate->project(at::relu(gate->reduce(x0.reshape({6, 12}))));
  const at::Tensor cos =
      at::cosine_similarity(h.unsqueeze(1), gate->expert_embeddings.unsqueeze(0), 2);
  EXPECT_TRUE(at::allclose(scores, cos, 1e-5, 1e-6));
}

TEST(NoisyCosineGateTest, NoNoiseInEvalMode) {
  torch::manual_seed(1);
  NoisyCosineGate gate(small_gate());
  gate->eval();
  const at::Tensor x0 = at::randn({8, 12});
  EXPECT_TRUE(at::equal(gate(x0), gate(x0)));
}

TEST(NoisyCosineGateTest, NoiseInTrainMode) {
  torch::manual_seed(2);
  NoisyCosineGate gate(small_gate());
  gate->train();
  const at::Tensor x0 = at::randn({8, 12});
  EXPECT_FALSE(at::allclose(gate(x0), gate(x0)));
  gate->eval();
  EXPECT_TRUE(at::equal(gate(x0), gate(x0)));
}

TEST(NoisyCosineGateTest, StopGradientKeepsTheInputOutOfTheGraph) {
  torch::manual_seed(3);
  NoisyCosineGate gate(small_gate());
  const at::Tensor x0 = at::randn({4, 12}).requires_grad_();
  gate(x0).sum().backward();
  EXPECT_FALSE(x0.grad().defined());
  NoisyCosineGateOptions options = small_gate();
  options.stop_gradient = false;
  NoisyCosineGate open_gate(options);
  open_gate(x0).pow(2).sum().backward();
  ASSERT_TRUE(x0.grad().defined());
  EXPECT_GT(x0.grad().abs().sum().item<float>(), 0.0f);
}

TEST(NoisyCosineGateTest, TemperatureStaysPositiveAfterALargeStep) {
  torch::manual_seed(4);
  NoisyCosineGate gate(small_gate());
  torch::optim::SGD sgd({gate->raw_temperature}, torch::optim::SGDOptions(1.0));
  for (int step = 0; step < 3; ++step) {
    sgd.zero_grad();
    (gate->temperature() * 1e6).backward();  // Pushes T hard towards -infinity.
    sgd.step();
  }
  const double t = gate->temperature().item<double>();
  EXPECT_GT(t, 0.0);
  EXPECT_NEAR(t, kMinTemperature, 1e-6);
  EXPECT_TRUE(at::isfinite(gate(at::randn({3, 12}))).all().item<bool>());
}

TEST(NoisyCosineGateTest, EveryParameterGetsAGradient) {
  torch::manual_seed(5);
  NoisyCosineGate gate(small_gate());
  (gate(at::randn({16, 12})) * at::randn({16, 4})).sum().backward();
  for (const auto& item : gate->named_parameters()) {
    SCOPED_TRACE(item.key());
    ASSERT_TRUE(item.value().grad().defined());
    EXPECT_GT(item.value().grad().abs().sum().item<float>(), 0.0f);
  }
}

}  // namespace
}  // namespace adaensemble::model
