// An exported TorchScript file loaded back in C++: its format version checked,
// its schema, vocabularies and bad-row policy rebuilt as the data layer's
// types, so files can be parsed and encoded exactly as in training.
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "adaensemble/config/data_config.h"
#include "adaensemble/data/schema.h"
#include "adaensemble/data/vocabulary.h"

namespace torch::jit {
struct Module;
}

namespace adaensemble::exporting {

class ExportedModel {
 public:
  /// Loads `file`. Throws ConfigError when it does not exist, std::runtime_error
  /// naming the file when it is not an adaensemble export or has a newer
  /// format version than this build reads.
  static ExportedModel load(const std::filesystem::path& file);

  /// Returns click probabilities float32 [B] for ids int64 [B, C] and raw
  /// numeric values float32 [B, N] (NaN = missing), through `forward`.
  at::Tensor predict(const at::Tensor& categorical, const at::Tensor& numeric) const;

  /// Returns click probabilities for raw feature strings (every column but
  /// the label, in file order), through `score_raw`.
  at::Tensor score_raw(const std::vector<std::vector<std::string>>& rows) const;

  /// Moves the module's tensors to `device` ("cpu" or "cuda").
  void to(const std::string& device);

  int64_t format_version() const { return format_version_; }
  const data::Schema& schema() const { return schema_; }
  const data::Vocabulary& vocabulary() const { return vocabulary_; }
  /// The bad-row policy of the training config.
  const config::BadRowPolicy& bad_rows() const { return bad_rows_; }
  /// The resolved config text stored in the file.
  const std::string& config_text() const { return config_text_; }
  torch::jit::Module& module() const { return *module_; }

 private:
  std::shared_ptr<torch::jit::Module> module_;
  int64_t format_version_ = 0;
  data::Schema schema_;
  data::Vocabulary vocabulary_;
  config::BadRowPolicy bad_rows_;
  std::string config_text_;
};

}  // namespace adaensemble::exporting
