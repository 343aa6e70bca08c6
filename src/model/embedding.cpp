#include "adaensemble/model/embedding.h"

#include <ATen/ATen.h>
#include <torch/nn/init.h>

#include <numeric>

namespace adaensemble::model {

EmbeddingInputImpl::EmbeddingInputImpl(const FeatureSpec& spec, EmbeddingInputOptions options)
    : spec_(spec), options_(options) {
  TORCH_CHECK(spec_.num_fields() >= 1, "embedding input: the feature spec has no fields");
  TORCH_CHECK(spec_.num_numeric >= 0, "embedding input: num_numeric must be >= 0, got ",
              spec_.num_numeric);
  for (std::size_t c = 0; c < spec_.cardinalities.size(); ++c) {
    TORCH_CHECK(spec_.cardinalities[c] >= 1, "embedding input: categorical field ",
                spec_.num_numeric + static_cast<int64_t>(c), " has cardinality ",
                spec_.cardinalities[c], " (needs >= 1 row)");
  }
  TORCH_CHECK(options_.dim >= 1, "embedding input: dim must be >= 1, got ", options_.dim);
  TORCH_CHECK(options_.bucketing.num_buckets >= 3,
              "embedding input: num_buckets must be >= 3 (value, negative and missing "
              "buckets), got ",
              options_.bucketing.num_buckets);
  TORCH_CHECK(options_.init_std >= 0.0, "embedding input: init_std must be >= 0, got ",
              options_.init_std);
  reset();
}

void EmbeddingInputImpl::reset() {
  const int64_t d = options_.dim;
  const int64_t num_categorical = static_cast<int64_t>(spec_.cardinalities.size());
  categorical_offsets_.assign(spec_.cardinalities.size(), 0);
  if (num_categorical > 1) {
    std::partial_sum(spec_.cardinalities.begin(), spec_.cardinalities.end() - 1,
                     categorical_offsets_.begin() + 1);
  }
  const int64_t total_rows =
      std::accumulate(spec_.cardinalities.begin(), spec_.cardinalities.end(), int64_t{0});
  categorical_offsets_buffer_ = register_buffer(
      "categorical_offsets", torch::tensor(categorical_offsets_, torch::kLong).view({-1}));
  categorical_cardinalities_buffer_ = register_buffer(
      "categorical_cardinalities", torch::tensor(spec_.cardinalities, torch::kLong).view({-1}));
  if (num_categorical > 0) {
    categorical_table = register_parameter("categorical_table", torch::empty({total_rows, d}));
    torch::nn::init::normal_(categorical_table, 0.0, options_.init_std);
    if (options_.zero_oov) {
      torch::NoGradGuard no_grad;
      for (const int64_t offset : categorical_offsets_) categorical_table[offset].zero_();
    }
  }

  const int64_t n = spec_.num_numeric;
  if (n == 0) return;
  if (options_.numeric == EmbeddingInputOptions::Numeric::kBucket) {
    const int64_t buckets = options_.bucketing.num_buckets;
    numeric_table = register_parameter("numeric_table", torch::empty({n * buckets, d}));
    torch::nn::init::normal_(numeric_table, 0.0, options_.init_std);
    numeric_offsets_buffer_ =
        register_buffer("numeric_offsets", torch::arange(n, torch::kLong) * buckets);
  } else {
    numeric_weight = register_parameter("numeric_weight", torch::empty({n, d}));
    torch::nn::init::normal_(numeric_weight, 0.0, options_.init_std);
    if (options_.numeric_bias)
      numeric_bias = register_parameter("numeric_bias", torch::zeros({n, d}));
  }
}

int64_t EmbeddingInputImpl::categorical_row(int64_t field, int64_t id) const {
  TORCH_CHECK(field >= 0 && field < static_cast<int64_t>(categorical_offsets_.size()),
              "embedding input: no categorical field ", field);
  return categorical_offsets_[field] + id;
}

int64_t EmbeddingInputImpl::numeric_row(int64_t field, int64_t bucket) const {
  TORCH_CHECK(field >= 0 && field < spec_.num_numeric, "embedding input: no numeric field ", field);
  return field * options_.bucketing.num_buckets + bucket;
}

torch::Tensor EmbeddingInputImpl::forward(const torch::Tensor& categorical,
                                          const torch::Tensor& numeric) {
  const int64_t num_categorical = static_cast<int64_t>(spec_.cardinalities.size());
  TORCH_CHECK(categorical.dim() == 2 && categorical.size(1) == num_categorical,
              "embedding input: categorical must be [batch, ", num_categorical, "], got ",
              categorical.sizes());
  TORCH_CHECK(categorical.scalar_type() == at::kLong,
              "embedding input: categorical ids must be int64, got ", categorical.scalar_type());
  TORCH_CHECK(numeric.dim() == 2 && numeric.size(1) == spec_.num_numeric,
              "embedding input: numeric must be [batch, ", spec_.num_numeric, "], got ",
              numeric.sizes());
  TORCH_CHECK(numeric.is_floating_point(), "embedding input: numeric values must be floating, got ",
              numeric.scalar_type());
  TORCH_CHECK(numeric.size(0) == categorical.size(0),
              "embedding input: categorical and numeric batch sizes differ (", categorical.size(0),
              " vs ", numeric.size(0), ")");

  std::vector<torch::Tensor> parts;
  if (spec_.num_numeric > 0) parts.push_back(embed_numeric(numeric));
  if (num_categorical > 0) parts.push_back(embed_categorical(categorical));
  return parts.size() == 1 ? parts[0] : at::cat(parts, 1);
}

void EmbeddingInputImpl::check_ids(const torch::Tensor& categorical) const {
  if (categorical.size(0) == 0) return;
  const torch::Tensor low = std::get<0>(categorical.min(0));
  const torch::Tensor high = std::get<0>(categorical.max(0));
  const torch::Tensor bad = (low < 0) | (high >= categorical_cardinalities_buffer_);
  if (!bad.any().item<bool>()) return;
  // Only on failure: find the first offending field for the message.
  const torch::Tensor low_cpu = low.cpu();
  const torch::Tensor high_cpu = high.cpu();
  for (std::size_t c = 0; c < spec_.cardinalities.size(); ++c) {
    const int64_t lo = low_cpu[c].item<int64_t>();
    const int64_t hi = high_cpu[c].item<int64_t>();
    if (lo >= 0 && hi < spec_.cardinalities[c]) continue;
    const std::size_t position = static_cast<std::size_t>(spec_.num_numeric) + c;
    const std::string name = position < spec_.field_names.size()
                                 ? spec_.field_names[position]
                                 : "categorical column " + std::to_string(c);
    TORCH_CHECK(false, "embedding input: field ", name, " has id ", lo < 0 ? lo : hi,
                " outside [0, ", spec_.cardinalities[c],
                ") (ids must come from this model's vocabulary)");
  }
}

torch::Tensor EmbeddingInputImpl::embed_categorical(const torch::Tensor& categorical) {
  check_ids(categorical);
  const torch::Tensor rows = categorical + categorical_offsets_buffer_;
  torch::Tensor out = at::embedding(categorical_table, rows, /*padding_idx=*/-1,
                                    /*scale_grad_by_freq=*/false, options_.sparse_gradients);
  if (options_.zero_oov) {
    // The mask both zeroes the output and stops any gradient reaching the OOV rows.
    out = out * (categorical != 0).unsqueeze(-1).to(out.scalar_type());
  }
  return out;
}

torch::Tensor EmbeddingInputImpl::embed_numeric(const torch::Tensor& numeric) {
  if (options_.numeric == EmbeddingInputOptions::Numeric::kBucket) {
    const torch::Tensor rows =
        numeric_buckets(numeric, options_.bucketing) + numeric_offsets_buffer_;
    return at::embedding(numeric_table, rows, /*padding_idx=*/-1, /*scale_grad_by_freq=*/false,
                         options_.sparse_gradients);
  }
  const torch::Tensor value = numeric_log(numeric).to(numeric_weight.scalar_type()).unsqueeze(-1);
  torch::Tensor out = value * numeric_weight;
  if (numeric_bias.defined()) out = out + numeric_bias;
  return out;
}

void EmbeddingInputImpl::pretty_print(std::ostream& stream) const {
  stream << "adaensemble::EmbeddingInput(numeric=" << spec_.num_numeric
         << ", categorical=" << spec_.cardinalities.size() << ", dim=" << options_.dim
         << ", numeric_mode="
         << (options_.numeric == EmbeddingInputOptions::Numeric::kBucket ? "bucket" : "log_linear")
         << ", zero_oov=" << (options_.zero_oov ? "true" : "false") << ")";
}

}  // namespace adaensemble::model
