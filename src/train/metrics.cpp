#include "adaensemble/train/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace adaensemble::train {

void MetricsAccumulator::add(const float* predictions, const float* labels, int64_t count) {
  predictions_.insert(predictions_.end(), predictions, predictions + count);
  labels_.insert(labels_.end(), labels, labels + count);
}

void MetricsAccumulator::clear() {
  predictions_.clear();
  labels_.clear();
}

double roc_auc(const std::vector<float>& predictions, const std::vector<float>& labels) {
  if (predictions.size() != labels.size()) throw std::invalid_argument("roc_auc: size mismatch");
  std::vector<int64_t> order(predictions.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](int64_t a, int64_t b) { return predictions[a] < predictions[b]; });

  // Mann-Whitney U: sum of the (tie-averaged) ranks of the positives.
  double positive_rank_sum = 0.0;
  int64_t positives = 0;
  const auto n = static_cast<int64_t>(order.size());
  for (int64_t start = 0; start < n;) {
    int64_t end = start;
    while (end < n && predictions[order[end]] == predictions[order[start]]) ++end;
    const double mean_rank = 0.5 * static_cast<double>(start + end + 1);  // 1-based ranks
    for (int64_t i = start; i < end; ++i) {
      if (labels[order[i]] > 0.5f) {
        positive_rank_sum += mean_rank;
        ++positives;
      }
    }
    start = end;
  }
  const int64_t negatives = n - positives;
  if (positives == 0 || negatives == 0) return 0.5;
  const double u = positive_rank_sum - 0.5 * static_cast<double>(positives) * (positives + 1);
  return u / (static_cast<double>(positives) * static_cast<double>(negatives));
}

Metrics MetricsAccumulator::compute() const {
  Metrics m;
  m.rows = size();
  if (m.rows == 0) return m;
  constexpr double kEps = 1e-7;
  double loss = 0.0;
  double prediction_sum = 0.0;
  for (std::size_t i = 0; i < predictions_.size(); ++i) {
    const double p = std::clamp(static_cast<double>(predictions_[i]), kEps, 1.0 - kEps);
    const bool positive = labels_[i] > 0.5f;
    loss -= positive ? std::log(p) : std::log(1.0 - p);
    prediction_sum += predictions_[i];
    m.positives += positive;
  }
  const double rows = static_cast<double>(m.rows);
  m.logloss = loss / rows;
  const double rate = static_cast<double>(m.positives) / rows;
  const double entropy = rate > 0.0 && rate < 1.0
                             ? -(rate * std::log(rate) + (1.0 - rate) * std::log(1.0 - rate))
                             : 0.0;
  m.normalized_entropy = entropy > 0.0 ? m.logloss / entropy : 0.0;
  m.calibration = m.positives > 0 ? (prediction_sum / rows) / rate : 0.0;
  m.auc = roc_auc(predictions_, labels_);
  return m;
}

}  // namespace adaensemble::train
