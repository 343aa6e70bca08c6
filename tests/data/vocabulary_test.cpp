#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "adaensemble/data/dataset.h"
#include "data_test_util.h"
#include "testing/testing.h"

namespace adaensemble::data {
namespace {

using testing::TempDir;

FieldDictionary entries(const std::vector<std::pair<std::string, int64_t>>& counts) {
  FieldDictionary out;
  for (const auto& [value, count] : counts) out.add(hash_bytes(value), value, count);
  return out;
}

TEST(VocabularyTest, IdsAreOovMissingThenMostFrequentFirst) {
  const Vocabulary vocabulary =
      Vocabulary::build({"c"}, {entries({{"b", 3}, {"a", 3}, {"z", 9}, {"rare", 1}})}, {2});
  EXPECT_EQ(vocabulary.field(0).values, (std::vector<std::string>{"z", "a", "b"}));
  EXPECT_EQ(vocabulary.id_of(0, "z"), 2);
  EXPECT_EQ(vocabulary.id_of(0, "a"), 3);  // ties broken by value text
  EXPECT_EQ(vocabulary.id_of(0, "b"), 4);
  EXPECT_EQ(vocabulary.id_of(0, "rare"), kOovId);  // below min_count
  EXPECT_EQ(vocabulary.id_of(0, "never"), kOovId);
  EXPECT_EQ(vocabulary.id_of(0, ""), kMissingId);
  EXPECT_EQ(vocabulary.cardinalities(), std::vector<int64_t>{5});
}

TEST(VocabularyTest, TiesCompareWholeValuesAsUnsignedBytes) {
  const std::string high = "\xc3\xa9t\xc3\xa9";  // UTF-8 bytes sort after ASCII
  const Vocabulary vocabulary = Vocabulary::build(
      {"c"}, {entries({{"abcdefgh2", 2}, {high, 2}, {"abcdefgh", 2}, {"abcdefgh10", 2}, {"b", 5}})},
      {1});
  EXPECT_EQ(vocabulary.field(0).values,
            (std::vector<std::string>{"b", "abcdefgh", "abcdefgh10", "abcdefgh2", high}));
}

TEST(VocabularyTest, ManyValuesSortLikeCountThenText) {
  // Enough values for the radix sort; counts 1..4, texts of 1..11 bytes.
  std::vector<std::pair<std::string, int64_t>> counts;
  uint64_t state = 7;
  for (int i = 0; i < 600; ++i) {
    std::string value;
    state = hash_combine(state, i);
    const int size = 1 + static_cast<int>(state % 11);
    for (int k = 0; k < size; ++k) value += static_cast<char>("ab\xf0z"[(state >> (2 * k)) & 3]);
    value += std::to_string(i);
    counts.push_back({value, 1 + static_cast<int64_t>((state >> 40) % 4)});
  }
  const Vocabulary vocabulary = Vocabulary::build({"c"}, {entries(counts)}, {1});
  std::sort(counts.begin(), counts.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  ASSERT_EQ(vocabulary.field(0).values.size(), counts.size());
  for (std::size_t i = 0; i < counts.size(); ++i) {
    ASSERT_EQ(vocabulary.field(0).values[i], counts[i].first) << i;
    ASSERT_EQ(vocabulary.field(0).counts[i], counts[i].second) << i;
    ASSERT_EQ(vocabulary.id_of(0, counts[i].first), static_cast<int32_t>(i) + kFirstValueId);
  }
}

TEST(VocabularyTest, SaveLoadRoundTripsIdsAndStrings) {
  TempDir dir;
  const Vocabulary vocabulary = Vocabulary::build(
      {"f\t1", "g"}, {entries({{"x\ty", 2}, {"back\\slash", 1}}), entries({{"q", 4}})}, {1, 1});
  vocabulary.save(dir.path() / "v.tsv");
  const Vocabulary loaded = Vocabulary::load(dir.path() / "v.tsv");
  EXPECT_EQ(loaded.hash(), vocabulary.hash());
  EXPECT_EQ(loaded.field(0).name, "f\t1");
  for (int32_t id = 0; id < 4; ++id) EXPECT_EQ(loaded.value_of(0, id), vocabulary.value_of(0, id));
  EXPECT_EQ(loaded.id_of(0, "back\\slash"), 3);
  EXPECT_EQ(loaded.field(1).counts, std::vector<int64_t>{4});
}

TEST(VocabularyTest, TrainingOnlyCountsAndPerFieldMinCount) {
  TempDir dir;
  std::string text;
  const char* c1[] = {"a", "a", "a", "b", "b", "c", "d", "d", "d", "d"};
  for (int i = 0; i < 10; ++i) {
    std::string row = std::string(i % 2 ? "1" : "0") + "\t" + std::to_string(i);
    for (int k = 2; k <= 13; ++k) row += "\t1";
    row += std::string("\t") + c1[i] + "\tk";
    for (int k = 3; k <= 26; ++k) row += "\t";
    text += row + "\n";
  }
  auto config = test::config_for("criteo", {dir.write("v.tsv", text)}, dir.path() / "cache");
  config.valid_fraction = 0.4;  // rows 6..9 ("d") are validation only
  config.min_count = 1;
  config.field_min_count = {{"C1", 2}};
  const PreparedData data = prepare_data(config);
  EXPECT_EQ(data.train->rows(), 6);
  EXPECT_EQ(data.valid->rows(), 4);
  EXPECT_EQ(data.vocabulary.field(0).values, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(data.vocabulary.field(1).values, std::vector<std::string>{"k"});
  const auto& valid = data.valid->parts()[0];
  EXPECT_EQ(valid.ids->field(0)[valid.begin], kOovId);  // "d" unseen in training
  EXPECT_EQ(data.valid->positives(), 2);
}

TEST(VocabularyTest, FeaturesRoundTripThroughACheckpointDir) {
  TempDir dir;
  auto config = test::config_for("criteo",
                                 {dir.write("f.tsv", "1\t3\t-1" + std::string(11, '\t') + "\tab" +
                                                         std::string(25, '\t') + "\n")},
                                 dir.path() / "cache");
  const PreparedData data = prepare_data(config);
  save_features(data.schema, data.vocabulary, dir.path() / "ckpt");
  const auto [schema, vocabulary] = load_features(dir.path() / "ckpt");
  EXPECT_EQ(schema.hash(), data.schema.hash());
  EXPECT_EQ(vocabulary.hash(), data.vocabulary.hash());
  EXPECT_EQ(field_names(schema).front(), "I1");

  // Raw strings -> ids and values; label excluded, file column order.
  std::vector<std::string> fields = {"7", "-1"};
  for (int i = 3; i <= 13; ++i) fields.push_back("");
  fields.push_back("ab");
  fields.push_back("unseen");
  const RowEncoder encoder(schema, vocabulary);
  std::vector<int64_t> ids(26);
  std::vector<float> numeric(13);
  encoder.encode(fields, ids.data(), numeric.data());
  EXPECT_FLOAT_EQ(numeric[0], 7.0f);
  EXPECT_FLOAT_EQ(numeric[1], -1.0f);
  EXPECT_TRUE(std::isnan(numeric[2]));
  EXPECT_EQ(ids[0], kFirstValueId);
  EXPECT_EQ(vocabulary.value_of(0, static_cast<int32_t>(ids[0])), "ab");
  EXPECT_EQ(ids[1], kOovId);
  EXPECT_EQ(ids[2], kMissingId);
}

}  // namespace
}  // namespace adaensemble::data
