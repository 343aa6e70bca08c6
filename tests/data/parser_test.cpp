#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstring>
#include <fstream>

#include "adaensemble/config/error.h"
#include "adaensemble/data/dataset.h"
#include "data_test_util.h"
#include "testing/testing.h"

namespace adaensemble::data {
namespace {

using test::config_for;
using test::data_error_of;
using testing::TempDir;

// A Criteo row with the given label, I1 text and C1 text, other fields filled.
std::string criteo_row(const std::string& label, const std::string& i1, const std::string& c1) {
  std::string row = label + "\t" + i1;
  for (int i = 2; i <= 13; ++i) row += "\t" + std::to_string(i);
  row += "\t" + c1;
  for (int i = 2; i <= 26; ++i) row += "\tv" + std::to_string(i);
  return row;
}

PreparedData prepare_text(const TempDir& dir, const std::string& name, const std::string& text,
                          config::BadRowPolicy policy = {}) {
  auto config = config_for("criteo", {dir.write(name, text)}, dir.path() / "cache");
  config.bad_rows = policy;
  return prepare_data(config);
}

TEST(ParserTest, ParsesCriteoRowsWithMissingValues) {
  TempDir dir;
  const std::string row2 = "0\t\t-2" + std::string(11, '\t') + std::string(26, '\t');
  const PreparedData data =
      prepare_text(dir, "a.tsv", criteo_row("1", "260.0", "abc") + "\n" + row2 + "\n");
  ASSERT_EQ(data.train->rows(), 2);
  EXPECT_EQ(data.train->positives(), 1);
  const auto& part = data.train->parts().front();
  EXPECT_FLOAT_EQ(part.parsed->numeric(0)[0], 260.0f);
  EXPECT_TRUE(std::isnan(part.parsed->numeric(0)[1]));
  EXPECT_FLOAT_EQ(part.parsed->numeric(1)[1], -2.0f);
  EXPECT_EQ(part.ids->field(0)[0], kFirstValueId);
  EXPECT_EQ(part.ids->field(0)[1], kMissingId);
  EXPECT_EQ(data.vocabulary.value_of(0, kFirstValueId), "abc");
}

TEST(ParserTest, TooManyFieldsNamesFileLineAndCounts) {
  TempDir dir;
  const std::string text = criteo_row("0", "1", "a") + "\n" + criteo_row("0", "1", "a") + "\tx\n";
  EXPECT_EQ(data_error_of([&] { prepare_text(dir, "criteo.tsv", text); }),
            "criteo.tsv:2: 41 fields, schema has 40 (check data.format / delimiter)");
}

TEST(ParserTest, ShortRowsAreMissingValuesUnlessDisallowed) {
  TempDir dir;
  const std::string full = criteo_row("0", "1", "a");
  const std::string short_row =
      full.substr(0, full.rfind('\t', full.rfind('\t') - 1));  // 38 fields
  const PreparedData data = prepare_text(dir, "s.tsv", full + "\n" + short_row);
  ASSERT_EQ(data.train->rows(), 2);
  EXPECT_EQ(data.train->parts()[0].ids->field(25)[1], kMissingId);

  auto config = config_for("criteo", {dir.path() / "s.tsv"}, dir.path() / "cache");
  config.allow_short_rows = false;
  EXPECT_EQ(data_error_of([&] { prepare_data(config); }),
            "s.tsv:2: 38 fields, schema has 40 (check data.format / delimiter, or "
            "data.allow_short_rows)");
}

TEST(ParserTest, NonNumericValueIsABadRow) {
  TempDir dir;
  EXPECT_EQ(data_error_of([&] { prepare_text(dir, "n.tsv", criteo_row("0", "abc", "a") + "\n"); }),
            "n.tsv:1: I1 = \"abc\" is not a number (numeric columns hold integers or floats)");
}

TEST(ParserTest, IntegerOutOfRangeIsABadRow) {
  TempDir dir;
  EXPECT_EQ(data_error_of([&] {
              prepare_text(dir, "r.tsv", criteo_row("0", "99999999999999999999", "a") + "\n");
            }),
            "r.tsv:1: I1 = \"99999999999999999999\" is out of range (integers must fit in int64)");
}

TEST(ParserTest, LabelMustBeZeroOrOne) {
  TempDir dir;
  EXPECT_EQ(data_error_of([&] { prepare_text(dir, "l.tsv", criteo_row("2", "1", "a") + "\n"); }),
            "l.tsv:1: label = \"2\" is not 0 or 1 (check the label column)");
}

TEST(ParserTest, EmptyFileIsAnError) {
  TempDir dir;
  EXPECT_EQ(data_error_of([&] { prepare_text(dir, "e.tsv", ""); }),
            "e.tsv: empty file (no data rows; check the path)");
}

TEST(ParserTest, SkipPolicyCountsBadRowsAndRespectsMaxFraction) {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 18; ++i) text += criteo_row(i % 2 ? "1" : "0", "1", "a") + "\n";
  text += criteo_row("7", "1", "a") + "\n" + criteo_row("0", "x", "a") + "\n";
  config::BadRowPolicy policy;
  policy.mode = config::BadRowPolicy::Mode::kSkip;
  policy.max_fraction = 0.1;
  const PreparedData data = prepare_text(dir, "k.tsv", text, policy);
  EXPECT_EQ(data.train->rows(), 18);
  EXPECT_EQ(data.bad_rows.count, 2);
  EXPECT_EQ(data.bad_rows.rows, 20);
  ASSERT_EQ(data.bad_rows.first.size(), 2u);
  EXPECT_EQ(data.bad_rows.first[0].line, 19);
  EXPECT_EQ(data.bad_rows.first[1].message(),
            "k.tsv:20: I1 = \"x\" is not a number (numeric columns hold integers or floats)");

  policy.max_fraction = 0.05;
  EXPECT_EQ(data_error_of([&] { prepare_text(dir, "k.tsv", text, policy); }),
            "k.tsv: 2 of 20 rows are bad (10.00%), above data.bad_rows.max_fraction = 0.05 "
            "(first: k.tsv:19: label = \"7\" is not 0 or 1 (check the label column))");
}

TEST(ParserTest, CrlfLineEndingsAreTolerated) {
  TempDir dir;
  const PreparedData data = prepare_text(
      dir, "c.tsv", criteo_row("1", "5", "a") + "\r\n" + criteo_row("0", "6", "b") + "\r\n");
  ASSERT_EQ(data.train->rows(), 2);
  EXPECT_EQ(data.vocabulary.field(25).values, std::vector<std::string>{"v26"});
}

TEST(ParserTest, ReadsGzipInputDirectly) {
  TempDir dir;
  const std::string text = criteo_row("1", "5", "a") + "\n" + criteo_row("0", "6", "b") + "\n";
  const auto path = dir.path() / "g.tsv.gz";
  gzFile out = gzopen(path.c_str(), "wb");
  gzwrite(out, text.data(), static_cast<unsigned>(text.size()));
  gzclose(out);
  const PreparedData data = prepare_data(config_for("criteo", {path}, dir.path() / "cache"));
  EXPECT_EQ(data.train->rows(), 2);
  EXPECT_EQ(data.train->positives(), 1);
}

TEST(ParserTest, RowRangesSelectDataRows) {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 10; ++i) text += criteo_row(i < 3 ? "1" : "0", std::to_string(i), "a") + "\n";
  auto config = config_for("criteo", {dir.write("r.tsv", text)}, dir.path() / "cache");
  config.train[0].begin = 2;
  config.train[0].end = 6;
  config.test = {{dir.path() / "r.tsv", 6, 10}};
  const PreparedData data = prepare_data(config);
  ASSERT_EQ(data.train->rows(), 4);
  EXPECT_EQ(data.train->positives(), 1);
  EXPECT_FLOAT_EQ(data.train->parts()[0].parsed->numeric(0)[0], 2.0f);
  EXPECT_EQ(data.test->rows(), 4);
  config.test = {{dir.path() / "r.tsv", 6, 12}};
  EXPECT_EQ(data_error_of([&] { prepare_data(config); }),
            "r.tsv: rows [6, 12) asked, the file has 10 data rows (check the split's rows)");
}

TEST(ParserTest, IncompleteCacheIsRebuilt) {
  TempDir dir;
  const auto config = config_for("criteo", {dir.write("i.tsv", criteo_row("1", "5", "a") + "\n")},
                                 dir.path() / "cache");
  const PreparedData first = prepare_data(config);
  const auto parsed_dir = first.train->parts()[0].parsed->dir();
  ASSERT_TRUE(std::filesystem::exists(parsed_dir / "COMPLETE"));
  std::filesystem::remove(parsed_dir / "COMPLETE");
  { std::ofstream(parsed_dir / "labels.u8", std::ios::trunc) << "garbage"; }
  const PreparedData second = prepare_data(config);
  EXPECT_TRUE(std::filesystem::exists(parsed_dir / "COMPLETE"));
  EXPECT_EQ(second.train->rows(), 1);
  EXPECT_EQ(second.train->positives(), 1);
}

TEST(ParserTest, HeaderAndCsvSchema) {
  TempDir dir;
  auto config = config_for("csv", {dir.write("h.csv", "y,x,c,skip\n1,2.5,a,q\n0,,b,r\n")},
                           dir.path() / "cache");
  config.label = "y";
  config.numeric = {"x"};
  config.drop = std::vector<std::string>{"skip"};
  const PreparedData data = prepare_data(config);
  EXPECT_EQ(field_names(data.schema), (std::vector<std::string>{"x", "c"}));
  ASSERT_EQ(data.train->rows(), 2);
  EXPECT_FLOAT_EQ(data.train->parts()[0].parsed->numeric(0)[0], 2.5f);
}

// The real samples: exact row and click counts.
int64_t rows_of(const PreparedData& data) { return data.train->rows(); }

TEST(SampleTest, CriteoKaggle10k) {
  ADAENSEMBLE_REQUIRE_SAMPLE(path, "criteo/criteo_kaggle_head10k.autoint_train_examples.txt");
  TempDir dir;
  const PreparedData data = prepare_data(config_for("criteo", {path}, dir.path()));
  EXPECT_EQ(rows_of(data), 10000);
  EXPECT_EQ(data.train->positives(), 2182);
  const auto& missing = data.train->parts()[0].parsed->missing();
  EXPECT_EQ(missing[0], 4481);                           // I1
  EXPECT_EQ(missing[13 + 21], 8182);                     // C22
  EXPECT_EQ(data.vocabulary.cardinalities()[8], 3 + 2);  // C9 has 3 values
}

TEST(SampleTest, CriteoStrippedRowsPadToMissing) {
  ADAENSEMBLE_REQUIRE_SAMPLE(path, "criteo/criteo_kaggle_head1000_stripped.pytorchfm_train.txt");
  ADAENSEMBLE_REQUIRE_SAMPLE(full, "criteo/criteo_kaggle_head10k.autoint_train_examples.txt");
  TempDir dir;
  const PreparedData data = prepare_data(config_for("criteo", {path}, dir.path()));
  EXPECT_EQ(rows_of(data), 1000);
  EXPECT_EQ(data.train->positives(), 205);
  // The same 1,000 rows read from the unstripped file give identical columns.
  auto config = config_for("criteo", {full}, dir.path());
  config.train[0].end = 1000;
  const PreparedData reference = prepare_data(config);
  const auto& a = *data.train->parts()[0].parsed;
  const auto& b = *reference.train->parts()[0].parsed;
  for (int64_t f = 0; f < 26; ++f) {
    EXPECT_EQ(std::memcmp(a.codes(f), b.codes(f), 4000), 0) << "C" << f + 1;
  }
  EXPECT_EQ(a.missing(), b.missing());
}

TEST(SampleTest, CriteoCsvWithHeaderAndFloats) {
  ADAENSEMBLE_REQUIRE_SAMPLE(path, "criteo/criteo_kaggle_200.deepctr_criteo_sample.txt");
  TempDir dir;
  auto config = config_for("criteo", {path}, dir.path());
  config.delimiter = ",";
  config.header = config::HeaderMode::kPresent;
  const PreparedData data = prepare_data(config);
  EXPECT_EQ(rows_of(data), 200);
  EXPECT_EQ(data.train->positives(), 49);
  EXPECT_FLOAT_EQ(data.train->parts()[0].parsed->numeric(2)[0], 260.0f);
}

TEST(SampleTest, AvazuFilesWithAndWithoutHeader) {
  ADAENSEMBLE_REQUIRE_SAMPLE(train, "avazu/avazu_head9k.wideresdnn_train.csv");
  ADAENSEMBLE_REQUIRE_SAMPLE(dev, "avazu/avazu_head9k.wideresdnn_dev.csv");
  ADAENSEMBLE_REQUIRE_SAMPLE(test, "avazu/avazu_head9k.wideresdnn_test.csv");
  ADAENSEMBLE_REQUIRE_SAMPLE(small, "avazu/avazu_100.deepctr_avazu_sample.txt");
  TempDir dir;
  auto config = config_for("avazu", {train}, dir.path());
  config.valid = {{dev, 0, -1}};
  config.test = {{test, 0, -1}};
  const PreparedData data = prepare_data(config);
  EXPECT_EQ(data.train->rows(), 8087);
  EXPECT_EQ(data.valid->rows(), 480);
  EXPECT_EQ(data.test->rows(), 432);
  EXPECT_EQ(data.train->positives() + data.valid->positives() + data.test->positives(), 1563);
  const auto names = data.schema.categorical_names();
  EXPECT_EQ(names[0], "hour_of_day");
  EXPECT_EQ(names[1], "weekday");
  EXPECT_EQ(data.vocabulary.field(0).values, std::vector<std::string>{"00"});
  EXPECT_EQ(data.vocabulary.field(1).values, std::vector<std::string>{"tue"});  // 2014-10-21

  const PreparedData head = prepare_data(config_for("avazu", {small}, dir.path()));
  EXPECT_EQ(head.train->rows(), 100);
  EXPECT_EQ(head.train->positives(), 20);
  const int64_t c20 = std::find(names.begin(), names.end(), "C20") - names.begin();
  EXPECT_EQ(head.train->parts()[0].parsed->missing()[c20], 55);
}

TEST(SampleTest, IpinyouWithFeatindexNames) {
  ADAENSEMBLE_REQUIRE_SAMPLE(train, "ipinyou/ipinyou2997.deepctr_train.fm.txt");
  ADAENSEMBLE_REQUIRE_SAMPLE(featindex, "ipinyou/ipinyou2997.deepctr_featindex.fm.txt");
  TempDir dir;
  auto config = config_for("ipinyou", {train}, dir.path());
  config.featindex = featindex;
  const PreparedData data = prepare_data(config);
  EXPECT_EQ(data.train->rows(), 26773);
  EXPECT_EQ(data.train->positives(), 255);
  const auto names = data.schema.categorical_names();
  ASSERT_EQ(names.size(), 16u);
  EXPECT_EQ(names.front(), "weekday");
  EXPECT_EQ(names.back(), "slotprice");
  EXPECT_EQ(data.vocabulary.field(14).values, std::vector<std::string>{"133459"});  // advertiser
}

}  // namespace
}  // namespace adaensemble::data
