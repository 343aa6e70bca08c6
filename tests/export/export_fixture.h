// Shared set-up of the export tests: the real Criteo sample's schema,
// vocabularies and held-out rows (encoded by the data layer and as raw
// strings), and models built in-process with their weights scrambled so that
// routing, exits and outputs are far from their near-uniform initial state.
#pragma once

#include <ATen/ATen.h>
#include <torch/script.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "adaensemble/config/run_config.h"
#include "adaensemble/data/batch_iterator.h"
#include "adaensemble/data/dataset.h"
#include "adaensemble/export/exporter.h"
#include "adaensemble/model/ctr_model.h"
#include "adaensemble/model/model_factory.h"
#include "adaensemble/train/feature_bridge.h"
#include "testing/testing.h"

namespace adaensemble::testing {

inline constexpr const char* kCriteoSample =
    "criteo/criteo_kaggle_head10k.autoint_train_examples.txt";

/// A sample's config, prepared data and test rows: encoded by the data layer
/// and as raw feature strings (every column but the label, in file order).
struct SampleRows {
  std::string config_file;             ///< Under configs/.
  std::vector<std::string> overrides;  ///< Applied to it, the cache directory included.
  config::RunConfig config;
  data::PreparedData data;
  at::Tensor categorical;  ///< int64 [rows, C] of the test split.
  at::Tensor numeric;      ///< float32 [rows, N], NaN = missing.
  std::vector<std::vector<std::string>> raw;
};

/// Splits a line by `delimiter`.
inline std::vector<std::string> split_line(const std::string& line, char delimiter) {
  std::vector<std::string> fields;
  std::size_t start = 0;
  while (true) {
    const std::size_t found = line.find(delimiter, start);
    fields.push_back(line.substr(start, found - start));
    if (found == std::string::npos) return fields;
    start = found + 1;
  }
}

/// Prepares the data of `config_file` with `overrides` (`--set` syntax; the
/// cache goes to `cache_dir`) and reads its test split, which must be data
/// rows [first_row, first_row + rows) of `test_file`.
inline std::unique_ptr<SampleRows> load_sample(const std::string& config_file,
                                               std::vector<std::string> overrides,
                                               const std::filesystem::path& cache_dir,
                                               const std::filesystem::path& test_file,
                                               int64_t first_row, int64_t rows) {
  auto out = std::make_unique<SampleRows>();
  overrides.push_back("data.cache_dir=" + cache_dir.string());
  overrides.push_back("data.threads=1");
  out->config_file = (source_dir() / "configs" / config_file).string();
  out->overrides = overrides;
  out->config = config::load_run_config(out->config_file, overrides);
  out->data = data::prepare_data(out->config.data);
  data::BatchOptions options;
  options.batch_size = rows;
  options.prefetch = 0;
  data::BatchIterator batches(out->data.test, options);
  data::Batch batch;
  batches.next(&batch);
  out->categorical = batch.categorical;
  out->numeric = batch.numeric;

  const data::Schema& schema = out->data.schema;
  std::vector<std::string> names;
  for (const data::Column& column : schema.columns) names.push_back(column.name);
  std::ifstream in(test_file);
  std::string line;
  for (int64_t row = 0; std::getline(in, line);) {
    std::vector<std::string> fields = split_line(line, schema.delimiter);
    if (row == 0 && fields == names) continue;  // A header line.
    if (row >= first_row && row < first_row + rows) {
      fields.erase(fields.begin() + schema.label_column());
      out->raw.push_back(std::move(fields));
    }
    ++row;
  }
  return out;
}

inline constexpr int64_t kFirstTestRow = 9000;
inline constexpr int64_t kTestRows = 1000;

/// Returns the Criteo sample prepared by configs/criteo_sample.yaml (test
/// split: data rows [9000, 10000)) once per process, or null when absent.
inline const SampleRows* sample_rows() {
  static const std::unique_ptr<SampleRows> sample = []() -> std::unique_ptr<SampleRows> {
    const auto file = shared_data_file(kCriteoSample);
    if (!file) return nullptr;
    static TempDir cache;
    return load_sample("criteo_sample.yaml", {}, cache.path(), *file, kFirstTestRow, kTestRows);
  }();
  return sample.get();
}

/// Scrambles every parameter (and batch-norm statistics) so that gates route
/// rows apart, exits spread over the layers and outputs are not near 0.5.
inline void scramble(torch::nn::Module& model, uint64_t seed) {
  torch::manual_seed(seed);
  at::NoGradGuard no_grad;
  for (auto& item : model.named_parameters()) {
    at::Tensor& p = item.value();
    const std::string& name = item.key();
    if (name.find("table") != std::string::npos || name.find("numeric_") != std::string::npos) {
      p.normal_(0.0, 0.5);
    } else if (p.dim() >= 2) {
      p.mul_(2.0);
    } else {
      p.normal_(0.0, 0.3);
    }
  }
  for (auto& item : model.named_buffers()) {
    const std::string& name = item.key();
    if (name.find("running_mean") != std::string::npos) item.value().normal_(0.0, 0.2);
    if (name.find("running_var") != std::string::npos) item.value().uniform_(0.5, 2.0);
  }
}

/// Builds the model of `sample`'s config with `overrides` (`--set` syntax,
/// model keys) applied, scrambles its weights with `seed`, moves its step past
/// the annealing and puts it in eval mode.
inline model::CtrModel scrambled_model(const SampleRows& sample,
                                       const std::vector<std::string>& overrides,
                                       config::RunConfig* config_out, uint64_t seed = 1) {
  std::vector<std::string> all = sample.overrides;
  all.insert(all.end(), overrides.begin(), overrides.end());
  *config_out = config::load_run_config(sample.config_file, all);
  torch::manual_seed(seed);
  model::CtrModel model = model::build_ctr_model(
      config_out->model, train::feature_spec_of(sample.data.schema, sample.data.vocabulary));
  scramble(*model, seed);
  model->set_step(1000000);
  model->eval();
  return model;
}

/// Returns the export inputs of `model` over the sample's schema and vocabulary.
inline exporting::ExportInputs export_inputs(const SampleRows& sample, model::CtrModelImpl& model,
                                             const config::RunConfig& config) {
  exporting::ExportInputs inputs;
  inputs.model = &model;
  inputs.config = &config;
  inputs.schema = &sample.data.schema;
  inputs.vocabulary = &sample.data.vocabulary;
  return inputs;
}

/// Returns probabilities of the in-process model (hard routing, no gradients).
inline at::Tensor in_process_probabilities(model::CtrModelImpl& model,
                                           const at::Tensor& categorical,
                                           const at::Tensor& numeric) {
  at::NoGradGuard no_grad;
  return at::sigmoid(model.forward(categorical, numeric, model::RoutingMode::kHard).logits);
}

/// Saves `module` to `file` and loads it back.
inline torch::jit::Module save_and_load(torch::jit::Module& module,
                                        const std::filesystem::path& file) {
  module.save(file.string());
  return torch::jit::load(file.string());
}

/// Returns max |a - b|.
inline double max_difference(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

}  // namespace adaensemble::testing
