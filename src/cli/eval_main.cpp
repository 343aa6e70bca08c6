// adaensemble-eval: scores held-out files with a checkpoint's own schema,
// vocabularies and model, and prints metrics and routing statistics as JSON.
#include <CLI/CLI.hpp>

#include <iostream>

#include "adaensemble/train/evaluate.h"
#include "adaensemble/util/program.h"
#include "adaensemble/util/runtime.h"

int main(int argc, char** argv) {
  CLI::App app("Evaluate a trained checkpoint on held-out files.", "adaensemble-eval");
  std::string checkpoint;
  std::vector<std::string> files;
  std::string output;
  std::string device = "cpu";
  int threads = 0;
  app.add_option("--checkpoint", checkpoint, "Checkpoint directory (or a run directory)")
      ->required();
  app.add_option("--data", files, "Data files to score")->required();
  app.add_option("--output", output, "Also write the JSON result to this file");
  app.add_option("--device", device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  app.add_option("--threads", threads, "Intra-op threads (0 = one per core)");
  return adaensemble::run_program(app, argc, argv, [&] {
    adaensemble::configure_logging("warn");
    adaensemble::configure_threads(threads);
    const auto result = adaensemble::train::evaluate_files(checkpoint, files, device);
    adaensemble::train::write_json_result(result, output);
  });
}
