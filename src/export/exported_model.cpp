#include "adaensemble/export/exported_model.h"

#include <torch/script.h>
#include <yaml-cpp/yaml.h>

#include <stdexcept>

#include "adaensemble/config/error.h"
#include "adaensemble/config/run_config.h"
#include "adaensemble/export/exporter.h"

namespace adaensemble::exporting {
namespace fs = std::filesystem;
namespace {

// Rebuilds the data layer's vocabulary from the per-field Dict[str, int] attributes.
data::Vocabulary read_vocabulary(const torch::jit::Module& module, const std::string& file) {
  const c10::List<c10::IValue> dicts = module.attr("vocabularies").toList();
  const c10::List<c10::IValue> names = module.attr("vocabulary_names").toList();
  std::vector<data::Vocabulary::Field> fields(dicts.size());
  for (std::size_t f = 0; f < dicts.size(); ++f) {
    const c10::impl::GenericDict ids = dicts.get(f).toGenericDict();
    data::Vocabulary::Field& field = fields[f];
    field.name = names.get(f).toStringRef();
    field.values.resize(ids.size());
    field.counts.assign(ids.size(), 0);
    for (const auto& entry : ids) {
      const int64_t index = entry.value().toInt() - data::kFirstValueId;
      if (index < 0 || index >= static_cast<int64_t>(ids.size())) {
        throw std::runtime_error(file + ": vocabulary of " + field.name + " holds id " +
                                 std::to_string(index + data::kFirstValueId) +
                                 " out of range (the file is damaged)");
      }
      field.values[index] = entry.key().toStringRef();
    }
  }
  return data::Vocabulary(std::move(fields));
}

}  // namespace

ExportedModel ExportedModel::load(const fs::path& file) {
  const std::string name = file.string();
  if (!fs::is_regular_file(file)) {
    throw ConfigError(name + ": no such file (check --model)");
  }
  ExportedModel loaded;
  try {
    loaded.module_ = std::make_shared<torch::jit::Module>(torch::jit::load(name));
  } catch (const c10::Error& error) {
    throw std::runtime_error(name + ": not a TorchScript file (" + error.what_without_backtrace() +
                             ")");
  }
  torch::jit::Module& module = *loaded.module_;
  if (!module.hasattr("format_version") || !module.attr("format_version").isInt()) {
    throw std::runtime_error(name +
                             ": not an adaensemble export (no format_version; write it with "
                             "adaensemble-export)");
  }
  loaded.format_version_ = module.attr("format_version").toInt();
  if (loaded.format_version_ > kExportFormatVersion) {
    throw std::runtime_error(name + ": exported model format version " +
                             std::to_string(loaded.format_version_) +
                             " is newer than this build reads (" +
                             std::to_string(kExportFormatVersion) + "; use a newer adaensemble)");
  }
  loaded.schema_ = data::Schema::from_json(module.attr("schema").toStringRef());
  loaded.vocabulary_ = read_vocabulary(module, name);
  loaded.config_text_ = module.attr("config").toStringRef();
  loaded.bad_rows_ =
      config::parse_run_config(YAML::Load(loaded.config_text_), fs::path("/")).data.bad_rows;
  module.eval();
  return loaded;
}

at::Tensor ExportedModel::predict(const at::Tensor& categorical, const at::Tensor& numeric) const {
  return module_->forward({categorical, numeric}).toTensor();
}

at::Tensor ExportedModel::score_raw(const std::vector<std::vector<std::string>>& rows) const {
  c10::impl::GenericList list(c10::ListType::ofStrings());
  for (const auto& row : rows) list.push_back(c10::List<std::string>(row));
  return module_->run_method("score_raw", list).toTensor();
}

void ExportedModel::to(const std::string& device) { module_->to(c10::Device(device)); }

}  // namespace adaensemble::exporting
