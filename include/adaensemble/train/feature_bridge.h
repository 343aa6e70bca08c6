// Turns the data layer's schema and vocabularies into the model's FeatureSpec.
#pragma once

#include "adaensemble/data/features.h"
#include "adaensemble/model/feature_spec.h"

namespace adaensemble::train {

/// Returns table sizes and field names for the model built on this data.
model::FeatureSpec feature_spec_of(const data::Schema& schema, const data::Vocabulary& vocabulary);

}  // namespace adaensemble::train
