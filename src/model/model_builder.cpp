#include "adaensemble/model/model_builder.h"

#include <c10/util/Exception.h>

#include <string>
#include <vector>

#include "adaensemble/config/error.h"
#include "adaensemble/model/experts/expert.h"

namespace adaensemble::model {
namespace {

std::string name_path(const config::ModelConfig& config, int64_t layer, std::size_t index) {
  const std::string position = "[" + std::to_string(index) + "]";
  if (config.layers.empty()) return "model.experts" + position;
  return "model.layers[" + std::to_string(layer) + "]" + position;
}

NoisyCosineGateOptions gate_options(const config::GateConfig& gate) {
  NoisyCosineGateOptions options;
  options.reduction = gate.reduction;
  options.gate_dim = gate.gate_dim;
  options.noise_eps = gate.noise_eps;
  options.temperature = gate.temperature;
  options.stop_gradient = gate.stop_gradient;
  return options;
}

NormKind norm_kind(const std::string& name) {
  if (name == "layer") return NormKind::kLayer;
  if (name == "batch") return NormKind::kBatch;
  return NormKind::kNone;
}

void check_names(const config::ModelConfig& config, const ExpertRegistry& registry) {
  for (int64_t layer = 0; layer < config.num_layers; ++layer) {
    const auto& names = config.experts_of(layer);
    for (std::size_t i = 0; i < names.size(); ++i) {
      registry.check_name(names[i], name_path(config, layer, i));
    }
    if (config.layers.empty()) break;
  }
  for (const auto& entry : config.expert_options) {
    const std::string name = entry.first.as<std::string>();
    registry.check_name(name, "model.expert_options." + name);
  }
}

SparseMoELayer build_layer(const config::ModelConfig& config, int64_t layer,
                           const ExpertShape& shape) {
  std::vector<Expert> experts;
  for (const std::string& name : config.experts_of(layer)) {
    const YAML::Node options = config.expert_options[name];
    experts.push_back(ExpertRegistry::global().create(
        name, shape, options.IsDefined() ? options : YAML::Node(YAML::NodeType::Map),
        "model.expert_options." + name));
  }
  SparseMoELayerOptions options;
  options.shape = shape;
  options.gate = gate_options(config.gate);
  options.top_k = config.gate.top_k;
  options.weighted_combine = config.gate.combine == "weighted";
  options.norm = norm_kind(config.norm);
  options.dropout = config.dropout;
  options.balance_count =
      config.gate.balance_count == "topk" ? BalanceCount::kTopK : BalanceCount::kArgmax;
  options.alpha = config.gate.alpha;
  options.z_loss = config.gate.z_loss;
  options.prior = config.experts_prior;
  return SparseMoELayer(options, std::move(experts));
}

}  // namespace

EmbeddingInputOptions embedding_options(const config::ModelConfig& config) {
  EmbeddingInputOptions options;
  options.dim = config.embedding_dim;
  options.numeric = config.embedding.numeric == "log_linear"
                        ? EmbeddingInputOptions::Numeric::kLogLinear
                        : EmbeddingInputOptions::Numeric::kBucket;
  options.bucketing.num_buckets = config.embedding.num_buckets;
  options.bucketing.fold_negative = config.embedding.fold_negative;
  options.zero_oov = config.embedding.zero_oov;
  options.sparse_gradients = config.embedding.sparse_gradients;
  options.init_std = config.embedding.init_std;
  return options;
}

AdaEnsemble build_model(const config::ModelConfig& config, const FeatureSpec& spec) {
  register_builtin_experts();
  check_names(config, ExpertRegistry::global());
  TORCH_CHECK(spec.num_fields() > 0, "build_model: the feature spec has no fields");
  const ExpertShape shape{spec.num_fields(), config.embedding_dim};

  std::vector<SparseMoELayer> layers;
  int64_t max_experts = 0;
  for (int64_t layer = 0; layer < config.num_layers; ++layer) {
    layers.push_back(build_layer(config, layer, shape));
    max_experts = std::max(max_experts, layers.back()->num_experts());
  }

  DepthControllerOptions controller;
  controller.num_layers = config.num_layers;
  controller.enabled = config.controller.enabled;
  controller.gate = gate_options(config.gate);
  controller.prior = config.controller.prior;
  controller.alpha = config.controller.alpha;
  controller.estimator =
      config.controller.estimator == "mlp" ? EstimatorKind::kMlp : EstimatorKind::kLinear;
  controller.estimator_hidden = config.controller.estimator_hidden;

  TopKSchedule schedule(max_experts, config.gate.top_k, config.gate.anneal_steps,
                        config.gate.anneal_schedule);
  return AdaEnsemble(EmbeddingInput(spec, embedding_options(config)), std::move(layers),
                     DepthController(shape.flat_dim(), controller), schedule);
}

}  // namespace adaensemble::model
