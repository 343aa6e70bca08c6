#include "adaensemble/train/metrics.h"

#include <gtest/gtest.h>

#include <cmath>

namespace adaensemble::train {
namespace {

TEST(MetricsTest, AucCountsPairsAndHalvesTies) {
  // Positives {0.8, 0.4}, negatives {0.4, 0.1}: pairs (0.8>0.4) (0.8>0.1)
  // (0.4=0.4 -> 1/2) (0.4>0.1) -> 3.5 / 4.
  EXPECT_DOUBLE_EQ(roc_auc({0.8f, 0.4f, 0.4f, 0.1f}, {1, 1, 0, 0}), 0.875);
  EXPECT_DOUBLE_EQ(roc_auc({0.1f, 0.9f}, {1, 0}), 0.0);
  EXPECT_DOUBLE_EQ(roc_auc({0.3f, 0.3f}, {1, 1}), 0.5);
}

TEST(MetricsTest, LoglossEntropyAndCalibrationByHand) {
  MetricsAccumulator acc;
  const float p[] = {0.5f, 0.25f};
  const float y[] = {1.0f, 0.0f};
  acc.add(p, y, 2);
  const Metrics m = acc.compute();
  // logloss = -(ln 0.5 + ln 0.75) / 2; click rate 0.5 -> entropy ln 2.
  const double logloss = -(std::log(0.5) + std::log(0.75)) / 2;
  EXPECT_EQ(m.rows, 2);
  EXPECT_EQ(m.positives, 1);
  EXPECT_NEAR(m.logloss, logloss, 1e-12);
  EXPECT_NEAR(m.normalized_entropy, logloss / std::log(2.0), 1e-12);
  EXPECT_NEAR(m.calibration, 0.375 / 0.5, 1e-12);
  EXPECT_DOUBLE_EQ(m.auc, 1.0);
}

TEST(MetricsTest, ClipsCertainWrongPredictions) {
  MetricsAccumulator acc;
  const float p[] = {0.0f};
  const float y[] = {1.0f};
  acc.add(p, y, 1);
  EXPECT_NEAR(acc.compute().logloss, -std::log(1e-7), 1e-9);
}

}  // namespace
}  // namespace adaensemble::train
