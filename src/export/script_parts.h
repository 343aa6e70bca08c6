// Private to src/export: the pieces the exporter assembles. Each builder makes
// one torch::jit::Module holding a model part's trained tensors, with methods
// defined in TorchScript source generated for that part's configuration.
#pragma once

#include <torch/nn/modules/linear.h>
#include <torch/script.h>

#include <cstdint>
#include <string>

#include "adaensemble/data/schema.h"
#include "adaensemble/data/vocabulary.h"
#include "adaensemble/model/ada_ensemble.h"
#include "adaensemble/model/logistic.h"

namespace adaensemble::exporting::detail {

/// Creates an empty module of class `__torch__.adaensemble.<name>`.
torch::jit::Module new_module(const std::string& name);

/// Returns a TorchScript float literal that reads back as exactly `value`.
std::string float_literal(double value);

/// Returns a contiguous CPU copy of `tensor` that does not require grad.
at::Tensor frozen(const at::Tensor& tensor);

/// Registers `linear`'s weight and bias on `module` as `<name>_weight` and
/// `<name>_bias` (None when it has no bias) and returns the TorchScript
/// expression applying it to `input`.
std::string add_linear(torch::jit::Module& module, const std::string& name,
                       const torch::nn::Linear& linear, const std::string& input);

/// The input layer: forward(categorical, numeric) -> X0 [B, F, D].
torch::jit::Module script_embedding(model::EmbeddingInputImpl& embedding,
                                    const std::string& class_name);

/// A noisy cosine gate in eval mode: forward(x0) -> scores [B, N].
torch::jit::Module script_gate(model::NoisyCosineGateImpl& gate, const std::string& class_name);

/// One expert: forward(x, x0) -> [B, F, D]. Throws for a kind without a TorchScript form.
torch::jit::Module script_expert(model::ExpertImpl& expert, const std::string& class_name);

/// A SparseMoE layer routing each row to its top `top_k` experts:
/// forward(x, x0) -> [B, F, D].
torch::jit::Module script_layer(model::SparseMoELayerImpl& layer, int64_t top_k,
                                const std::string& class_name);

/// A per-layer estimator: forward(x) -> logits [B].
torch::jit::Module script_estimator(model::EstimatorImpl& estimator, const std::string& class_name);

/// Adds `logits(categorical, numeric)` of the AdaEnsemble network to `root`
/// with its parts as submodules.
void add_network(torch::jit::Module& root, model::AdaEnsembleImpl& network);

/// Adds `logits(categorical, numeric)` of the logistic baseline to `root`.
void add_logistic(torch::jit::Module& root, model::LogisticRegressionImpl& logistic);

/// Adds the schema and vocabularies as attributes and the raw-string methods
/// `encode_raw` and `score_raw` to `root`, mirroring data::RowEncoder.
void add_raw_features(torch::jit::Module& root, const data::Schema& schema,
                      const data::Vocabulary& vocabulary);

}  // namespace adaensemble::exporting::detail
