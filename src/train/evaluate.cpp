#include "adaensemble/train/evaluate.h"

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <iostream>

#include "adaensemble/data/dataset.h"
#include "adaensemble/data/pipeline.h"
#include "adaensemble/train/checkpoint.h"
#include "adaensemble/util/files.h"

namespace adaensemble::train {

data::Batch to_device(const data::Batch& batch, const c10::Device& device) {
  if (device.is_cpu()) return batch;
  data::Batch out = batch;
  out.categorical = batch.categorical.to(device, /*non_blocking=*/true);
  out.numeric = batch.numeric.to(device, /*non_blocking=*/true);
  out.label = batch.label.to(device, /*non_blocking=*/true);
  return out;
}

Evaluation evaluate(model::CtrModelImpl& model, std::shared_ptr<const data::EncodedSplit> split,
                    int64_t batch_size, const c10::Device& device,
                    std::vector<float>* predictions) {
  const bool was_training = model.is_training();
  model.eval();
  model.take_stats();
  model.set_collect_stats(true);
  at::NoGradGuard no_grad;

  data::BatchOptions options;
  options.batch_size = batch_size;
  options.shuffle = false;
  options.drop_last = false;
  data::BatchIterator batches(split, options);
  MetricsAccumulator accumulator;
  data::Batch batch;
  while (batches.next(&batch)) {
    const data::Batch on_device = to_device(batch, device);
    const model::ModelOutput out =
        model.forward(on_device.categorical, on_device.numeric, model::RoutingMode::kHard);
    const at::Tensor probabilities = at::sigmoid(out.logits).to(at::kCPU).contiguous();
    const at::Tensor labels = batch.label.contiguous();
    accumulator.add(probabilities.data_ptr<float>(), labels.data_ptr<float>(),
                    probabilities.numel());
  }
  model.set_collect_stats(false);
  model.train(was_training);

  Evaluation evaluation;
  evaluation.metrics = accumulator.compute();
  evaluation.routing = model.take_stats();
  if (predictions) {
    predictions->insert(predictions->end(), accumulator.predictions().begin(),
                        accumulator.predictions().end());
  }
  return evaluation;
}

nlohmann::json evaluation_json(const Evaluation& e) {
  const model::RoutingStats& r = e.routing;
  const double rows = r.rows > 0 ? static_cast<double>(r.rows) : 1.0;
  nlohmann::json exits = nlohmann::json::array();
  for (int64_t count : r.exit_rows) exits.push_back(count / rows);
  nlohmann::json usage = nlohmann::json::array();
  for (const auto& layer : r.expert_rows) {
    nlohmann::json fractions = nlohmann::json::array();
    for (int64_t count : layer) fractions.push_back(count / rows);
    usage.push_back(fractions);
  }
  return {{"rows", e.metrics.rows},
          {"positives", e.metrics.positives},
          {"auc", e.metrics.auc},
          {"logloss", e.metrics.logloss},
          {"normalized_entropy", e.metrics.normalized_entropy},
          {"calibration", e.metrics.calibration},
          {"exit_depth_fraction", exits},
          {"expert_usage", usage},
          {"flops_per_example", r.rows > 0 ? r.flops / rows : 0.0}};
}

nlohmann::json evaluate_files(const std::string& checkpoint, const std::vector<std::string>& files,
                              const std::string& device) {
  const LoadedModel loaded = load_trained_model(checkpoint, device);
  std::vector<config::FileSlice> slices;
  for (const std::string& file : files) {
    config::FileSlice slice;
    slice.path = file;
    slices.push_back(slice);
  }
  data::BadRowReport bad_rows;
  const auto split =
      data::encode_files(slices, loaded.schema, loaded.vocabulary, loaded.config.data.bad_rows,
                         loaded.config.data.cache_dir.string(), &bad_rows);
  const int64_t batch = std::max<int64_t>(loaded.config.train.batch_size, 1024);
  nlohmann::json result =
      evaluation_json(evaluate(*loaded.model, split, batch, c10::Device(device)));
  result["bad_rows"] = data::to_json(bad_rows);
  return result;
}

void write_json_result(const nlohmann::json& result, const std::string& file) {
  std::cout << result.dump() << std::endl;
  if (!file.empty()) write_text_atomically(file, result.dump(2) + "\n");
}

}  // namespace adaensemble::train
