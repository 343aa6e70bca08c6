// The layout of one input row: which column is the label, which are numeric
// or categorical, which are ignored or expanded (Avazu's `hour`), and how the
// text is delimited. Built from the `data:` config with a format preset.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "adaensemble/config/data_config.h"

namespace adaensemble::data {

using config::HeaderMode;

enum class ColumnKind {
  kLabel,        ///< 0/1 click label.
  kNumeric,      ///< integer or float; float32 in the batch, NaN when missing.
  kCategorical,  ///< any string; a vocabulary id in the batch.
  kIgnore,       ///< read and dropped (Avazu's 20-digit `id`).
  kHour,         ///< YYMMDDHH; becomes two categorical fields, `<name>_of_day` and `weekday`.
};

struct Column {
  std::string name;
  ColumnKind kind = ColumnKind::kCategorical;
  /// Text meaning "missing" besides the empty field (e.g. "-1" for Avazu C20).
  std::string missing_token;
};

struct Schema {
  /// Preset name this schema came from (criteo, avazu, ipinyou, csv, tsv).
  std::string format;
  char delimiter = '\t';
  HeaderMode header = HeaderMode::kNone;
  /// Rows with fewer fields than columns read the absent trailing fields as missing.
  bool allow_short_rows = false;
  /// Values look like `index:1` (iPinYou); the part before ':' is the value.
  bool indexed_values = false;
  /// Every column of the file, in file order.
  std::vector<Column> columns;

  /// Returns the number of numeric fields.
  int64_t num_numeric() const;
  /// Returns the number of categorical fields (an hour column counts as two).
  int64_t num_categorical() const;
  /// Returns the names of the numeric fields, in column order.
  std::vector<std::string> numeric_names() const;
  /// Returns the names of the categorical fields, in column order.
  std::vector<std::string> categorical_names() const;
  /// Returns the index of the label column.
  int label_column() const;
  /// Returns a hash of everything that changes how a row parses.
  uint64_t hash() const;
  /// Renders the schema as JSON text, and reads it back.
  std::string to_json() const;
  static Schema from_json(const std::string& text);
};

/// Returns every field name: numeric first, then categorical (X0's field order).
std::vector<std::string> field_names(const Schema& schema);

/// Builds the schema for `config`: the preset of config.format with the
/// config's overrides. A csv/tsv config with a header and no `columns` takes
/// the column names from the first line of the first training file.
Schema make_schema(const config::DataConfig& config);

/// Builds the schema of a preset with no overrides (inspect --format NAME).
Schema preset_schema(const std::string& format);

/// Returns the 16 iPinYou field names, in order, from a featindex file.
std::vector<std::string> read_featindex_fields(const std::filesystem::path& featindex);

}  // namespace adaensemble::data
