#include "adaensemble/config/train_config.h"

#include <gtest/gtest.h>

namespace adaensemble::config {
namespace {

TrainConfig parse(const std::string& yaml) {
  return parse_train_config(ConfigNode(YAML::Load(yaml), "train"));
}

std::string error_of(const std::string& yaml) {
  try {
    parse(yaml);
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "(no error)";
}

TEST(TrainConfigTest, DefaultsAndOverrides) {
  const TrainConfig c =
      parse("{mode: joint, batch_size: 256, optimizer: {name: adagrad, lr: 0.01}}");
  EXPECT_EQ(c.mode, "joint");
  EXPECT_EQ(c.batch_size, 256);
  EXPECT_EQ(c.optimizer.name, "adagrad");
  EXPECT_DOUBLE_EQ(c.optimizer.lr, 0.01);
  EXPECT_EQ(c.gate_optimizer.name, "adam");
  EXPECT_EQ(c.epochs, 3);
}

TEST(TrainConfigTest, RoundTripsThroughYaml) {
  const TrainConfig c = parse("{epochs: 7, early_stopping: {metric: logloss, patience: 3}}");
  const TrainConfig again = parse_train_config(ConfigNode(to_yaml(c), "train"));
  EXPECT_EQ(YAML::Dump(to_yaml(again)), YAML::Dump(to_yaml(c)));
  EXPECT_EQ(again.early_stopping.metric, "logloss");
}

TEST(TrainConfigTest, BadValuesNameTheirKey) {
  EXPECT_EQ(error_of("{mode: trilevel}"), "train.mode = trilevel: expected one of bilevel, joint");
  EXPECT_EQ(error_of("{batch_size: 0}"), "train.batch_size = 0: must be >= 1");
  EXPECT_EQ(error_of("{optimizer: {lr: -1}}"), "train.optimizer.lr = -1: must be > 0");
  EXPECT_EQ(error_of("{optimizer: {nme: sgd}}"),
            "unknown config key train.optimizer.nme (check the spelling; docs/data.md, "
            "docs/model.md and docs/training.md list the keys each section accepts)");
  EXPECT_EQ(error_of("{optimizer: {decay: exponential}}"),
            "train.optimizer.decay_steps = (absent): must be > 0 when decay is exponential");
  EXPECT_EQ(error_of("{gate_valid_fraction: 1}"),
            "train.gate_valid_fraction = 1: must be in [0, 1)");
}

}  // namespace
}  // namespace adaensemble::config
