// A whole run's configuration: the top-level file given to adaensemble-train,
// after `--set` overrides, split into the typed sections of each layer.
#pragma once

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <string>
#include <vector>

#include "adaensemble/config/data_config.h"
#include "adaensemble/config/model_config.h"
#include "adaensemble/config/train_config.h"

namespace adaensemble::config {

struct RunConfig {
  /// Where the run writes metrics, checkpoints and the best model.
  std::string output_dir = "runs/default";
  /// spdlog level: trace, debug, info, warn, error, off.
  std::string log_level = "info";
  DataConfig data;
  ModelConfig model;
  TrainConfig train;
};

/// Parses a config document; relative data paths resolve against `base_dir`.
RunConfig parse_run_config(const YAML::Node& root, const std::filesystem::path& base_dir);

/// Loads `file`, applies each `--set KEY=VALUE` in order, and parses it.
RunConfig load_run_config(const std::string& file, const std::vector<std::string>& overrides);

/// Writes every resolved value; parse_run_config(to_yaml(c), "/") reproduces c.
YAML::Node to_yaml(const RunConfig& config);

}  // namespace adaensemble::config
