// A synthetic Criteo-format click log with known click probabilities: Zipf
// categorical values with Criteo-like cardinalities and missing rates, skewed
// integer counts (a few negative I2), and a click probability
// sigmoid(bias + first-order + pairwise + 3-way interaction terms) calibrated
// to the target click rate. Every row depends only on (seed, day, row), so
// the output is deterministic.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace adaensemble::data {

struct SynthOptions {
  /// Rows per day file (default 100000).
  int64_t rows = 100000;
  /// Day files day_0.tsv .. day_{days-1}.tsv (default 2).
  int days = 2;
  uint64_t seed = 1;
  /// Mean click probability the bias is calibrated to (default 0.25).
  double click_rate = 0.25;
  /// Scales of the first-order, pairwise and 3-way logit terms.
  double first_order_scale = 1.15;
  double pairwise_scale = 0.75;
  double three_way_scale = 0.5;
};

/// One generated row: its 40 Criteo fields as text and its click probability.
struct SynthRow {
  int label = 0;
  double probability = 0.0;
  std::string line;  // label\tI1..I13\tC1..C26 without newline
};

class SyntheticCriteo {
 public:
  explicit SyntheticCriteo(const SynthOptions& options);

  /// Generates row `row` of day `day` into `out` (reusing its storage).
  void generate(int day, int64_t row, SynthRow* out) const;
  /// Returns the calibrated logit bias.
  double bias() const { return bias_; }

 private:
  double logit_without_bias(int day, int64_t row, std::string* line, double* first_order) const;

  SynthOptions options_;
  double bias_ = 0.0;
  std::vector<std::pair<int, int>> pairs_;
  std::vector<std::array<int, 3>> triples_;
};

/// Writes day_K.tsv and day_K.truth (one probability per line) into `dir`;
/// returns the paths of the .tsv files.
std::vector<std::filesystem::path> write_synthetic(const std::filesystem::path& dir,
                                                   const SynthOptions& options);

/// Returns the ROC AUC of `scores` against 0/1 `labels` (ties count half).
double roc_auc(const std::vector<double>& scores, const std::vector<int>& labels);

}  // namespace adaensemble::data
