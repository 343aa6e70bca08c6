// adaensemble-train: trains a model from a config file into an output directory.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <iostream>

#include "adaensemble/config/run_config.h"
#include "adaensemble/train/trainer.h"
#include "adaensemble/util/program.h"
#include "adaensemble/util/runtime.h"

int main(int argc, char** argv) {
  CLI::App app("Train an AdaEnsemble CTR model from a YAML config.", "adaensemble-train");
  std::string config_file;
  std::vector<std::string> overrides;
  std::string output;
  bool resume = false;
  app.add_option("--config", config_file, "YAML config file")->required();
  app.add_option("--set", overrides, "Override a config key: KEY=VALUE (VALUE read as YAML)");
  app.add_option("--output", output, "Output directory (overrides output_dir)");
  app.add_flag("--resume", resume, "Continue the run in the output directory");
  return adaensemble::run_program(app, argc, argv, [&] {
    if (!output.empty()) overrides.push_back("output_dir=" + output);
    const auto config = adaensemble::config::load_run_config(config_file, overrides);
    adaensemble::configure_logging(config.log_level);
    const auto summary = adaensemble::train::run_training(config, resume);
    std::cout << summary.to_json().dump() << std::endl;
  });
}
