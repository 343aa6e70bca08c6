// The exported module's raw-string path (encode_raw, score_raw) against the
// data layer's parser and RowEncoder: the Criteo, Avazu (hour column, ignored
// id, missing token, header) and iPinYou (indexed values) samples, and number
// texts one by one, errors included.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "adaensemble/config/error.h"
#include "adaensemble/data/features.h"
#include "export_fixture.h"

namespace adaensemble::testing {
namespace {

c10::impl::GenericList string_rows(const std::vector<std::vector<std::string>>& rows) {
  c10::impl::GenericList list(c10::ListType::ofStrings());
  for (const auto& row : rows) list.push_back(c10::List<std::string>(row));
  return list;
}

// Numeric tensors are equal when their NaNs sit at the same places and the
// other values are equal bit for bit (so -0.0 differs from 0.0).
void expect_same_numeric(const at::Tensor& a, const at::Tensor& b) {
  ASSERT_EQ(a.sizes(), b.sizes());
  const at::Tensor x = a.contiguous();
  const at::Tensor y = b.contiguous();
  EXPECT_TRUE(at::equal(at::isnan(x), at::isnan(y)));
  const at::Tensor finite = at::isnan(x).logical_not();
  EXPECT_TRUE(
      at::equal(x.masked_select(finite).view(at::kInt), y.masked_select(finite).view(at::kInt)));
}

// Exports a small model of `sample` and checks both raw methods against the
// data layer's encoding of the same rows and the in-process model.
void expect_raw_path_matches(const SampleRows& sample) {
  config::RunConfig config;
  model::CtrModel model = scrambled_model(
      sample, {"model.num_layers=2", "model.embedding_dim=4", "model.gate.top_k=1"}, &config);
  torch::jit::Module module = exporting::build_script_module(export_inputs(sample, *model, config));
  at::NoGradGuard no_grad;
  const auto encoded = module.run_method("encode_raw", string_rows(sample.raw)).toTuple();
  EXPECT_TRUE(at::equal(encoded->elements()[0].toTensor(), sample.categorical));
  expect_same_numeric(encoded->elements()[1].toTensor(), sample.numeric);
  const at::Tensor raw = module.run_method("score_raw", string_rows(sample.raw)).toTensor();
  const at::Tensor expected = in_process_probabilities(*model, sample.categorical, sample.numeric);
  EXPECT_LE(max_difference(raw, expected), 1e-6);
}

TEST(RawEncodingTest, CriteoRowsEncodeAsTheDataLayerDoes) {
  const SampleRows* sample = sample_rows();
  if (!sample) GTEST_SKIP() << "shared data sample absent: " << kCriteoSample;
  ASSERT_EQ(sample->raw.size(), static_cast<std::size_t>(kTestRows));
  expect_raw_path_matches(*sample);
}

TEST(RawEncodingTest, AvazuHourIgnoredIdMissingTokenAndHeader) {
  ADAENSEMBLE_REQUIRE_SAMPLE(train, "avazu/avazu_head9k.wideresdnn_train.csv");
  ADAENSEMBLE_REQUIRE_SAMPLE(dev, "avazu/avazu_head9k.wideresdnn_dev.csv");
  TempDir cache;
  const auto sample =
      load_sample("avazu.yaml",
                  {"data.train=[{path: " + train.string() + ", rows: [0, 3000]}]",
                   "data.valid_fraction=0", "data.test=[{path: " + dev.string() + "}]"},
                  cache.path(), dev, 0, 480);
  ASSERT_EQ(sample->categorical.size(0), 480);
  ASSERT_EQ(sample->raw.size(), 480u);
  expect_raw_path_matches(*sample);
}

TEST(RawEncodingTest, IpinyouIndexedValues) {
  ADAENSEMBLE_REQUIRE_SAMPLE(train, "ipinyou/ipinyou2997.deepctr_train.fm.txt");
  ADAENSEMBLE_REQUIRE_SAMPLE(test, "ipinyou/ipinyou2997.deepctr_test.fm.txt");
  ADAENSEMBLE_REQUIRE_SAMPLE(featindex, "ipinyou/ipinyou2997.deepctr_featindex.fm.txt");
  TempDir cache;
  const auto sample = load_sample(
      "ipinyou.yaml",
      {"data.featindex=" + featindex.string(),
       "data.train=[{path: " + train.string() + ", rows: [0, 3000]}]", "data.valid_fraction=0",
       "data.test=[{path: " + test.string() + ", rows: [0, 400]}]"},
      cache.path(), test, 0, 400);
  ASSERT_EQ(sample->raw.size(), 400u);
  expect_raw_path_matches(*sample);
}

// One Criteo feature row: every field empty but I1 and C1.
std::vector<std::string> criteo_row(const std::string& i1, const std::string& c1 = "") {
  std::vector<std::string> row(39);
  row[0] = i1;
  row[13] = c1;
  return row;
}

class RawNumberTest : public ::testing::TestWithParam<std::string> {};

// The exported encoder accepts exactly the number texts RowParser accepts,
// with the same float32 value, and rejects the others with the same reason.
TEST_P(RawNumberTest, ParsesAsTheRowParserDoes) {
  const SampleRows* sample = sample_rows();
  if (!sample) GTEST_SKIP() << "shared data sample absent: " << kCriteoSample;
  static torch::jit::Module module = [&] {
    config::RunConfig config;
    static model::CtrModel model =
        scrambled_model(*sample, {"model.architecture=logistic"}, &config);
    return exporting::build_script_module(export_inputs(*sample, *model, config));
  }();
  const std::vector<std::string> row = criteo_row(GetParam());
  const data::RowEncoder encoder(sample->data.schema, sample->data.vocabulary);
  std::vector<int64_t> ids(26);
  std::vector<float> numeric(13);
  std::string reason;
  try {
    encoder.encode(row, ids.data(), numeric.data());
  } catch (const DataError& error) {
    reason = error.what();
    ASSERT_EQ(reason.rfind("row: ", 0), 0u) << reason;
    reason = reason.substr(5);
  }
  try {
    const auto encoded = module.run_method("encode_raw", string_rows({row})).toTuple();
    EXPECT_EQ(reason, "") << "the exported encoder accepted what RowParser rejects";
    const float value = encoded->elements()[1].toTensor()[0][0].item<float>();
    EXPECT_EQ(std::isnan(value), std::isnan(numeric[0]));
    if (!std::isnan(value)) {
      EXPECT_EQ(std::memcmp(&value, &numeric[0], sizeof(float)), 0)
          << value << " vs " << numeric[0];
    }
  } catch (const std::exception& error) {
    ASSERT_NE(reason, "") << "RowParser accepted what the exported encoder rejects: "
                          << error.what();
    EXPECT_NE(std::string(error.what()).find("AssertionError: row 0: " + reason), std::string::npos)
        << error.what() << "\nexpected: " << reason;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Texts, RawNumberTest,
    ::testing::Values("", "0", "-1", "+5", "007", "123456789", "16777217", "9007199254740993",
                      "9223372036854775807", "-9223372036854775808", "9223372036854775808",
                      "12345678901234567890", "00000000000000000001", "1.5", "-2.25", ".5", "1.",
                      "1e5", "1E-3", "2.5e+10", "-.5e-2", "1.e2", "3.4028234e38", "3.5e38", "1e39",
                      "1e400", "-1e400", "1e-50", "1e-400", "0.000", "0e999999999999", "-0", "-0.0",
                      "abc", "1e", "1e+", "--1", "+1.5", "+", "-", ".", "e5", "nan", "inf", "-inf",
                      "1.2.3", "1,5", " 1", "1 ", "0x10", "1_000"));

TEST(RawEncodingTest, CategoricalIdsAndRowLengths) {
  const SampleRows* sample = sample_rows();
  if (!sample) GTEST_SKIP() << "shared data sample absent: " << kCriteoSample;
  config::RunConfig config;
  model::CtrModel model = scrambled_model(*sample, {"model.architecture=logistic"}, &config);
  torch::jit::Module module =
      exporting::build_script_module(export_inputs(*sample, *model, config));
  const data::Vocabulary& vocabulary = sample->data.vocabulary;
  const std::string known = vocabulary.field(0).values.at(3);
  auto c1_id = [&](const std::vector<std::string>& row) {
    const auto encoded = module.run_method("encode_raw", string_rows({row})).toTuple();
    return encoded->elements()[0].toTensor()[0][0].item<int64_t>();
  };
  EXPECT_EQ(c1_id(criteo_row("1", known)), 3 + data::kFirstValueId);
  EXPECT_EQ(c1_id(criteo_row("1", "not-seen")), data::kOovId);
  EXPECT_EQ(c1_id(criteo_row("1", "")), data::kMissingId);

  // Criteo allows short rows (trailing empty fields stripped): the rest is missing.
  const std::vector<std::string> short_row(sample->raw[0].begin(), sample->raw[0].begin() + 20);
  const auto encoded = module.run_method("encode_raw", string_rows({short_row})).toTuple();
  const data::RowEncoder encoder(sample->data.schema, vocabulary);
  std::vector<int64_t> ids(26);
  std::vector<float> numeric(13);
  encoder.encode(short_row, ids.data(), numeric.data());
  EXPECT_TRUE(at::equal(encoded->elements()[0].toTensor()[0], at::tensor(ids)));
  expect_same_numeric(encoded->elements()[1].toTensor()[0], at::tensor(numeric));

  std::vector<std::string> long_row = sample->raw[0];
  long_row.push_back("x");
  try {
    module.run_method("encode_raw", string_rows({sample->raw[0], long_row}));
    FAIL() << "a row with 40 feature fields was accepted";
  } catch (const std::exception& error) {
    EXPECT_NE(std::string(error.what())
                  .find("row 1: 40 feature fields, schema has 39 (pass every column except the "
                        "label, in file order)"),
              std::string::npos)
        << error.what();
  }
}

}  // namespace
}  // namespace adaensemble::testing
