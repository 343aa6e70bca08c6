// The data path in one include for the trainer: prepare_data, encode_files,
// the batch iterator, and JSON forms of an iterator position and a bad-row
// report (for checkpoints and metrics).
#pragma once

#include <nlohmann/json.hpp>

#include "adaensemble/data/bad_rows.h"
#include "adaensemble/data/batch_iterator.h"
#include "adaensemble/data/dataset.h"
#include "adaensemble/data/features.h"

namespace adaensemble::data {

/// Returns {"epoch", "batch", "seed"} of `position`.
nlohmann::json position_to_json(const Position& position);
/// Reads what position_to_json wrote; throws DataError when fields are missing.
Position position_from_json(const nlohmann::json& json);
/// Returns {"count", "rows", "first": [{"file", "line", "reason"}]} of `report`.
nlohmann::json to_json(const BadRowReport& report);

}  // namespace adaensemble::data
