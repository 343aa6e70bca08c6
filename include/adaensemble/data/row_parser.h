// Splits one text row by the schema and converts its fields: the label to
// 0/1, numeric fields to float32 (NaN = missing), categorical fields to their
// value text and 64-bit hash. Reused for every row; allocates nothing per row.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "adaensemble/data/schema.h"

namespace adaensemble::data {

/// One parsed row; the string views point into the line or static storage.
struct ParsedRow {
  uint8_t label = 0;
  std::vector<float> numeric;
  /// kMissingHash for a missing field.
  std::vector<uint64_t> hashes;
  std::vector<std::string_view> values;
};

class RowParser {
 public:
  explicit RowParser(const Schema& schema);

  /// Parses the row [begin, end) (no line terminator; a trailing '\r' is
  /// dropped). Returns false and sets `reason` when the row is bad.
  bool parse(const char* begin, const char* end, ParsedRow* row, std::string* reason) const;

  /// Parses the line starting at `begin` and ending at the first '\n' before
  /// `limit` (or at `limit`), like parse(). On success sets `line_end` to that
  /// '\n' (or `limit`); a bad row leaves it unset.
  bool parse_line(const char* begin, const char* limit, ParsedRow* row, std::string* reason,
                  const char** line_end) const;

  /// Parses the row's fields without a label (schema column order, label
  /// column left out), e.g. raw features at prediction time.
  bool parse_features(const std::vector<std::string>& fields, ParsedRow* row,
                      std::string* reason) const;

  /// Parses one numeric text; returns false with `reason` for non-numbers.
  static bool parse_number(std::string_view name, const char* begin, const char* end, float* out,
                           std::string* reason);

 private:
  /// How a column is parsed: inline for plain categorical and numeric columns.
  enum class Path : uint8_t { kGeneral, kCategorical, kNumeric };

  bool take(std::size_t column, const char* begin, const char* end, ParsedRow* row,
            std::string* reason) const;
  bool field(std::size_t column, const char* begin, const char* end, ParsedRow* row,
             std::string* reason) const;
  void missing(std::size_t column, ParsedRow* row) const;

  Schema schema_;
  /// Per column: index into numeric / categorical outputs (-1 for none).
  std::vector<int> slot_;
  std::vector<Path> path_;
  int64_t fields_ = 0;
  std::size_t numeric_ = 0;
  std::size_t categorical_ = 0;
};

}  // namespace adaensemble::data
