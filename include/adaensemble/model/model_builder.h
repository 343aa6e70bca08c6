// Builds the AdaEnsemble network that a validated `model:` config describes,
// for the input columns of a FeatureSpec. Expert names and options are
// checked against the expert registry here.
#pragma once

#include "adaensemble/config/model_config.h"
#include "adaensemble/model/ada_ensemble.h"
#include "adaensemble/model/feature_spec.h"

namespace adaensemble::model {

/// Builds the network (registering the built-in experts first). Throws
/// ConfigError for an unknown expert name (`model.experts[2] = mlp: unknown
/// expert (registered: ...)`) or invalid expert options.
AdaEnsemble build_model(const config::ModelConfig& config, const FeatureSpec& spec);

/// Returns the embedding options the config asks for.
EmbeddingInputOptions embedding_options(const config::ModelConfig& config);

}  // namespace adaensemble::model
