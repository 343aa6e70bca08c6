// adaensemble-predict: scores a data file with an exported TorchScript model
// or a checkpoint and writes one click probability per input row, in order.
#include <CLI/CLI.hpp>
#include <iostream>

#include "adaensemble/export/predict.h"
#include "adaensemble/util/program.h"
#include "adaensemble/util/runtime.h"

int main(int argc, char** argv) {
  CLI::App app("Predict click probabilities for the rows of a data file.", "adaensemble-predict");
  std::string model;
  std::string checkpoint;
  adaensemble::exporting::PredictOptions options;
  std::string data;
  std::string output;
  bool no_label = false;
  std::string device = "cpu";
  int threads = 0;
  auto* model_option = app.add_option("--model", model, "An exported TorchScript file");
  auto* checkpoint_option =
      app.add_option("--checkpoint", checkpoint, "Checkpoint directory (or a run directory)");
  model_option->excludes(checkpoint_option);
  app.add_option("--data", data, "The rows to score, in the model's data format")->required();
  app.add_option("--output", output, "Where to write one probability per row")->required();
  app.add_flag("--no-label", no_label, "Rows hold every column except the label");
  app.add_option("--batch-size", options.batch_size, "Rows scored at once (default 4096)");
  app.add_option("--device", device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  app.add_option("--threads", threads, "Intra-op threads (0 = one per core)");
  return adaensemble::run_program(app, argc, argv, [&] {
    adaensemble::configure_logging("warn");
    adaensemble::configure_threads(threads);
    options.data = data;
    options.output = output;
    options.labeled = !no_label;
    std::cout << adaensemble::exporting::predict(model, checkpoint, options, device).dump()
              << std::endl;
  });
}
