// Scoring a whole encoded split with a model: metrics plus the routing
// statistics (expert usage, exit depths, FLOPs) of what actually ran.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "adaensemble/data/batch_iterator.h"
#include "adaensemble/model/ctr_model.h"
#include "adaensemble/train/metrics.h"

namespace adaensemble::train {

struct Evaluation {
  Metrics metrics;
  model::RoutingStats routing;
};

/// Scores every row of `split` in order, in eval mode without gradients.
/// When `predictions` is given, the probabilities are appended to it.
Evaluation evaluate(model::CtrModelImpl& model, std::shared_ptr<const data::EncodedSplit> split,
                    int64_t batch_size, const c10::Device& device,
                    std::vector<float>* predictions = nullptr);

/// Renders an evaluation as the eval program's JSON object.
nlohmann::json evaluation_json(const Evaluation& evaluation);

/// Scores `files` with the checkpoint at `checkpoint` (a checkpoint or run
/// directory), encoding them with its schema, vocabularies and bad-row policy.
/// Returns evaluation_json() plus `bad_rows`.
nlohmann::json evaluate_files(const std::string& checkpoint, const std::vector<std::string>& files,
                              const std::string& device);

/// Prints `result` as one JSON line on stdout and, when `file` is not empty,
/// writes it there atomically.
void write_json_result(const nlohmann::json& result, const std::string& file);

/// Moves a batch's tensors to `device` (no copy on CPU).
data::Batch to_device(const data::Batch& batch, const c10::Device& device);

}  // namespace adaensemble::train
