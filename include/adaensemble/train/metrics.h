// Offline CTR metrics over a whole evaluation pass: AUC, logloss, normalized
// entropy and calibration. Predictions are click probabilities in [0, 1].
#pragma once

#include <cstdint>
#include <vector>

namespace adaensemble::train {

struct Metrics {
  int64_t rows = 0;
  int64_t positives = 0;
  double auc = 0.0;       ///< Ties share credit; 0.5 when one class is absent.
  double logloss = 0.0;   ///< Mean binary cross-entropy, probabilities clipped to [1e-7, 1-1e-7].
  double normalized_entropy = 0.0;  ///< logloss / entropy of the evaluated set's click rate.
  double calibration = 0.0;         ///< Mean prediction / mean label (0 when no positives).
};

/// Accumulates predictions and labels batch by batch, then computes Metrics.
class MetricsAccumulator {
 public:
  /// Appends one batch. Requires: equal sizes, labels 0 or 1.
  void add(const float* predictions, const float* labels, int64_t count);
  void clear();
  int64_t size() const { return static_cast<int64_t>(predictions_.size()); }
  const std::vector<float>& predictions() const { return predictions_; }

  /// Computes every metric over all rows added so far.
  Metrics compute() const;

 private:
  std::vector<float> predictions_;
  std::vector<float> labels_;
};

/// Returns the area under the ROC curve (ties counted one half).
double roc_auc(const std::vector<float>& predictions, const std::vector<float>& labels);

}  // namespace adaensemble::train
