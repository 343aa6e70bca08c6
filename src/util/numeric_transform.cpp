#include "adaensemble/util/numeric_transform.h"

#include <ATen/ATen.h>

#include <cmath>

namespace adaensemble {

int64_t numeric_bucket(float value, const NumericBucketing& options) {
  const int64_t missing = options.num_buckets - 1;
  const int64_t negative = options.num_buckets - 2;
  const int64_t top = options.num_buckets - 3;
  if (std::isnan(value)) return missing;
  if (value < 0 && !options.fold_negative) return negative;
  const double x = static_cast<double>(value);
  const auto id = static_cast<int64_t>(std::floor(std::log(x * x + 1.0)));
  return id > top ? top : id;
}

at::Tensor numeric_buckets(const at::Tensor& values, const NumericBucketing& options) {
  const at::Tensor x = values.to(at::kDouble);
  at::Tensor ids = at::floor(at::log(x * x + 1.0)).clamp_max(options.num_buckets - 3);
  ids = ids.nan_to_num(0.0).to(at::kLong);
  if (!options.fold_negative)
    ids = at::where(x < 0, at::full_like(ids, options.num_buckets - 2), ids);
  return at::where(at::isnan(x), at::full_like(ids, options.num_buckets - 1), ids);
}

at::Tensor numeric_log(const at::Tensor& values) {
  return at::log1p(values.clamp_min(0.0)).nan_to_num(0.0);
}

}  // namespace adaensemble
