// The parsed cache's value codes and dictionary: order of first occurrence,
// the same bytes whatever the number of parser threads, and merged counts.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "adaensemble/data/dataset.h"
#include "adaensemble/data/synthetic.h"
#include "adaensemble/util/files.h"
#include "data_test_util.h"
#include "testing/testing.h"

namespace adaensemble::data {
namespace {

using test::config_for;
using test::data_error_of;
using testing::TempDir;

// A Criteo row with the given label and C1 text; other categorical fields empty.
std::string row_with_c1(const std::string& label, const std::string& c1) {
  return label + "\t1" + std::string(12, '\t') + "\t" + c1 + std::string(25, '\t') + "\n";
}

std::shared_ptr<const ParsedSlice> parse(const std::filesystem::path& file,
                                         const std::filesystem::path& cache, int threads,
                                         config::BadRowPolicy policy = {}) {
  return ParsedSlice::open({file, 0, -1}, preset_schema("criteo"), policy, cache, threads);
}

TEST(CacheTest, DictionaryListsValuesInFirstOccurrenceOrder) {
  TempDir dir;
  const auto file =
      dir.write("o.tsv", row_with_c1("0", "b") + row_with_c1("1", "a") + row_with_c1("0", "b") +
                             row_with_c1("0", "") + row_with_c1("0", "c"));
  const auto parsed = parse(file, dir.path() / "cache", 1);
  const std::vector<FieldDictionary> dictionary = parsed->dictionary();
  ASSERT_EQ(dictionary.size(), 26u);
  const FieldDictionary& c1 = dictionary[0];
  ASSERT_EQ(c1.size(), 3u);
  EXPECT_EQ(c1.value(0), "b");
  EXPECT_EQ(c1.value(1), "a");
  EXPECT_EQ(c1.value(2), "c");
  EXPECT_EQ(c1.counts, (std::vector<int64_t>{2, 1, 1}));
  EXPECT_EQ(c1.hashes[1], hash_bytes("a"));
  const uint32_t* codes = parsed->codes(0);
  EXPECT_EQ(std::vector<uint32_t>(codes, codes + 5), (std::vector<uint32_t>{1, 2, 1, 0, 3}));
  EXPECT_EQ(parsed->missing()[13], 1);
  EXPECT_EQ(dictionary[1].size(), 0u);  // C2 is always missing
}

TEST(CacheTest, DamagedDictionaryIsReported) {
  TempDir dir;
  const auto parsed = parse(dir.write("d.tsv", row_with_c1("0", "b")), dir.path() / "cache", 1);
  std::filesystem::resize_file(parsed->dir() / "dict.bin", 20);
  EXPECT_EQ(
      data_error_of([&] { parsed->dictionary(); }),
      (parsed->dir() / "dict.bin").string() + ": truncated (delete the directory to rebuild it)");
}

// A synthetic file of three 8 MB parse chunks with bad rows in the second and
// third, written once for the suite.
class MultiChunkTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    SynthOptions options;
    options.rows = 80000;
    options.days = 1;
    const auto clean = write_synthetic(dir_->path() / "synth", options).front();
    std::string text = read_text_file(clean);
    // Line 40001 gets label 7 and line 75001 a non-numeric I1.
    text.replace(line_start(text, 40000), 1, "7");
    text.insert(text.find('\t', line_start(text, 75000)) + 1, "x");
    file_ = new std::filesystem::path(dir_->write("multi.tsv", text));
  }
  static void TearDownTestSuite() {
    delete file_;
    delete dir_;
  }
  void SetUp() override {
    ASSERT_GT(std::filesystem::file_size(*file_), std::uintmax_t{16} << 20);
    skip_.mode = config::BadRowPolicy::Mode::kSkip;
    skip_.report_first = 5;
  }

  static std::size_t line_start(const std::string& text, int line) {
    std::size_t at = 0;
    for (int i = 0; i < line; ++i) at = text.find('\n', at) + 1;
    return at;
  }

  static TempDir* dir_;
  static std::filesystem::path* file_;
  config::BadRowPolicy skip_;
};

TempDir* MultiChunkTest::dir_ = nullptr;
std::filesystem::path* MultiChunkTest::file_ = nullptr;

TEST_F(MultiChunkTest, ThreadCountDoesNotChangeTheCache) {
  const auto one = parse(*file_, dir_->path() / "c1", 1, skip_);
  ASSERT_EQ(one->rows(), 79998);
  ASSERT_EQ(one->bad_rows().count, 2);
  ASSERT_EQ(one->bad_rows().first.size(), 2u);
  EXPECT_EQ(one->bad_rows().first[0].message(),
            "multi.tsv:40001: label = \"7\" is not 0 or 1 (check the label column)");
  EXPECT_EQ(one->bad_rows().first[1].line, 75001);
  const std::vector<FieldDictionary> expected = one->dictionary();
  for (const int threads : {2, 3}) {
    SCOPED_TRACE(threads);
    const auto many = parse(*file_, dir_->path() / ("c" + std::to_string(threads)), threads, skip_);
    ASSERT_EQ(many->rows(), one->rows());
    EXPECT_EQ(many->positives(), one->positives());
    EXPECT_EQ(many->missing(), one->missing());
    EXPECT_EQ(many->bad_rows().count, 2);
    ASSERT_EQ(many->bad_rows().first.size(), 2u);
    EXPECT_EQ(many->bad_rows().first[0].message(), one->bad_rows().first[0].message());
    EXPECT_EQ(many->bad_rows().first[1].message(), one->bad_rows().first[1].message());
    const std::vector<FieldDictionary> dictionary = many->dictionary();
    for (int64_t f = 0; f < 26; ++f) {
      EXPECT_EQ(dictionary[f].hashes, expected[f].hashes) << "C" << f + 1;
      EXPECT_EQ(dictionary[f].counts, expected[f].counts) << "C" << f + 1;
      EXPECT_EQ(dictionary[f].text, expected[f].text) << "C" << f + 1;
      EXPECT_EQ(std::memcmp(many->codes(f), one->codes(f), one->rows() * 4), 0) << "C" << f + 1;
    }
    for (int64_t f = 0; f < 13; ++f) {
      EXPECT_EQ(std::memcmp(many->numeric(f), one->numeric(f), one->rows() * 4), 0);
    }
    EXPECT_EQ(std::memcmp(many->labels(), one->labels(), one->rows()), 0);
  }
}

TEST_F(MultiChunkTest, FailPolicyNamesTheFirstBadRowWithThreads) {
  for (const int threads : {1, 3}) {
    EXPECT_EQ(data_error_of([&] { parse(*file_, dir_->path() / "fail", threads); }),
              "multi.tsv:40001: label = \"7\" is not 0 or 1 (check the label column)");
  }
}

TEST(CacheTest, CountsMergeOverTrainingFiles) {
  TempDir dir;
  const auto a =
      dir.write("a.tsv", row_with_c1("0", "x") + row_with_c1("0", "x") + row_with_c1("1", "y"));
  const auto b =
      dir.write("b.tsv", row_with_c1("0", "y") + row_with_c1("0", "y") + row_with_c1("1", "z"));
  const PreparedData data = prepare_data(config_for("criteo", {a, b}, dir.path() / "cache"));
  EXPECT_EQ(data.vocabulary.field(0).values, (std::vector<std::string>{"y", "x", "z"}));
  EXPECT_EQ(data.vocabulary.field(0).counts, (std::vector<int64_t>{3, 2, 1}));
  const auto& second = data.train->parts()[1];
  EXPECT_EQ(second.ids->field(0)[2], 4);  // z
  EXPECT_EQ(second.ids->field(1)[0], kMissingId);
}

}  // namespace
}  // namespace adaensemble::data
