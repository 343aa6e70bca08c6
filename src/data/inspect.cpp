#include "adaensemble/data/inspect.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <unordered_set>

#include "adaensemble/config/config_node.h"
#include "adaensemble/config/data_config.h"
#include "adaensemble/config/error.h"

namespace adaensemble::data {
namespace fs = std::filesystem;

nlohmann::json inspect_files(const std::vector<FileSlice>& files, const Schema& schema,
                             const fs::path& cache_dir, int64_t report_first) {
  BadRowPolicy policy;
  policy.mode = BadRowPolicy::Mode::kSkip;
  policy.max_fraction = 1.0;
  policy.report_first = report_first;
  const fs::path cache = resolve_cache_dir(cache_dir);
  const int64_t num_numeric = schema.num_numeric();
  const int64_t num_categorical = schema.num_categorical();

  BadRowReport bad;
  int64_t rows = 0, positives = 0;
  std::vector<int64_t> missing(num_numeric + num_categorical, 0);
  std::vector<std::unordered_set<uint32_t>> numeric_values(num_numeric);
  std::vector<std::unordered_set<uint64_t>> categorical_values(num_categorical);
  nlohmann::json names = nlohmann::json::array();
  for (const FileSlice& file : files) {
    names.push_back(file.path.string());
    const auto parsed = ParsedSlice::open(file, schema, policy, cache);
    bad.merge(parsed->bad_rows(), report_first);
    rows += parsed->rows();
    positives += parsed->positives();
    for (std::size_t f = 0; f < missing.size(); ++f) missing[f] += parsed->missing()[f];
    for (int64_t f = 0; f < num_numeric; ++f) {
      const float* values = parsed->numeric(f);
      for (int64_t r = 0; r < parsed->rows(); ++r) {
        if (std::isnan(values[r])) continue;
        uint32_t bits;
        std::memcpy(&bits, &values[r], 4);
        numeric_values[f].insert(bits);
      }
    }
    const auto dictionary = parsed->dictionary();
    for (int64_t f = 0; f < num_categorical; ++f) {
      for (const uint64_t hash : dictionary[f].hashes) categorical_values[f].insert(hash);
    }
  }

  nlohmann::json fields = nlohmann::json::array();
  const auto rate = [&](int64_t count) { return rows ? static_cast<double>(count) / rows : 0.0; };
  const std::vector<std::string> numeric_names = schema.numeric_names();
  const std::vector<std::string> categorical_names = schema.categorical_names();
  for (int64_t f = 0; f < num_numeric; ++f) {
    fields.push_back({{"name", numeric_names[f]},
                      {"kind", "numeric"},
                      {"distinct", numeric_values[f].size()},
                      {"missing_rate", rate(missing[f])}});
  }
  for (int64_t f = 0; f < num_categorical; ++f) {
    fields.push_back({{"name", categorical_names[f]},
                      {"kind", "categorical"},
                      {"distinct", categorical_values[f].size()},
                      {"missing_rate", rate(missing[num_numeric + f])}});
  }
  nlohmann::json first = nlohmann::json::array();
  for (const BadRow& row : bad.first) {
    first.push_back({{"file", row.file}, {"line", row.line}, {"reason", row.reason}});
  }
  return {{"files", names},
          {"format", schema.format},
          {"rows", rows},
          {"positives", positives},
          {"bad_rows", {{"count", bad.count}, {"first", first}}},
          {"fields", fields}};
}

nlohmann::json inspect_config(const fs::path& config_file) {
  YAML::Node root = config::load_yaml_file(config_file.string());
  config::ConfigNode top(root, "");
  const config::DataConfig config =
      config::parse_data_config(top.child("data"), config_file.parent_path());
  std::vector<FileSlice> files = config.train;
  files.insert(files.end(), config.valid.begin(), config.valid.end());
  files.insert(files.end(), config.test.begin(), config.test.end());
  if (files.empty()) throw ConfigError("data.train: missing (the config lists no data files)");
  return inspect_files(files, make_schema(config), config.cache_dir, config.bad_rows.report_first);
}

nlohmann::json inspect_format(const std::string& format, const fs::path& file) {
  config::DataConfig config;
  config.format = format;
  config.train = {FileSlice{file, 0, -1}};
  if (format == "csv" || format == "tsv") {
    throw ConfigError("--format " + format + ": csv/tsv need a schema (use --config FILE)");
  }
  return inspect_files(config.train, make_schema(config), config.cache_dir);
}

nlohmann::json synth_report(const fs::path& dir, const SynthOptions& options) {
  const std::vector<fs::path> files = write_synthetic(dir, options);
  nlohmann::json days = nlohmann::json::array();
  for (const fs::path& file : files) {
    fs::path truth = file;
    truth.replace_extension(".truth");
    std::ifstream probabilities(truth);
    std::ifstream rows(file);
    std::vector<double> scores;
    std::vector<int> labels;
    std::string line;
    double p = 0;
    while (std::getline(rows, line) && probabilities >> p) {
      labels.push_back(line[0] == '1');
      scores.push_back(p);
    }
    int64_t clicks = 0;
    for (int label : labels) clicks += label;
    days.push_back({{"file", file.string()},
                    {"truth", truth.string()},
                    {"rows", labels.size()},
                    {"click_rate", labels.empty() ? 0.0 : double(clicks) / labels.size()},
                    {"truth_auc", roc_auc(scores, labels)}});
  }
  return {{"out", dir.string()}, {"seed", options.seed}, {"days", days}};
}

}  // namespace adaensemble::data
