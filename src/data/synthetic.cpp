#include "adaensemble/data/synthetic.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "adaensemble/config/error.h"
#include "adaensemble/data/hashing.h"
#include "adaensemble/util/files.h"

namespace adaensemble::data {
namespace fs = std::filesystem;
namespace {

constexpr int kNumeric = 13;
constexpr int kCategorical = 26;
constexpr int kFields = kNumeric + kCategorical;
constexpr int kLatent = 4;
constexpr int kPairs = 18;
constexpr int kTriples = 6;

// Criteo Kaggle cardinalities of C1..C26 (the full train.txt).
constexpr int64_t kCardinality[kCategorical] = {
    1460, 583,   10131227, 2202608, 305,  24,   12517, 633,     3,  93145, 5683,   8351593, 3194,
    27,   14992, 5461306,  10,      5652, 2173, 4,     7046547, 18, 15,    286181, 105,     142572};
// Missing rates of I1..I13 and C1..C26 in the first 10,000 rows of train.txt.
constexpr double kNumericMissing[kNumeric] = {0.4481, 0.0,    0.2037, 0.1978, 0.0494,
                                              0.2511, 0.0492, 0.001,  0.0492, 0.4481,
                                              0.0492, 0.7735, 0.1978};
constexpr double kCategoricalMissing[kCategorical] = {
    0, 0, 0.0357, 0.0357, 0, 0.1332, 0,      0,      0,      0, 0,      0.0357, 0,
    0, 0, 0.0357, 0,      0, 0.4496, 0.4496, 0.0357, 0.8182, 0, 0.0357, 0.4496, 0.4496};
// Log-scale location and spread of each count column.
constexpr double kNumericMu[kNumeric] = {0.6, 3.0, 2.3, 1.6, 7.5, 3.8, 1.4,
                                         2.3, 3.6, 0.3, 1.0, 0.4, 1.6};
constexpr double kNumericSigma[kNumeric] = {1.2, 1.8, 1.5, 1.0, 2.0, 1.8, 1.4,
                                            1.1, 1.4, 0.6, 0.9, 1.2, 1.1};

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double uniform() { return (next() >> 11) * 0x1.0p-53; }
  double normal() {
    const double u = std::max(uniform(), 1e-300);
    return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * uniform());
  }

 private:
  uint64_t state_;
};

// Zipf(n, s) by rejection-inversion (Hormann and Derflinger), O(1) per draw.
class Zipf {
 public:
  Zipf(int64_t n, double s) : n_(n), s_(s) {
    h_x1_ = h_integral(1.5) - 1.0;
    h_n_ = h_integral(n + 0.5);
    cut_ = 2.0 - h_integral_inverse(h_integral(2.5) - h(2.0));
  }
  int64_t sample(Rng& rng) const {
    while (true) {
      const double u = h_n_ + rng.uniform() * (h_x1_ - h_n_);
      const double x = h_integral_inverse(u);
      int64_t k = static_cast<int64_t>(x + 0.5);
      k = std::clamp<int64_t>(k, 1, n_);
      if (k - x <= cut_ || u >= h_integral(k + 0.5) - h(static_cast<double>(k))) return k;
    }
  }

 private:
  static double helper1(double x) { return std::fabs(x) > 1e-8 ? std::log1p(x) / x : 1.0 - x / 2; }
  static double helper2(double x) { return std::fabs(x) > 1e-8 ? std::expm1(x) / x : 1.0 + x / 2; }
  double h(double x) const { return std::exp(-s_ * std::log(x)); }
  double h_integral(double x) const {
    const double log_x = std::log(x);
    return helper2((1.0 - s_) * log_x) * log_x;
  }
  double h_integral_inverse(double x) const {
    double t = x * (1.0 - s_);
    if (t < -1.0) t = -1.0;
    return std::exp(helper1(t) * x);
  }
  int64_t n_;
  double s_, h_x1_, h_n_, cut_;
};

// Zipf samplers for C1..C26, built once.
const std::vector<Zipf>& samplers() {
  static const std::vector<Zipf> zipf = [] {
    std::vector<Zipf> out;
    for (int f = 0; f < kCategorical; ++f) {
      out.emplace_back(kCardinality[f], kCardinality[f] > 100000 ? 1.05 : 1.15);
    }
    return out;
  }();
  return zipf;
}

// A standard normal drawn from a hash of its coordinates (fixed per value).
double hashed_normal(uint64_t seed, int field, int64_t value, int slot) {
  Rng rng(hash_combine(hash_combine(seed, static_cast<uint64_t>(field * 64 + slot)),
                       static_cast<uint64_t>(value)));
  return rng.normal();
}

void append_int(std::string* line, int64_t value) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  line->append(buffer, result.ptr);
}

void append_hex8(std::string* line, uint32_t value) {
  static const char kDigits[] = "0123456789abcdef";
  char buffer[8];
  for (int i = 7; i >= 0; --i) {
    buffer[i] = kDigits[value & 15];
    value >>= 4;
  }
  line->append(buffer, 8);
}

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

}  // namespace

SyntheticCriteo::SyntheticCriteo(const SynthOptions& options) : options_(options) {
  Rng rng(hash_combine(options_.seed, 0x5eed));
  while (static_cast<int>(pairs_.size()) < kPairs) {
    const int a = static_cast<int>(rng.next() % kFields),
              b = static_cast<int>(rng.next() % kFields);
    const std::pair<int, int> pair(std::min(a, b), std::max(a, b));
    if (a != b && std::find(pairs_.begin(), pairs_.end(), pair) == pairs_.end())
      pairs_.push_back(pair);
  }
  while (static_cast<int>(triples_.size()) < kTriples) {
    std::array<int, 3> t = {static_cast<int>(rng.next() % kFields),
                            static_cast<int>(rng.next() % kFields),
                            static_cast<int>(rng.next() % kFields)};
    std::sort(t.begin(), t.end());
    if (t[0] != t[1] && t[1] != t[2]) triples_.push_back(t);
  }
  // Calibrate the bias so the mean click probability hits the target.
  std::vector<double> logits;
  std::string scratch;
  double first = 0.0;
  for (int64_t r = 0; r < 20000; ++r) logits.push_back(logit_without_bias(-1, r, &scratch, &first));
  double low = -20.0, high = 20.0;
  for (int step = 0; step < 60; ++step) {
    const double mid = (low + high) / 2;
    double mean = 0.0;
    for (double logit : logits) mean += sigmoid(logit + mid);
    mean /= static_cast<double>(logits.size());
    (mean < options_.click_rate ? low : high) = mid;
  }
  bias_ = (low + high) / 2;
}

double SyntheticCriteo::logit_without_bias(int day, int64_t row, std::string* line,
                                           double* first_order) const {
  Rng rng(hash_combine(hash_combine(options_.seed, static_cast<uint64_t>(day + 7)),
                       static_cast<uint64_t>(row)));
  const uint64_t weights = hash_combine(options_.seed, 0x77);
  int64_t value_id[kFields];
  line->clear();
  line->push_back('0');  // label placeholder, set by the caller
  for (int f = 0; f < kNumeric; ++f) {
    line->push_back('\t');
    if (rng.uniform() < kNumericMissing[f]) {
      value_id[f] = 0;
      continue;
    }
    int64_t value;
    const double u = rng.uniform();
    if (f == 1 && u < 0.0975) {
      value = u < 0.0006 ? -2 : -1;
    } else {
      value = static_cast<int64_t>(
                  std::floor(std::exp(kNumericMu[f] + kNumericSigma[f] * rng.normal()))) -
              1;
      value = std::max<int64_t>(value, 0);
    }
    append_int(line, value);
    // The weights depend on the log bucket, as a bucketising model sees it.
    value_id[f] =
        value < 0 ? 100 - value : 1 + static_cast<int64_t>(std::log(double(value) * value + 1));
  }
  const auto& zipf = samplers();
  for (int f = 0; f < kCategorical; ++f) {
    line->push_back('\t');
    if (rng.uniform() < kCategoricalMissing[f]) {
      value_id[kNumeric + f] = 0;
      continue;
    }
    const int64_t rank = zipf[f].sample(rng);
    value_id[kNumeric + f] = rank;
    append_hex8(line,
                static_cast<uint32_t>(hash_combine(weights + f, static_cast<uint64_t>(rank))));
  }

  double first = 0.0;
  for (int f = 0; f < kFields; ++f) first += hashed_normal(weights, f, value_id[f], 0);
  first *= options_.first_order_scale / std::sqrt(static_cast<double>(kFields));
  double latent[kFields][kLatent];
  bool have[kFields] = {};
  auto vector_of = [&](int f) -> const double* {
    if (!have[f]) {
      for (int d = 0; d < kLatent; ++d)
        latent[f][d] = hashed_normal(weights, f, value_id[f], d + 1);
      have[f] = true;
    }
    return latent[f];
  };
  double pairwise = 0.0;
  for (const auto& [a, b] : pairs_) {
    const double* u = vector_of(a);
    const double* v = vector_of(b);
    for (int d = 0; d < kLatent; ++d) pairwise += u[d] * v[d];
  }
  pairwise *= options_.pairwise_scale / std::sqrt(static_cast<double>(kPairs * kLatent));
  double three_way = 0.0;
  for (const auto& t : triples_) {
    const double* u = vector_of(t[0]);
    const double* v = vector_of(t[1]);
    const double* w = vector_of(t[2]);
    for (int d = 0; d < kLatent; ++d) three_way += u[d] * v[d] * w[d];
  }
  three_way *= options_.three_way_scale / std::sqrt(static_cast<double>(kTriples * kLatent));
  *first_order = first;
  return first + pairwise + three_way;
}

void SyntheticCriteo::generate(int day, int64_t row, SynthRow* out) const {
  double first = 0.0;
  const double logit = logit_without_bias(day, row, &out->line, &first) + bias_;
  out->probability = sigmoid(logit);
  Rng rng(hash_combine(hash_combine(options_.seed, 0xc11c), hash_combine(day, row)));
  out->label = rng.uniform() < out->probability ? 1 : 0;
  out->line[0] = static_cast<char>('0' + out->label);
}

std::vector<fs::path> write_synthetic(const fs::path& dir, const SynthOptions& options) {
  if (options.rows < 1 || options.days < 1) {
    throw ConfigError("synth: --rows and --days must be >= 1");
  }
  fs::create_directories(dir);
  const SyntheticCriteo generator(options);
  std::vector<fs::path> files;
  SynthRow row;
  for (int day = 0; day < options.days; ++day) {
    const fs::path data = dir / ("day_" + std::to_string(day) + ".tsv");
    const fs::path truth = dir / ("day_" + std::to_string(day) + ".truth");
    auto write_both = [&](const fs::path& data_temp) {
      write_file_atomically(truth, [&](const fs::path& truth_temp) {
        std::FILE* out = std::fopen(data_temp.c_str(), "wb");
        std::FILE* probabilities = std::fopen(truth_temp.c_str(), "wb");
        if (!out || !probabilities) {
          if (out) std::fclose(out);
          if (probabilities) std::fclose(probabilities);
          throw DataError(dir.string() + ": cannot write synthetic data (check --out)");
        }
        std::string buffer;
        char number[32];
        for (int64_t r = 0; r < options.rows; ++r) {
          generator.generate(day, r, &row);
          buffer += row.line;
          buffer += '\n';
          if (buffer.size() > (1 << 20)) {
            std::fwrite(buffer.data(), 1, buffer.size(), out);
            buffer.clear();
          }
          const int n = std::snprintf(number, sizeof(number), "%.6f\n", row.probability);
          std::fwrite(number, 1, n, probabilities);
        }
        std::fwrite(buffer.data(), 1, buffer.size(), out);
        const bool ok = std::fclose(out) == 0 && std::fclose(probabilities) == 0;
        if (!ok) throw DataError(dir.string() + ": write failed (check free space)");
      });
    };
    write_file_atomically(data, write_both);
    files.push_back(data);
  }
  return files;
}

double roc_auc(const std::vector<double>& scores, const std::vector<int>& labels) {
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
  double positives = 0, negatives = 0, rank_sum = 0;
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j < order.size() && scores[order[j]] == scores[order[i]]) ++j;
    const double mean_rank = (i + 1 + j) / 2.0;  // ranks i+1..j, ties share their mean
    for (std::size_t k = i; k < j; ++k) {
      if (labels[order[k]]) {
        rank_sum += mean_rank;
        ++positives;
      }
    }
    i = j;
  }
  negatives = static_cast<double>(scores.size()) - positives;
  if (positives == 0 || negatives == 0) return 0.5;
  return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives);
}

}  // namespace adaensemble::data
