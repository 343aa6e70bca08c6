// The TorchScript export: turns a trained model, with the schema and
// vocabularies it was trained on, into one torch::jit::Module that needs only
// LibTorch or PyTorch to load. Its methods are TorchScript source mirroring
// the eval-mode forward pass (sparse routing and early exit included); the
// trained tensors, vocabularies, schema and resolved config are stored on it.
// docs/export.md describes the file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>

namespace torch::jit {
struct Module;
}
namespace adaensemble::config {
struct RunConfig;
}
namespace adaensemble::data {
struct Schema;
class Vocabulary;
}  // namespace adaensemble::data
namespace adaensemble::model {
class CtrModelImpl;
}

namespace adaensemble::exporting {

/// Version of the exported file's layout (attributes and method signatures).
/// Readers refuse a file with a larger number rather than misread it.
inline constexpr int64_t kExportFormatVersion = 1;

/// What an export reads. All pointers must be set; the model must be on the CPU.
struct ExportInputs {
  /// AdaEnsemble or the logistic baseline. Exported as in eval mode: no gate
  /// noise, hard routing, k at the model's current (annealed) value.
  model::CtrModelImpl* model = nullptr;
  const config::RunConfig* config = nullptr;
  const data::Schema* schema = nullptr;
  const data::Vocabulary* vocabulary = nullptr;
};

/// Builds the TorchScript module of `inputs`. Its methods:
///   forward(categorical: int64 [B, C], numeric: float32 [B, N]) -> float32 [B]
///   logits(categorical, numeric) -> float32 [B]
///   encode_raw(rows: List[List[str]]) -> (int64 [B, C], float32 [B, N])
///   score_raw(rows: List[List[str]]) -> float32 [B]
/// Throws std::runtime_error for a model part that has no TorchScript form.
torch::jit::Module build_script_module(const ExportInputs& inputs);

/// Loads the checkpoint at `checkpoint` (a checkpoint directory or a run
/// directory, whose best/ is used), builds its module and saves it to
/// `output` atomically. Returns a summary: output, format_version,
/// architecture, top_k, parameters, bytes.
nlohmann::json export_checkpoint(const std::filesystem::path& checkpoint,
                                 const std::filesystem::path& output);

}  // namespace adaensemble::exporting
