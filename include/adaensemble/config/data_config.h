// The typed form of the `data:` config section: input format and schema
// overrides, the train/valid/test file lists, vocabulary thresholds, the
// bad-row policy and where the column cache lives.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "adaensemble/config/config_node.h"

namespace adaensemble::config {

/// One input file, optionally restricted to data rows [begin, end) counted
/// from 0 (the header line, if any, is not a data row).
struct FileSlice {
  std::filesystem::path path;
  /// First data row to read.
  int64_t begin = 0;
  /// One past the last data row to read; -1 reads to the end of the file.
  int64_t end = -1;

  bool has_range() const { return begin > 0 || end >= 0; }
};

/// What to do with rows that do not fit the schema.
struct BadRowPolicy {
  enum class Mode { kFail, kSkip };
  /// kFail (default) stops at the first bad row; kSkip drops bad rows.
  Mode mode = Mode::kFail;
  /// Under kSkip, the largest tolerated fraction of bad rows per file (default 0.01).
  double max_fraction = 0.01;
  /// How many bad rows are reported with file, line and reason (default 5).
  int64_t report_first = 5;
};

/// Whether the first line of each file is a header.
enum class HeaderMode { kNone, kPresent, kAuto };

/// Everything under `data:`. Schema fields left empty take the preset's value.
struct DataConfig {
  /// criteo | avazu | ipinyou | csv | tsv (default criteo).
  std::string format = "criteo";
  /// Field delimiter, one character; empty = the preset's.
  std::string delimiter;
  /// Header handling; unset = the preset's (criteo/ipinyou none, avazu auto, csv present).
  std::optional<HeaderMode> header;
  /// Label column name (csv/tsv; presets know theirs).
  std::string label;
  /// All column names in file order (csv/tsv without header; optional with one).
  std::vector<std::string> columns;
  /// Numeric and categorical column names (csv/tsv).
  std::vector<std::string> numeric;
  std::vector<std::string> categorical;
  /// Columns to ignore; unset = the preset's (avazu drops `id`).
  std::optional<std::vector<std::string>> drop;
  /// Rows whose trailing empty fields were stripped read as missing values
  /// (unset = the preset's: true for criteo, false otherwise).
  std::optional<bool> allow_short_rows;
  /// Per-column text meaning "missing" besides the empty field (avazu: C20 = "-1").
  std::optional<std::map<std::string, std::string>> missing_values;
  /// iPinYou `featindex` file (`field:value<TAB>index`), used to name fields.
  std::filesystem::path featindex;

  std::vector<FileSlice> train;
  std::vector<FileSlice> valid;
  std::vector<FileSlice> test;
  /// Fraction of each training slice's last rows held out for validation
  /// when `valid` is empty (default 0: no validation split).
  double valid_fraction = 0.0;

  /// Categorical values seen fewer times than this in training map to OOV (default 1).
  int64_t min_count = 1;
  /// Per-field overrides of min_count, by field name.
  std::map<std::string, int64_t> field_min_count;

  BadRowPolicy bad_rows;
  /// Cache directory; empty = $XDG_CACHE_HOME/adaensemble or ~/.cache/adaensemble.
  std::filesystem::path cache_dir;
  /// Parser threads; 0 = one per hardware core.
  int threads = 0;
};

/// Parses the `data:` section; relative paths resolve against base_dir.
/// Unknown keys, out-of-range values and malformed splits throw ConfigError.
DataConfig parse_data_config(ConfigNode node, const std::filesystem::path& base_dir);

/// Renders `config` as the `data:` section (round-trips through parse_data_config).
YAML::Node to_yaml(const DataConfig& config);

/// Parses the `data.header` text form: true/false/auto.
HeaderMode parse_header_mode(const std::string& text, const std::string& path);

}  // namespace adaensemble::config
