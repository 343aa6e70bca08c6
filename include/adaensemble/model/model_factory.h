// Builds the network a `model:` config section asks for: AdaEnsemble (the
// default) or the logistic-regression baseline on the same inputs.
#pragma once

#include "adaensemble/config/model_config.h"
#include "adaensemble/model/ctr_model.h"
#include "adaensemble/model/feature_spec.h"

namespace adaensemble::model {

/// Returns a freshly initialised model for `config` over `spec`; expert names
/// and options are validated here (ConfigError names the key).
CtrModel build_ctr_model(const config::ModelConfig& config, const FeatureSpec& spec);

}  // namespace adaensemble::model
