// Encoded splits and the one call that turns a `data:` config into them.
// Stage 3 of the cache holds int32 vocabulary ids per categorical field for a
// parsed slice and a vocabulary; an EncodedSplit strings such slices together
// (labels and numeric values come from stage 1). Everything is memory-mapped
// and read-only, so one split can feed several iterators and threads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "adaensemble/config/data_config.h"
#include "adaensemble/data/bad_rows.h"
#include "adaensemble/data/features.h"
#include "adaensemble/data/parsed_cache.h"
#include "adaensemble/data/row_parser.h"
#include "adaensemble/data/schema.h"
#include "adaensemble/data/vocabulary.h"

namespace adaensemble::data {

/// Stage 3: a parsed slice's categorical columns as vocabulary ids.
class EncodedIds {
 public:
  /// Opens the cached ids of `parsed` under `vocabulary`, encoding them first when absent.
  static std::shared_ptr<const EncodedIds> open(const ParsedSlice& parsed,
                                                const Vocabulary& vocabulary,
                                                const std::filesystem::path& cache_dir,
                                                int threads = 0);
  /// Returns the ids of categorical field `field`, one per parsed row.
  const int32_t* field(int64_t field) const;

 private:
  std::vector<std::unique_ptr<MappedFile>> ids_;
};

class EncodedSplit {
 public:
  /// Rows [begin, end) of one parsed slice with their ids.
  struct Part {
    std::shared_ptr<const ParsedSlice> parsed;
    std::shared_ptr<const EncodedIds> ids;
    int64_t begin = 0;
    int64_t end = 0;
    int64_t rows() const { return end - begin; }
  };

  EncodedSplit(std::vector<Part> parts, int64_t num_numeric, int64_t num_categorical);

  int64_t rows() const { return rows_; }
  int64_t num_numeric() const { return num_numeric_; }
  int64_t num_categorical() const { return num_categorical_; }
  const std::vector<Part>& parts() const { return parts_; }
  /// Returns the number of rows labelled 1.
  int64_t positives() const;
  /// Returns rows [begin, end) of this split, counted over its parts in order
  /// (no copy: the result shares the caches).
  /// REQUIRES: 0 <= begin <= end <= rows(); throws std::invalid_argument otherwise.
  std::shared_ptr<const EncodedSplit> slice(int64_t begin, int64_t end) const;

  /// Copies `count` rows starting at `row` of part `part` into row-major
  /// buffers starting at output row `out_row`: ids [*, C], numeric [*, N], labels [*].
  void copy_rows(std::size_t part, int64_t row, int64_t count, int64_t out_row, int64_t* ids,
                 float* numeric, float* labels) const;

 private:
  std::vector<Part> parts_;
  int64_t num_numeric_ = 0;
  int64_t num_categorical_ = 0;
  int64_t rows_ = 0;
};

struct PreparedData {
  Schema schema;
  Vocabulary vocabulary;
  std::shared_ptr<const EncodedSplit> train, valid, test;
  BadRowReport bad_rows;
};

/// Builds or reuses the caches for every split of `config`: parses the
/// files, builds the vocabulary from the training rows only, and encodes
/// train, valid (own files or data.valid_fraction) and test (may be empty).
PreparedData prepare_data(const config::DataConfig& config);

/// Encodes `files` with a fixed schema and vocabulary (evaluation, prediction);
/// adds their bad rows to `report` when given.
std::shared_ptr<const EncodedSplit> encode_files(const std::vector<FileSlice>& files,
                                                 const Schema& schema, const Vocabulary& vocabulary,
                                                 const BadRowPolicy& policy,
                                                 const std::string& cache_dir, BadRowReport* report,
                                                 int threads = 0);

}  // namespace adaensemble::data
