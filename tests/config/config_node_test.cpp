#include "adaensemble/config/config_node.h"

#include <gtest/gtest.h>

namespace adaensemble::config {
namespace {

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "(no error)";
}

TEST(ConfigNodeTest, ReadsScalarsWithDefaults) {
  ConfigNode node(YAML::Load("{a: 3, b: 0.5, c: yes, d: text}"), "train");
  EXPECT_EQ(node.get<int64_t>("a", 1), 3);
  EXPECT_DOUBLE_EQ(node.get<double>("b", 0.0), 0.5);
  EXPECT_TRUE(node.get<bool>("c", false));
  EXPECT_EQ(node.get<std::string>("d", ""), "text");
  EXPECT_EQ(node.get<int64_t>("missing", 7), 7);
  node.finish();
}

TEST(ConfigNodeTest, UnknownKeyIsNamedWithItsPath) {
  ConfigNode node(YAML::Load("{batch_size: 3, bacth: 4}"), "train");
  node.get<int64_t>("batch_size", 1);
  EXPECT_EQ(error_of([&] { node.finish(); }),
            "unknown config key train.bacth (check the spelling; docs/data.md, docs/model.md and "
            "docs/training.md list the keys each section accepts)");
}

TEST(ConfigNodeTest, WrongTypeNamesKeyValueAndExpectation) {
  ConfigNode node(YAML::Load("{batch_size: many}"), "train");
  EXPECT_EQ(error_of([&] { node.get<int64_t>("batch_size", 1); }),
            "train.batch_size = many: expected an integer");
}

TEST(ConfigNodeTest, MissingRequiredKey) {
  ConfigNode node(YAML::Load("{}"), "data.train[0]");
  EXPECT_EQ(error_of([&] { node.require<std::string>("path"); }),
            "data.train[0].path: missing (this key is required)");
}

TEST(ConfigOverrideTest, SetsNestedScalarsListsAndIndices) {
  YAML::Node root = YAML::Load("{train: {batch_size: 4096}, data: {train: [{path: a}]}}");
  apply_override(root, "train.batch_size=512");
  apply_override(root, "model.experts=[dense, cross]");
  apply_override(root, "data.train[0].path=b.tsv");
  apply_override(root, "data.train[1]={path: c.tsv, rows: [0, 10]}");
  EXPECT_EQ(root["train"]["batch_size"].as<int>(), 512);
  EXPECT_EQ(root["model"]["experts"][1].as<std::string>(), "cross");
  EXPECT_EQ(root["data"]["train"][0]["path"].as<std::string>(), "b.tsv");
  EXPECT_EQ(root["data"]["train"][1]["rows"][1].as<int>(), 10);
}

TEST(ConfigOverrideTest, RejectsMalformedAssignments) {
  YAML::Node root = YAML::Load("{data: {train: [{path: a}]}}");
  EXPECT_EQ(error_of([&] { apply_override(root, "train.batch_size"); }),
            "--set train.batch_size: expected KEY=VALUE, e.g. train.batch_size=512");
  EXPECT_EQ(error_of([&] { apply_override(root, "data.train[5].path=x"); }),
            "--set data.train[5].path=x: index 5 is out of range for 'train'");
  EXPECT_EQ(error_of([&] { apply_override(root, "data.train[x].path=x"); }),
            "--set data.train[x].path=x: bad index in 'train[x]' (expected key[N] with N a "
            "non-negative integer)");
}

}  // namespace
}  // namespace adaensemble::config
