// adaensemble-export: writes a checkpoint's model, schema and vocabularies as
// one TorchScript file that LibTorch or PyTorch loads on its own.
#include <CLI/CLI.hpp>
#include <iostream>

#include "adaensemble/export/exporter.h"
#include "adaensemble/util/program.h"
#include "adaensemble/util/runtime.h"

int main(int argc, char** argv) {
  CLI::App app("Export a trained checkpoint as a TorchScript module.", "adaensemble-export");
  std::string checkpoint;
  std::string output;
  app.add_option("--checkpoint", checkpoint, "Checkpoint directory (or a run directory)")
      ->required();
  app.add_option("--output", output, "The TorchScript file to write (e.g. model.pt)")->required();
  return adaensemble::run_program(app, argc, argv, [&] {
    adaensemble::configure_logging("warn");
    adaensemble::configure_threads(1);
    std::cout << adaensemble::exporting::export_checkpoint(checkpoint, output).dump() << std::endl;
  });
}
