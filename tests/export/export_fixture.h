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
#include "adaensemble/data/dataset.h"
#include "adaensemble/export/exporter.h"
#include "adaensemble/data/batch_iterator.h"
#include "adaensemble/model/ctr_model.h"
#include "adaensemble/model/model_factory.h"
#include "adaensemble/train/feature_bridge.h"
#include "testing/testing.h"

namespace adaensemble::testing {

inline constexpr const char* kCriteoSample =
    "criteo/criteo_kaggle_head10k.autoint_train_examples.txt";

/// The sample's test rows (data rows [9000, 10000)), prepared once per process.
struct SampleRows {
  config::RunConfig config;  ///< configs/criteo_sample.yaml, its cache in a temp dir.
  data::PreparedData data;
  at::Tensor categorical;  ///< int64 [1000, 26], encoded by the data layer.
  at::Tensor numeric;      ///< float32 [1000, 13], NaN = missing.
  std::vector<std::vector<std::string>> raw;  ///< The same rows' feature strings.
};

inline constexpr int64_t kFirstTestRow = 9000;
inline constexpr int64_t kTestRows = 1000;

/// Returns the prepared sample, or null when the shared data is absent.
inline const SampleRows* sample_rows() {
  static const std::unique_ptr<SampleRows> sample = []() -> std::unique_ptr<SampleRows> {
    const auto file = shared_data_file(kCriteoSample);
    if (!file) return nullptr;
    static TempDir cache;
    auto out = std::make_unique<SampleRows>();
    out->config = config::load_run_config(
        (source_dir() / "configs" / "criteo_sample.yaml").string(),
        {"data.cache_dir=" + cache.path().string(), "data.threads=1"});
    out->data = data::prepare_data(out->config.data);
    data::BatchOptions options;
    options.batch_size = kTestRows;
    options.prefetch = 0;
    data::BatchIterator batches(out->data.test, options);
    data::Batch batch;
    batches.next(&batch);
    out->categorical = batch.categorical;
    out->numeric = batch.numeric;

    std::ifstream in(*file);
    std::string line;
    for (int64_t row = 0; std::getline(in, line); ++row) {
      if (row < kFirstTestRow) continue;
      std::vector<std::string> fields;
      std::size_t start = line.find('\t') + 1;  // The label is column 0.
      while (true) {
        const std::size_t tab = line.find('\t', start);
        fields.push_back(line.substr(start, tab - start));
        if (tab == std::string::npos) break;
        start = tab + 1;
      }
      out->raw.push_back(std::move(fields));
    }
    return out;
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

/// Builds the model of configs/criteo_sample.yaml with `overrides` (`--set`
/// syntax) applied, scrambles its weights with `seed`, moves its step past
/// the annealing and puts it in eval mode.
inline model::CtrModel scrambled_model(const SampleRows& sample,
                                       const std::vector<std::string>& overrides,
                                       config::RunConfig* config_out, uint64_t seed = 1) {
  std::vector<std::string> all = {"data.cache_dir=" + sample.config.data.cache_dir.string()};
  all.insert(all.end(), overrides.begin(), overrides.end());
  *config_out =
      config::load_run_config((source_dir() / "configs" / "criteo_sample.yaml").string(), all);
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
