#include "adaensemble/train/feature_bridge.h"

namespace adaensemble::train {

model::FeatureSpec feature_spec_of(const data::Schema& schema, const data::Vocabulary& vocabulary) {
  model::FeatureSpec spec;
  spec.cardinalities = vocabulary.cardinalities();
  spec.num_numeric = schema.num_numeric();
  spec.field_names = data::field_names(schema);
  return spec;
}

}  // namespace adaensemble::train
