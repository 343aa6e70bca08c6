#include "adaensemble/model/model_factory.h"

#include "adaensemble/model/logistic.h"
#include "adaensemble/model/model_builder.h"

namespace adaensemble::model {

CtrModel build_ctr_model(const config::ModelConfig& config, const FeatureSpec& spec) {
  if (config.architecture == "logistic") {
    return std::make_shared<LogisticRegressionImpl>(spec, embedding_options(config));
  }
  return build_model(config, spec).ptr();
}

}  // namespace adaensemble::model
