#include "adaensemble/data/synthetic.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "adaensemble/data/dataset.h"
#include "adaensemble/data/inspect.h"
#include "adaensemble/util/files.h"
#include "data_test_util.h"
#include "testing/testing.h"

namespace adaensemble::data {
namespace {

using testing::TempDir;

TEST(SyntheticTest, WritesDayFilesWithTruthAndIsDeterministic) {
  TempDir dir;
  SynthOptions options;
  options.rows = 3000;
  options.days = 2;
  options.seed = 11;
  const nlohmann::json report = synth_report(dir.path() / "a", options);
  ASSERT_EQ(report["days"].size(), 2u);
  EXPECT_EQ(report["days"][1]["rows"], 3000);
  const double rate = report["days"][0]["click_rate"];
  EXPECT_NEAR(rate, 0.25, 0.03);
  const double truth_auc = report["days"][0]["truth_auc"];
  EXPECT_GT(truth_auc, 0.74);
  EXPECT_LT(truth_auc, 0.88);

  write_synthetic(dir.path() / "b", options);
  for (const char* name : {"day_0.tsv", "day_1.truth"}) {
    EXPECT_EQ(read_text_file(dir.path() / "a" / name), read_text_file(dir.path() / "b" / name));
  }
  options.seed = 12;
  write_synthetic(dir.path() / "c", options);
  EXPECT_NE(read_text_file(dir.path() / "a" / "day_0.tsv"),
            read_text_file(dir.path() / "c" / "day_0.tsv"));

  // The files parse under the criteo preset, with some negative I2 values.
  const PreparedData data = prepare_data(
      test::config_for("criteo", {dir.path() / "a" / "day_0.tsv"}, dir.path() / "cache"));
  EXPECT_EQ(data.train->rows(), 3000);
  const float* i2 = data.train->parts()[0].parsed->numeric(1);
  EXPECT_GT(std::count_if(i2, i2 + 3000, [](float v) { return v < 0; }), 100);
}

TEST(SyntheticTest, RocAucOfHandComputedCase) {
  // Pairs (pos, neg): (0.9 > 0.1) (0.9 > 0.5) (0.5 = 0.5 -> half) (0.5 > 0.1): 3.5 / 4.
  EXPECT_DOUBLE_EQ(roc_auc({0.9, 0.5, 0.5, 0.1}, {1, 1, 0, 0}), 0.875);
}

TEST(InspectTest, SummarisesRowsBadRowsAndFields) {
  TempDir dir;
  const std::string good = "1\t5" + std::string(12, '\t') + "\tx" + std::string(25, '\t');
  const std::string bad = "3\t5" + std::string(12, '\t') + "\tx" + std::string(25, '\t');
  const auto file =
      dir.write("i.tsv", good + "\n" + bad + "\n" + "0" + std::string(39, '\t') + "\n");
  const nlohmann::json report = inspect_files({{file, 0, -1}}, preset_schema("criteo"), dir.path());
  EXPECT_EQ(report["rows"], 2);
  EXPECT_EQ(report["positives"], 1);
  EXPECT_EQ(report["bad_rows"]["count"], 1);
  EXPECT_EQ(report["bad_rows"]["first"][0]["line"], 2);
  EXPECT_EQ(report["fields"][0]["name"], "I1");
  EXPECT_EQ(report["fields"][0]["distinct"], 1);
  EXPECT_DOUBLE_EQ(report["fields"][0]["missing_rate"].get<double>(), 0.5);
  EXPECT_EQ(report["fields"][13]["name"], "C1");
  EXPECT_DOUBLE_EQ(report["fields"][14]["missing_rate"].get<double>(), 1.0);
}

}  // namespace
}  // namespace adaensemble::data
