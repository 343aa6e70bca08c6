// The input layer: turns per-field categorical ids int64 [B, C] and raw
// numeric values float32 [B, N] into X0 [B, N + C, D], numeric fields first.
// Categorical fields share one concatenated table indexed through per-field
// offsets, so a whole batch is a single embedding lookup.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "adaensemble/model/feature_spec.h"
#include "adaensemble/util/numeric_transform.h"

namespace adaensemble::model {

struct EmbeddingInputOptions {
  /// Embedding size D of every field (default 16).
  int64_t dim = 16;
  /// How numeric fields become vectors. kBucket (default): an embedding row per
  /// bucket of util/numeric_transform.h. kLogLinear: log(1 + max(x, 0)) * w_f + b_f.
  enum class Numeric { kBucket, kLogLinear } numeric = Numeric::kBucket;
  /// Bucketing of kBucket: 64 buckets, fold_negative false (reference preset: true).
  NumericBucketing bucketing;
  /// kLogLinear only: add the per-field bias b_f (default true). Missing values
  /// give log value 0, so they map to b_f (or zero without a bias).
  bool numeric_bias = true;
  /// Map categorical id 0 (OOV) to an all-zero vector that never trains (the
  /// reference code's treatment of rare values). Default false: OOV has a
  /// trained row like any other value.
  bool zero_oov = false;
  /// Produce sparse gradients for the tables (for huge vocabularies; needs an
  /// optimizer that accepts sparse gradients).
  bool sparse_gradients = false;
  /// Standard deviation of the normal initialisation of every table row and
  /// of w_f (default 0.01: large enough that the multiplicative cross and
  /// polynomial experts see non-vanishing products, small enough for the
  /// residual stack to start near the embedding scale). b_f starts at zero.
  double init_std = 0.01;
};

class EmbeddingInputImpl : public torch::nn::Module {
 public:
  EmbeddingInputImpl(const FeatureSpec& spec, EmbeddingInputOptions options);

  /// Creates the tables and offsets and initialises them.
  void reset();

  /// Maps categorical int64 [B, C] (per-field ids, 0 = OOV, 1 = missing) and
  /// numeric float32 [B, N] (raw, NaN = missing) to X0 [B, N + C, D].
  /// Requires: every categorical id in [0, cardinality of its field).
  torch::Tensor forward(const torch::Tensor& categorical, const torch::Tensor& numeric);

  /// Returns the row of `categorical_table` holding id `id` of categorical field `field`.
  int64_t categorical_row(int64_t field, int64_t id) const;

  /// Returns the row of `numeric_table` holding bucket `bucket` of numeric field `field`.
  int64_t numeric_row(int64_t field, int64_t bucket) const;

  void pretty_print(std::ostream& stream) const override;

  const FeatureSpec& spec() const { return spec_; }
  const EmbeddingInputOptions& options() const { return options_; }

  /// [sum of cardinalities, D]: every categorical field's rows, field after field.
  torch::Tensor categorical_table;
  /// kBucket: [N * num_buckets, D]. Undefined for kLogLinear.
  torch::Tensor numeric_table;
  /// kLogLinear: w_f [N, D] and b_f [N, D] (b_f undefined without numeric_bias).
  torch::Tensor numeric_weight;
  torch::Tensor numeric_bias;

 private:
  torch::Tensor embed_categorical(const torch::Tensor& categorical);
  torch::Tensor embed_numeric(const torch::Tensor& numeric);
  void check_ids(const torch::Tensor& categorical) const;

  FeatureSpec spec_;
  EmbeddingInputOptions options_;
  std::vector<int64_t> categorical_offsets_;
  /// Buffers of per-field row offsets, [C] and [N], and of the cardinalities [C],
  /// on the module's device.
  torch::Tensor categorical_offsets_buffer_;
  torch::Tensor categorical_cardinalities_buffer_;
  torch::Tensor numeric_offsets_buffer_;
};

TORCH_MODULE(EmbeddingInput);

}  // namespace adaensemble::model
