// The numeric-feature transforms shared by training, evaluation and export.
// Raw values arrive as float32 with NaN marking a missing value.
//
// Bucket transform (default, the reference code's): id = floor(ln(x^2 + 1)).
//   Non-negative x use ids [0, num_buckets - 3], the largest id catching the tail;
//   negative x (Criteo I2 holds -1 and -2) get the id num_buckets - 2 of their
//   own unless `fold_negative` is set, in which case they share the id of |x|
//   exactly as the reference code does; missing gets num_buckets - 1.
// Log transform: log(1 + max(x, 0)), missing -> 0; the embedding layer scales a
//   learned per-field vector by it.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace adaensemble {

struct NumericBucketing {
  /// Rows in each numeric field's bucket table, missing and negative included.
  int64_t num_buckets = 64;
  /// Map negative values to the bucket of their absolute value (reference code).
  bool fold_negative = false;
};

/// Returns the bucket id of one raw value (NaN = missing).
int64_t numeric_bucket(float value, const NumericBucketing& options);

/// Maps raw values [..] float32 to bucket ids [..] int64, elementwise.
at::Tensor numeric_buckets(const at::Tensor& values, const NumericBucketing& options);

/// Returns log(1 + max(x, 0)), with NaN (missing) mapped to 0, elementwise.
at::Tensor numeric_log(const at::Tensor& values);

}  // namespace adaensemble
