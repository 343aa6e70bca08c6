// Rows that do not fit the schema: where they are, why, and how many. The
// policy itself (fail or skip up to a fraction) lives in the data config.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "adaensemble/config/data_config.h"

namespace adaensemble::data {

using config::BadRowPolicy;

struct BadRow {
  /// File name (without directory), 1-based physical line, and the reason.
  std::string file;
  int64_t line = 0;
  std::string reason;

  /// Returns "file:line: reason".
  std::string message() const { return file + ":" + std::to_string(line) + ": " + reason; }
};

struct BadRowReport {
  /// Bad rows seen (all of them, reported or not).
  int64_t count = 0;
  /// Data rows read, bad ones included.
  int64_t rows = 0;
  /// The first bad rows, in file order, at most BadRowPolicy::report_first.
  std::vector<BadRow> first;

  /// Adds `other` to this report, keeping at most `limit` examples.
  void merge(const BadRowReport& other, int64_t limit);
};

}  // namespace adaensemble::data
