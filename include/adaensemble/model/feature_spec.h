// What the model needs to know about the input columns: the vocabulary size
// of each categorical field and the number of numeric fields.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace adaensemble::model {

struct FeatureSpec {
  /// Rows of each categorical field's embedding table (OOV and missing ids
  /// included), in column order.
  std::vector<int64_t> cardinalities;
  /// Number of numeric columns (raw float32 values, NaN = missing).
  int64_t num_numeric = 0;
  /// Field names in the order of X0's field axis: numeric fields first, then
  /// categorical ones (Criteo's own column order). For logs and reports only.
  std::vector<std::string> field_names;

  int64_t num_fields() const {
    return num_numeric + static_cast<int64_t>(cardinalities.size());
  }
};

}  // namespace adaensemble::model
