#include "adaensemble/data/batch_iterator.h"

#include <gtest/gtest.h>
#include <torch/types.h>

#include <set>

#include "data_test_util.h"
#include "testing/testing.h"

namespace adaensemble::data {
namespace {

using testing::TempDir;

// 1,000 rows over two files; I1 holds the global row number.
std::shared_ptr<const EncodedSplit> make_split(const TempDir& dir) {
  std::vector<std::filesystem::path> files;
  for (int file = 0; file < 2; ++file) {
    std::string text;
    for (int r = 0; r < 500; ++r) {
      const int row = file * 500 + r;
      text += std::to_string(row % 3 == 0) + "\t" + std::to_string(row) + std::string(12, '\t') +
              "\tv" + std::to_string(row % 7) + std::string(25, '\t') + "\n";
    }
    files.push_back(dir.write("b" + std::to_string(file) + ".tsv", text));
  }
  return prepare_data(test::config_for("criteo", files, dir.path() / "cache")).train;
}

std::vector<int64_t> epoch_rows(BatchIterator* it) {
  std::vector<int64_t> rows;
  Batch batch;
  while (it->next(&batch)) {
    EXPECT_EQ(batch.categorical.dtype(), torch::kLong);
    EXPECT_EQ(batch.categorical.size(1), 26);
    EXPECT_EQ(batch.numeric.size(1), 13);
    auto numeric = batch.numeric.accessor<float, 2>();
    auto label = batch.label.accessor<float, 1>();
    for (int64_t i = 0; i < batch.numeric.size(0); ++i) {
      const auto row = static_cast<int64_t>(numeric[i][0]);
      EXPECT_EQ(label[i], row % 3 == 0 ? 1.0f : 0.0f);
      rows.push_back(row);
    }
  }
  return rows;
}

TEST(EncodedSplitTest, SliceSpansPartsInOrder) {
  TempDir dir;
  const std::shared_ptr<const EncodedSplit> split = make_split(dir);
  // Rows 450-649 cross from the first file into the second.
  const std::shared_ptr<const EncodedSplit> middle = split->slice(450, 650);
  ASSERT_EQ(middle->rows(), 200);
  ASSERT_EQ(middle->parts().size(), 2u);
  BatchIterator it(middle, {/*batch_size=*/64, /*shuffle=*/false, /*seed=*/0,
                            /*drop_last=*/false, /*prefetch=*/0, /*block_rows=*/50});
  const std::vector<int64_t> rows = epoch_rows(&it);
  ASSERT_EQ(rows.size(), 200u);
  for (int64_t i = 0; i < 200; ++i) EXPECT_EQ(rows[i], 450 + i);
  EXPECT_EQ(split->slice(0, 0)->rows(), 0);
  EXPECT_THROW(split->slice(900, 1001), std::invalid_argument);
}

TEST(BatchIteratorTest, ShuffledEpochCoversEveryRowOnce) {
  torch::manual_seed(0);
  TempDir dir;
  BatchIterator it(make_split(dir), {/*batch_size=*/64, /*shuffle=*/true, /*seed=*/5,
                                     /*drop_last=*/false, /*prefetch=*/2, /*block_rows=*/50});
  EXPECT_EQ(it.num_batches(), 16);
  const std::vector<int64_t> rows = epoch_rows(&it);
  ASSERT_EQ(rows.size(), 1000u);
  EXPECT_EQ(std::set<int64_t>(rows.begin(), rows.end()).size(), 1000u);
  std::vector<int64_t> sorted_rows = rows;
  std::sort(sorted_rows.begin(), sorted_rows.end());
  EXPECT_NE(rows, sorted_rows);
  EXPECT_EQ(it.position(), (Position{1, 0, 5}));
  EXPECT_NE(epoch_rows(&it), rows);  // a new epoch, a new order
}

TEST(BatchIteratorTest, SameSeedSameOrderAndDropLast) {
  TempDir dir;
  const auto split = make_split(dir);
  BatchOptions options{128, true, 9, true, 0, 64};
  BatchIterator a(split, options), b(split, options);
  EXPECT_EQ(a.num_batches(), 7);
  const auto rows = epoch_rows(&a);
  EXPECT_EQ(rows.size(), 7u * 128u);
  EXPECT_EQ(rows, epoch_rows(&b));
}

TEST(BatchIteratorTest, SeekResumesTheUninterruptedSequence) {
  TempDir dir;
  const auto split = make_split(dir);
  BatchOptions options{100, true, 3, false, 2, 40};
  BatchIterator straight(split, options);
  std::vector<int64_t> expected = epoch_rows(&straight);
  const auto second = epoch_rows(&straight);
  expected.insert(expected.end(), second.begin(), second.end());

  BatchIterator first(split, options);
  Batch batch;
  std::vector<int64_t> seen;
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(first.next(&batch));
    for (int64_t r = 0; r < batch.numeric.size(0); ++r) {
      seen.push_back(static_cast<int64_t>(batch.numeric[r][0].item<float>()));
    }
  }
  const Position saved = first.position();
  EXPECT_EQ(saved, (Position{0, 4, 3}));
  BatchIterator resumed(split, options);
  resumed.seek(saved);
  for (int64_t row : epoch_rows(&resumed)) seen.push_back(row);
  for (int64_t row : epoch_rows(&resumed)) seen.push_back(row);
  EXPECT_EQ(seen, expected);
}

TEST(BatchIteratorTest, UnshuffledBatchesFollowFileOrderWithIds) {
  TempDir dir;
  BatchIterator it(make_split(dir), {300, false, 0, false, 1, 1024});
  Batch batch;
  ASSERT_TRUE(it.next(&batch));
  EXPECT_FLOAT_EQ(batch.numeric[0][0].item<float>(), 0.0f);
  EXPECT_FLOAT_EQ(batch.numeric[299][0].item<float>(), 299.0f);
  EXPECT_TRUE(std::isnan(batch.numeric[0][1].item<float>()));
  EXPECT_EQ(batch.categorical[0][1].item<int64_t>(), kMissingId);
  EXPECT_GE(batch.categorical[0][0].item<int64_t>(), kFirstValueId);
}

}  // namespace
}  // namespace adaensemble::data
