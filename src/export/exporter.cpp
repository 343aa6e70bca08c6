#include "adaensemble/export/exporter.h"

#include <yaml-cpp/yaml.h>

#include <stdexcept>

#include "adaensemble/config/run_config.h"
#include "adaensemble/data/features.h"
#include "adaensemble/train/checkpoint.h"
#include "adaensemble/util/files.h"
#include "script_parts.h"

namespace adaensemble::exporting {
namespace fs = std::filesystem;

torch::jit::Module build_script_module(const ExportInputs& inputs) {
  if (!inputs.model || !inputs.config || !inputs.schema || !inputs.vocabulary) {
    throw std::invalid_argument("export: model, config, schema and vocabulary are all required");
  }
  torch::jit::Module root = detail::new_module("Model");
  YAML::Emitter config;
  config << config::to_yaml(*inputs.config);
  root.register_attribute("format_version", c10::IntType::get(), kExportFormatVersion);
  root.register_attribute("config", c10::StringType::get(), std::string(config.c_str()) + "\n");
  root.register_attribute("schema", c10::StringType::get(), inputs.schema->to_json());
  c10::List<std::string> field_names;
  for (const std::string& name : data::field_names(*inputs.schema)) field_names.push_back(name);
  root.register_attribute("field_names", c10::ListType::ofStrings(), field_names);

  std::string architecture;
  if (auto* network = dynamic_cast<model::AdaEnsembleImpl*>(inputs.model)) {
    architecture = "adaensemble";
    detail::add_network(root, *network);
  } else if (auto* logistic = dynamic_cast<model::LogisticRegressionImpl*>(inputs.model)) {
    architecture = "logistic";
    detail::add_logistic(root, *logistic);
  } else {
    throw std::runtime_error("export: this model type has no TorchScript form");
  }
  root.register_attribute("architecture", c10::StringType::get(), architecture);
  root.define(R"(
def forward(self, categorical: Tensor, numeric: Tensor) -> Tensor:
    return torch.sigmoid(self.logits(categorical, numeric))
)");
  detail::add_raw_features(root, *inputs.schema, *inputs.vocabulary);
  root.eval();
  return root;
}

nlohmann::json export_checkpoint(const fs::path& checkpoint, const fs::path& output) {
  const train::LoadedModel loaded = train::load_trained_model(checkpoint, "cpu");
  ExportInputs inputs;
  inputs.model = loaded.model.get();
  inputs.config = &loaded.config;
  inputs.schema = &loaded.schema;
  inputs.vocabulary = &loaded.vocabulary;
  torch::jit::Module module = build_script_module(inputs);
  write_file_atomically(output, [&](const fs::path& temp) { module.save(temp.string()); });

  int64_t parameters = 0;
  for (const at::Tensor& p : module.parameters(/*recurse=*/true)) parameters += p.numel();
  nlohmann::json summary = {{"output", output.string()},
                            {"format_version", kExportFormatVersion},
                            {"architecture", module.attr("architecture").toStringRef()},
                            {"parameters", parameters},
                            {"bytes", static_cast<int64_t>(fs::file_size(output))}};
  if (module.hasattr("top_k")) summary["top_k"] = module.attr("top_k").toInt();
  return summary;
}

}  // namespace adaensemble::exporting
