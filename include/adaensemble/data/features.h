// What a checkpoint keeps of the data path: the schema and the vocabularies,
// saved beside the model so evaluation, prediction and export encode rows
// exactly as training did, plus the encoder of single raw rows.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "adaensemble/data/row_parser.h"
#include "adaensemble/data/schema.h"
#include "adaensemble/data/vocabulary.h"

namespace adaensemble::data {

/// Writes schema.json and vocabulary.tsv into `dir` (a checkpoint directory).
void save_features(const Schema& schema, const Vocabulary& vocabulary,
                   const std::filesystem::path& dir);
/// Reads what save_features wrote.
std::pair<Schema, Vocabulary> load_features(const std::filesystem::path& dir);

/// Encodes raw feature strings of single rows for prediction and export.
class RowEncoder {
 public:
  RowEncoder(const Schema& schema, const Vocabulary& vocabulary);

  /// Encodes one row's raw string fields (label excluded, schema column
  /// order) into `ids` [num_categorical] and `numeric` [num_numeric] (NaN =
  /// missing). Throws DataError naming the problem for a malformed row.
  void encode(const std::vector<std::string>& fields, int64_t* ids, float* numeric) const;

 private:
  const Vocabulary* vocabulary_;
  RowParser parser_;
};

}  // namespace adaensemble::data
