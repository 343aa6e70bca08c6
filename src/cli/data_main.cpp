// adaensemble-data: make synthetic Criteo-format data or inspect input files.
#include <CLI/CLI.hpp>
#include <iostream>

#include "adaensemble/config/error.h"
#include "adaensemble/data/inspect.h"
#include "adaensemble/util/program.h"

int main(int argc, char** argv) {
  using namespace adaensemble;
  CLI::App app("Make synthetic data (synth) or summarise input files (inspect).",
               "adaensemble-data");
  app.require_subcommand(1);
  data::SynthOptions synth;
  std::string out, config, format, file;
  CLI::App* synth_cmd = app.add_subcommand("synth", "write day_K.tsv and day_K.truth files");
  synth_cmd->add_option("--out", out, "output directory")->required();
  synth_cmd->add_option("--rows", synth.rows, "rows per day (default 100000)");
  synth_cmd->add_option("--days", synth.days, "number of day files (default 2)");
  synth_cmd->add_option("--seed", synth.seed, "random seed (default 1)");
  CLI::App* inspect = app.add_subcommand("inspect", "print a JSON summary of input files");
  auto* config_option = inspect->add_option("--config", config, "YAML config with a data section");
  inspect->add_option("--format", format, "built-in format: criteo, avazu, ipinyou")
      ->excludes(config_option);
  inspect->add_option("file", file, "input file (with --format)");
  return run_program(app, argc, argv, [&] {
    if (*synth_cmd) {
      std::cout << data::synth_report(out, synth).dump() << std::endl;
    } else if (!config.empty()) {
      std::cout << data::inspect_config(config).dump(1) << std::endl;
    } else if (!format.empty() && !file.empty()) {
      std::cout << data::inspect_format(format, file).dump(1) << std::endl;
    } else {
      throw ConfigError("inspect: give --config FILE or --format NAME FILE");
    }
  });
}
