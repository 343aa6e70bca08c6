// Batch prediction: reads a data file row by row with the data layer's parser
// and the model's schema and vocabularies, scores it with an exported
// TorchScript file or a checkpoint, and writes one probability per input row,
// in input order. Bad rows follow the training config's policy: `fail` stops
// at the first (file, line and reason in the error), `skip` writes `nan` on
// that row's line and fails only above data.bad_rows.max_fraction.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "adaensemble/config/data_config.h"
#include "adaensemble/data/bad_rows.h"
#include "adaensemble/data/schema.h"
#include "adaensemble/data/vocabulary.h"

namespace adaensemble::exporting {

struct PredictOptions {
  /// The rows to score: plain text or .gz, in the schema's format.
  std::filesystem::path data;
  /// Where the probabilities go, one per line (written atomically).
  std::filesystem::path output;
  /// Rows carry the label column, as training files do (true). False: every
  /// column but the label, in file order.
  bool labeled = true;
  /// Rows scored at once (4096).
  int64_t batch_size = 4096;
};

struct PredictReport {
  /// Data rows read (bad ones included) and rows given a probability.
  int64_t rows = 0;
  int64_t scored = 0;
  data::BadRowReport bad_rows;
};

/// Maps ids int64 [B, C] and raw numeric values float32 [B, N] to click
/// probabilities float32 [B].
using Scorer = std::function<at::Tensor(const at::Tensor& categorical, const at::Tensor& numeric)>;

/// Scores `options.data` with `scorer`, encoding rows with `schema` and
/// `vocabulary` and applying `policy` to bad rows. Throws DataError for a bad
/// row under `fail`, too many under `skip`, or an unreadable file.
PredictReport predict_file(const data::Schema& schema, const data::Vocabulary& vocabulary,
                           const config::BadRowPolicy& policy, const Scorer& scorer,
                           const PredictOptions& options);

/// Scores with an exported file (`model_file`) or a checkpoint or run
/// directory (`checkpoint`); exactly one must be set. Returns the summary:
/// rows, scored, output, bad_rows.
nlohmann::json predict(const std::string& model_file, const std::string& checkpoint,
                       const PredictOptions& options, const std::string& device = "cpu");

}  // namespace adaensemble::exporting
