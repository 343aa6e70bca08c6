// The `model:` section of a config file as a typed, validated struct. A preset
// (`paper`, the default, or `reference`, the authors' released code) fills the
// defaults; explicit keys override it. Expert names and expert options are
// checked against the registry when the model is built, not here.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "adaensemble/config/config_node.h"

namespace adaensemble::config {

/// `model.embedding`: how the input layer embeds fields.
struct EmbeddingConfig {
  /// Numeric fields: `bucket` (floor(ln(x^2+1)) buckets) or `log_linear`.
  std::string numeric = "bucket";
  /// Rows of each numeric bucket table, missing and negative rows included (64).
  int64_t num_buckets = 64;
  /// Negative numeric values share the bucket of |x| (reference: true).
  bool fold_negative = false;
  /// The OOV id embeds to an all-zero, untrained vector (reference: true).
  bool zero_oov = false;
  /// Sparse gradients for the categorical tables (false).
  bool sparse_gradients = false;
  /// Standard deviation of the normal initialisation of the tables and of
  /// the numeric fields' value vectors w_f (0.01).
  double init_std = 0.01;
};

/// `model.gate`: the noisy cosine top-k gate of every SparseMoE layer.
struct GateConfig {
  /// Final number of experts each row is routed to (3; when not given, at most
  /// the number of experts).
  int64_t top_k = 3;
  /// Linear annealing of k from the number of experts down to top_k over this
  /// many steps; 0 = no annealing (paper: 1000, reference: 0).
  int64_t anneal_steps = 1000;
  /// Piecewise-constant annealing: (from step, k) pairs, steps increasing, k
  /// non-increasing and ending at top_k; before the first step k = experts.
  /// Empty = not used. Exclusive with anneal_steps.
  std::vector<std::pair<int64_t, int64_t>> anneal_schedule;
  /// Training noise: the gate input is multiplied by U(1 - eps, 1 + eps) (0.5).
  double noise_eps = 0.5;
  /// Reduction ratio r of the gate FFN's first layer, F*D -> F*D / r (16).
  int64_t reduction = 16;
  /// Size of the gate's hidden state h and of the expert embeddings (16).
  int64_t gate_dim = 16;
  /// Initial temperature T of the cosine scores (1.0).
  double temperature = 1.0;
  /// The gate reads X0 with its gradient stopped (true).
  bool stop_gradient = true;
  /// `weighted` (paper, eq. 6) or `unweighted` (reference) sum of experts.
  std::string combine = "weighted";
  /// Coefficient of the router z-loss mean(logsumexp(scores)^2) (paper 0, reference 1e-3).
  double z_loss = 0.0;
  /// Coefficient alpha of each layer's load-distribution loss (1.0).
  double alpha = 1.0;
  /// How f_j counts dispatched rows: `argmax` (paper) or `topk` (reference).
  std::string balance_count = "argmax";
};

/// `model.controller`: the depth-selecting controller.
struct ControllerConfig {
  /// Early exit on; off = every row runs all layers, last estimator predicts.
  bool enabled = true;
  /// Expected fraction of rows exiting at each layer; empty = uniform
  /// (reference: [0.1, 0.2, 0.6, 0.1]).
  std::vector<double> prior;
  /// Coefficient of the depth load-distribution loss (1.0).
  double alpha = 1.0;
  /// Per-layer estimator: `linear` (flat x_l -> logit) or `mlp`.
  std::string estimator = "linear";
  /// Hidden width of the `mlp` estimator (64).
  int64_t estimator_hidden = 64;
};

struct ModelConfig {
  /// `adaensemble` (default) or `logistic`: logistic regression on the same
  /// inputs (one weight per value and numeric bucket), the baseline to beat.
  /// The logistic model reads only the `embedding` keys.
  std::string architecture = "adaensemble";
  /// `paper` (default) or `reference`.
  std::string preset = "paper";
  int64_t num_layers = 4;
  /// Expert names of every layer, unless `layers` overrides them.
  std::vector<std::string> experts = {"dense", "cross", "polynomial", "cnn", "attention"};
  /// Optional per-layer expert lists; empty = `experts` for every layer.
  std::vector<std::vector<std::string>> layers;
  /// Mapping expert name -> options mapping, handed to the expert factory.
  YAML::Node expert_options = YAML::Node(YAML::NodeType::Map);
  int64_t embedding_dim = 16;
  EmbeddingConfig embedding;
  GateConfig gate;
  /// Expected load of each expert, in `experts` order; empty = uniform
  /// (reference: [0.2, 0.2, 0.4, 0.1, 0.1]). Sums to 1.
  std::vector<double> experts_prior;
  /// Normalisation after the residual: `layer` (paper), `batch` or `none` (reference).
  std::string norm = "layer";
  /// Dropout on each layer's combined expert output, before the residual (0).
  double dropout = 0.0;
  ControllerConfig controller;

  /// Returns the expert names of layer `layer` (`layers` or `experts`).
  const std::vector<std::string>& experts_of(int64_t layer) const;
};

/// Returns the preset's defaults; throws ConfigError for an unknown name.
ModelConfig model_preset(const std::string& name);

/// Parses and validates the `model:` section (ConfigNode path "model").
ModelConfig parse_model_config(ConfigNode node);

/// Writes every resolved value; parse_model_config(to_yaml(c)) reproduces c.
YAML::Node to_yaml(const ModelConfig& config);

}  // namespace adaensemble::config
