#include "adaensemble/train/optimizers.h"

#include <gtest/gtest.h>
#include <torch/optim/adam.h>

#include <cmath>

namespace adaensemble::train {
namespace {

TEST(LearningRateScheduleTest, WarmupThenCosineToFloor) {
  config::OptimizerConfig c;
  c.lr = 1.0;
  c.warmup_steps = 4;
  c.decay = "cosine";
  c.min_lr = 0.1;
  LearningRateSchedule schedule(c, 14);
  EXPECT_DOUBLE_EQ(schedule.at(0), 0.25);  // (0 + 1) / 4
  EXPECT_DOUBLE_EQ(schedule.at(3), 1.0);
  EXPECT_NEAR(schedule.at(4), 1.0, 1e-12);                       // cosine starts at the top
  EXPECT_NEAR(schedule.at(9), 0.1 + 0.45 * (1 + std::cos(M_PI * 0.5)), 1e-12);
  EXPECT_NEAR(schedule.at(14), 0.1, 1e-12);
}

TEST(LearningRateScheduleTest, ExponentialDecayAndPlateauScale) {
  config::OptimizerConfig c;
  c.lr = 0.8;
  c.decay = "exponential";
  c.decay_rate = 0.5;
  c.decay_steps = 10;
  LearningRateSchedule schedule(c, 100);
  EXPECT_NEAR(schedule.at(20), 0.2, 1e-12);
  schedule.scale(0.5);
  EXPECT_NEAR(schedule.at(20), 0.1, 1e-12);
}

TEST(OptimizerFactoryTest, EmbeddingGroupGetsItsOwnDecayAndRatesApply) {
  torch::manual_seed(0);
  config::OptimizerConfig c;
  c.weight_decay = 0.0;
  c.embedding_weight_decay = 1e-3;
  auto dense = torch::randn({2, 2}, torch::requires_grad());
  auto table = torch::randn({5, 2}, torch::requires_grad());
  auto optimizer = make_optimizer(c, {dense}, {table});
  ASSERT_EQ(optimizer->param_groups().size(), 2u);
  auto& embedding_options =
      static_cast<torch::optim::AdamOptions&>(optimizer->param_groups()[1].options());
  EXPECT_DOUBLE_EQ(embedding_options.weight_decay(), 1e-3);
  LearningRateSchedule(c, 10).apply(*optimizer, 0);
  EXPECT_DOUBLE_EQ(optimizer->param_groups()[0].options().get_lr(), 1e-3);
}

}  // namespace
}  // namespace adaensemble::train
