#include "adaensemble/config/data_config.h"

#include <gtest/gtest.h>

namespace adaensemble::config {
namespace {

std::string config_error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "(no error)";
}

DataConfig parse(const std::string& yaml) {
  return parse_data_config(ConfigNode(YAML::Load(yaml), "data"), "/base");
}

TEST(DataConfigTest, ResolvesRelativePathsAndReadsRanges) {
  const DataConfig config = parse(
      "{format: criteo, train: [{path: d/a.tsv, rows: [0, 8000]}, /abs/b.tsv],"
      " test: t.tsv, min_count: 3, field_min_count: {C3: 5}, bad_rows: {policy: skip}}");
  ASSERT_EQ(config.train.size(), 2u);
  EXPECT_EQ(config.train[0].path, "/base/d/a.tsv");
  EXPECT_EQ(config.train[0].begin, 0);
  EXPECT_EQ(config.train[0].end, 8000);
  EXPECT_FALSE(config.train[1].has_range());
  EXPECT_EQ(config.test[0].path, "/base/t.tsv");
  EXPECT_EQ(config.min_count, 3);
  EXPECT_EQ(config.field_min_count.at("C3"), 5);
  EXPECT_EQ(config.bad_rows.mode, BadRowPolicy::Mode::kSkip);
}

TEST(DataConfigTest, RoundTripsThroughYaml) {
  const DataConfig config = parse(
      "{format: avazu, delimiter: comma, header: auto, drop: [], valid_fraction: 0.1,"
      " missing_values: {C20: '-1'}, train: [{path: a.csv, rows: [5, 10]}], cache_dir: c}");
  const DataConfig again = parse_data_config(ConfigNode(to_yaml(config), "data"), "/other");
  EXPECT_EQ(again.format, "avazu");
  EXPECT_EQ(again.delimiter, ",");
  EXPECT_EQ(again.header, HeaderMode::kAuto);
  EXPECT_EQ(again.drop, std::vector<std::string>{});
  EXPECT_DOUBLE_EQ(again.valid_fraction, 0.1);
  EXPECT_EQ(again.missing_values->at("C20"), "-1");
  EXPECT_EQ(again.train[0].path, "/base/a.csv");
  EXPECT_EQ(again.train[0].begin, 5);
  EXPECT_EQ(again.cache_dir, "/base/c");
}

TEST(DataConfigTest, RejectsUnknownKeysAndBadValues) {
  EXPECT_EQ(config_error_of([] { parse("{formt: criteo}"); }),
            "unknown config key data.formt (check the spelling; docs/data.md, docs/model.md and "
            "docs/training.md list the keys each section accepts)");
  EXPECT_EQ(config_error_of([] { parse("{format: parquet}"); }),
            "data.format = parquet: expected one of criteo, avazu, ipinyou, csv, tsv");
  EXPECT_EQ(config_error_of([] { parse("{train: [{path: a, rows: [5, 2]}]}"); }),
            "data.train[0].rows = [5, 2]: expected [start, end) with 0 <= start < end");
  EXPECT_EQ(config_error_of([] { parse("{bad_rows: {policy: ignore}}"); }),
            "data.bad_rows.policy = ignore: expected fail or skip");
  EXPECT_EQ(config_error_of([] { parse("{format: csv}"); }),
            "data.label: missing (csv/tsv formats need the label column's name)");
}

}  // namespace
}  // namespace adaensemble::config
