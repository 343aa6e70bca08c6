#include "adaensemble/config/model_config.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "adaensemble/config/error.h"

namespace adaensemble::config {
namespace {

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) out += (i ? ", " : "") + names[i];
  return out;
}

std::string format_number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

void check_choice(ConfigNode& node, const std::string& key, const std::string& value,
                  const std::vector<std::string>& choices) {
  if (std::find(choices.begin(), choices.end(), value) == choices.end()) {
    node.fail(key, "expected one of " + join(choices));
  }
}

void check_at_least(ConfigNode& node, const std::string& key, double value, double low) {
  if (value < low) node.fail(key, "must be >= " + format_number(low));
}

void check_unit_interval(ConfigNode& node, const std::string& key, double value) {
  if (!(value >= 0.0 && value < 1.0)) node.fail(key, "must be in [0, 1)");
}

// A prior is a distribution: `size` positive entries summing to 1.
void check_prior(ConfigNode& node, const std::string& key, const std::vector<double>& prior,
                 std::size_t size, const std::string& what) {
  if (prior.empty()) return;
  if (prior.size() != size) {
    node.fail(key, "must have " + std::to_string(size) + " entries (one per " + what + ")");
  }
  double sum = 0.0;
  for (double p : prior) {
    if (!(p > 0.0)) node.fail(key, "every entry must be > 0");
    sum += p;
  }
  if (std::abs(sum - 1.0) > 1e-6) {
    node.fail(key, "must sum to 1 (sums to " + format_number(sum) + ")");
  }
}

std::vector<std::string> read_names(const YAML::Node& list, const std::string& path) {
  if (!list.IsSequence() || list.size() == 0) {
    throw ConfigError(path + " = " + render_inline(list) +
                      ": expected a non-empty list of expert names");
  }
  std::vector<std::string> names;
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (!list[i].IsScalar() || list[i].Scalar().empty()) {
      throw ConfigError(path + "[" + std::to_string(i) + "] = " + render_inline(list[i]) +
                        ": expected an expert name");
    }
    names.push_back(list[i].Scalar());
  }
  return names;
}

// `layers` entries are either a list of names or a mapping {experts: [...]}.
std::vector<std::vector<std::string>> read_layers(ConfigNode& model) {
  model.mark_read("layers");
  std::vector<std::vector<std::string>> layers;
  if (!model.has("layers")) return layers;
  const YAML::Node list = model.node()["layers"];
  const std::string path = model.path_of("layers");
  if (!list.IsSequence() || list.size() == 0) {
    model.fail("layers", "expected a non-empty list, one entry per layer");
  }
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string entry_path = path + "[" + std::to_string(i) + "]";
    if (list[i].IsSequence()) {
      layers.push_back(read_names(list[i], entry_path));
      continue;
    }
    ConfigNode entry(list[i], entry_path);
    entry.mark_read("experts");
    layers.push_back(read_names(list[i]["experts"], entry.path_of("experts")));
    entry.finish();
  }
  return layers;
}

// Merges explicit expert options into the preset's, one option key at a time.
YAML::Node read_expert_options(ConfigNode& model, const YAML::Node& preset_options) {
  model.mark_read("expert_options");
  YAML::Node merged = YAML::Clone(preset_options);
  if (!model.has("expert_options")) return merged;
  const YAML::Node given = model.node()["expert_options"];
  if (!given.IsMap()) {
    model.fail("expert_options", "expected a mapping from expert name to its options");
  }
  for (const auto& entry : given) {
    const std::string name = entry.first.as<std::string>();
    const YAML::Node options = entry.second;
    if (options.IsNull()) continue;
    if (!options.IsMap()) {
      throw ConfigError(model.path_of("expert_options") + "." + name + " = " +
                        render_inline(options) + ": expected a mapping of expert options");
    }
    if (!merged[name].IsMap()) merged[name] = YAML::Node(YAML::NodeType::Map);
    for (const auto& option : options) {
      merged[name][option.first.as<std::string>()] = YAML::Clone(option.second);
    }
  }
  return merged;
}

std::vector<std::pair<int64_t, int64_t>> read_schedule(
    ConfigNode& gate, const std::vector<std::pair<int64_t, int64_t>>& fallback) {
  gate.mark_read("anneal_schedule");
  if (!gate.has("anneal_schedule")) return fallback;
  const YAML::Node list = gate.node()["anneal_schedule"];
  const std::string expectation = "expected a list of [step, k] pairs";
  if (!list.IsSequence()) gate.fail("anneal_schedule", expectation);
  std::vector<std::pair<int64_t, int64_t>> schedule;
  for (const auto& pair : list) {
    if (!pair.IsSequence() || pair.size() != 2) gate.fail("anneal_schedule", expectation);
    try {
      schedule.emplace_back(pair[0].as<int64_t>(), pair[1].as<int64_t>());
    } catch (const YAML::Exception&) {
      gate.fail("anneal_schedule", expectation);
    }
  }
  return schedule;
}

void validate_schedule(ConfigNode& gate, const GateConfig& config, int64_t num_experts) {
  const auto& schedule = config.anneal_schedule;
  if (schedule.empty()) return;
  if (config.anneal_steps > 0) {
    gate.fail("anneal_schedule", "cannot be combined with anneal_steps > 0 (set one of them)");
  }
  for (std::size_t i = 0; i < schedule.size(); ++i) {
    const auto [step, k] = schedule[i];
    if (step < 0 || (i > 0 && step <= schedule[i - 1].first)) {
      gate.fail("anneal_schedule", "steps must be >= 0 and strictly increasing");
    }
    if (k < config.top_k || k > num_experts || (i > 0 && k > schedule[i - 1].second)) {
      gate.fail("anneal_schedule",
                "k must be non-increasing and in [top_k = " + std::to_string(config.top_k) + ", " +
                    std::to_string(num_experts) + "]");
    }
  }
  if (schedule.back().second != config.top_k) {
    gate.fail("anneal_schedule", "the last k must equal top_k = " + std::to_string(config.top_k));
  }
}

EmbeddingConfig parse_embedding(ConfigNode node, const EmbeddingConfig& preset) {
  EmbeddingConfig out;
  out.numeric = node.get<std::string>("numeric", preset.numeric);
  check_choice(node, "numeric", out.numeric, {"bucket", "log_linear"});
  out.num_buckets = node.get<int64_t>("num_buckets", preset.num_buckets);
  check_at_least(node, "num_buckets", static_cast<double>(out.num_buckets), 3);
  out.fold_negative = node.get<bool>("fold_negative", preset.fold_negative);
  out.zero_oov = node.get<bool>("zero_oov", preset.zero_oov);
  out.sparse_gradients = node.get<bool>("sparse_gradients", preset.sparse_gradients);
  out.init_std = node.get<double>("init_std", preset.init_std);
  if (!(out.init_std > 0.0)) node.fail("init_std", "must be > 0");
  node.finish();
  return out;
}

GateConfig parse_gate(ConfigNode node, const GateConfig& preset, int64_t min_experts,
                      int64_t max_experts) {
  GateConfig out;
  // The preset's k shrinks to fit fewer experts; an explicit k must fit.
  out.top_k = node.get<int64_t>("top_k", std::min(preset.top_k, min_experts));
  if (out.top_k < 1 || out.top_k > min_experts) {
    node.fail("top_k",
              "must be in [1, " + std::to_string(min_experts) + "] (the number of experts)");
  }
  out.anneal_schedule = read_schedule(node, preset.anneal_schedule);
  // An explicit schedule replaces the preset's linear annealing.
  const int64_t steps_fallback =
      node.has("anneal_schedule") && !out.anneal_schedule.empty() ? 0 : preset.anneal_steps;
  out.anneal_steps = node.get<int64_t>("anneal_steps", steps_fallback);
  check_at_least(node, "anneal_steps", static_cast<double>(out.anneal_steps), 0);
  validate_schedule(node, out, max_experts);
  out.noise_eps = node.get<double>("noise_eps", preset.noise_eps);
  check_unit_interval(node, "noise_eps", out.noise_eps);
  out.reduction = node.get<int64_t>("reduction", preset.reduction);
  check_at_least(node, "reduction", static_cast<double>(out.reduction), 1);
  out.gate_dim = node.get<int64_t>("gate_dim", preset.gate_dim);
  check_at_least(node, "gate_dim", static_cast<double>(out.gate_dim), 1);
  out.temperature = node.get<double>("temperature", preset.temperature);
  if (!(out.temperature > 0.0)) node.fail("temperature", "must be > 0");
  out.stop_gradient = node.get<bool>("stop_gradient", preset.stop_gradient);
  out.combine = node.get<std::string>("combine", preset.combine);
  check_choice(node, "combine", out.combine, {"weighted", "unweighted"});
  out.z_loss = node.get<double>("z_loss", preset.z_loss);
  check_at_least(node, "z_loss", out.z_loss, 0.0);
  out.alpha = node.get<double>("alpha", preset.alpha);
  check_at_least(node, "alpha", out.alpha, 0.0);
  out.balance_count = node.get<std::string>("balance_count", preset.balance_count);
  check_choice(node, "balance_count", out.balance_count, {"argmax", "topk"});
  node.finish();
  return out;
}

ControllerConfig parse_controller(ConfigNode node, const ControllerConfig& preset,
                                  int64_t num_layers) {
  ControllerConfig out;
  out.enabled = node.get<bool>("enabled", preset.enabled);
  // A preset prior sized for another depth falls back to uniform.
  const bool preset_fits = preset.prior.size() == static_cast<std::size_t>(num_layers);
  out.prior = node.get_list<double>("prior", preset_fits ? preset.prior : std::vector<double>{});
  check_prior(node, "prior", out.prior, num_layers, "layer");
  out.alpha = node.get<double>("alpha", preset.alpha);
  check_at_least(node, "alpha", out.alpha, 0.0);
  out.estimator = node.get<std::string>("estimator", preset.estimator);
  check_choice(node, "estimator", out.estimator, {"linear", "mlp"});
  out.estimator_hidden = node.get<int64_t>("estimator_hidden", preset.estimator_hidden);
  check_at_least(node, "estimator_hidden", static_cast<double>(out.estimator_hidden), 1);
  node.finish();
  return out;
}

}  // namespace

const std::vector<std::string>& ModelConfig::experts_of(int64_t layer) const {
  return layers.empty() ? experts : layers.at(static_cast<std::size_t>(layer));
}

ModelConfig model_preset(const std::string& name) {
  ModelConfig config;
  config.preset = name;
  if (name == "paper") return config;
  if (name != "reference") {
    throw ConfigError("model.preset = " + name + ": expected one of paper, reference");
  }
  config.embedding.fold_negative = true;
  config.embedding.zero_oov = true;
  config.gate.anneal_steps = 0;
  config.gate.combine = "unweighted";
  config.gate.z_loss = 1e-3;
  config.gate.balance_count = "topk";
  config.experts_prior = {0.2, 0.2, 0.4, 0.1, 0.1};
  config.norm = "none";
  config.controller.prior = {0.1, 0.2, 0.6, 0.1};
  config.expert_options["dense"]["gated"] = true;
  return config;
}

ModelConfig parse_model_config(ConfigNode node) {
  const std::string preset_name = node.get<std::string>("preset", "paper");
  check_choice(node, "preset", preset_name, {"paper", "reference"});
  const ModelConfig preset = model_preset(preset_name);

  ModelConfig out;
  out.preset = preset_name;
  out.architecture = node.get<std::string>("architecture", preset.architecture);
  check_choice(node, "architecture", out.architecture, {"adaensemble", "logistic"});
  out.experts = node.has("experts") ? read_names(node.node()["experts"], node.path_of("experts"))
                                    : preset.experts;
  node.mark_read("experts");
  out.layers = read_layers(node);
  out.num_layers =
      node.get<int64_t>("num_layers", out.layers.empty() ? preset.num_layers
                                                         : static_cast<int64_t>(out.layers.size()));
  check_at_least(node, "num_layers", static_cast<double>(out.num_layers), 1);
  if (!out.layers.empty() && static_cast<int64_t>(out.layers.size()) != out.num_layers) {
    node.fail("num_layers", "must equal the number of entries in model.layers (" +
                                std::to_string(out.layers.size()) + ")");
  }
  out.expert_options = read_expert_options(node, preset.expert_options);
  out.embedding_dim = node.get<int64_t>("embedding_dim", preset.embedding_dim);
  check_at_least(node, "embedding_dim", static_cast<double>(out.embedding_dim), 1);
  out.embedding = parse_embedding(node.child("embedding"), preset.embedding);

  std::size_t min_experts = out.experts.size();
  std::size_t max_experts = out.experts.size();
  if (!out.layers.empty()) {
    min_experts = max_experts = out.layers.front().size();
    for (const auto& layer : out.layers) {
      min_experts = std::min(min_experts, layer.size());
      max_experts = std::max(max_experts, layer.size());
    }
  }
  out.gate = parse_gate(node.child("gate"), preset.gate, static_cast<int64_t>(min_experts),
                        static_cast<int64_t>(max_experts));

  // The prior is per expert position, so every layer needs the same count.
  const bool preset_prior_fits =
      min_experts == max_experts && preset.experts_prior.size() == min_experts;
  out.experts_prior = node.get_list<double>(
      "experts_prior", preset_prior_fits ? preset.experts_prior : std::vector<double>{});
  if (!out.experts_prior.empty() && min_experts != max_experts) {
    node.fail("experts_prior", "needs the same number of experts in every layer");
  }
  check_prior(node, "experts_prior", out.experts_prior, min_experts, "expert");
  out.norm = node.get<std::string>("norm", preset.norm);
  check_choice(node, "norm", out.norm, {"layer", "batch", "none"});
  out.dropout = node.get<double>("dropout", preset.dropout);
  check_unit_interval(node, "dropout", out.dropout);
  out.controller = parse_controller(node.child("controller"), preset.controller, out.num_layers);
  node.finish();
  return out;
}

YAML::Node to_yaml(const ModelConfig& config) {
  YAML::Node out(YAML::NodeType::Map);
  out["architecture"] = config.architecture;
  out["preset"] = config.preset;
  out["num_layers"] = config.num_layers;
  out["experts"] = config.experts;
  if (!config.layers.empty()) out["layers"] = config.layers;
  out["expert_options"] = YAML::Clone(config.expert_options);
  out["embedding_dim"] = config.embedding_dim;

  YAML::Node embedding(YAML::NodeType::Map);
  embedding["numeric"] = config.embedding.numeric;
  embedding["num_buckets"] = config.embedding.num_buckets;
  embedding["fold_negative"] = config.embedding.fold_negative;
  embedding["zero_oov"] = config.embedding.zero_oov;
  embedding["sparse_gradients"] = config.embedding.sparse_gradients;
  embedding["init_std"] = config.embedding.init_std;
  out["embedding"] = embedding;

  YAML::Node gate(YAML::NodeType::Map);
  gate["top_k"] = config.gate.top_k;
  gate["anneal_steps"] = config.gate.anneal_steps;
  YAML::Node schedule(YAML::NodeType::Sequence);
  for (const auto& [step, k] : config.gate.anneal_schedule) {
    YAML::Node pair(YAML::NodeType::Sequence);
    pair.push_back(step);
    pair.push_back(k);
    schedule.push_back(pair);
  }
  gate["anneal_schedule"] = schedule;
  gate["noise_eps"] = config.gate.noise_eps;
  gate["reduction"] = config.gate.reduction;
  gate["gate_dim"] = config.gate.gate_dim;
  gate["temperature"] = config.gate.temperature;
  gate["stop_gradient"] = config.gate.stop_gradient;
  gate["combine"] = config.gate.combine;
  gate["z_loss"] = config.gate.z_loss;
  gate["alpha"] = config.gate.alpha;
  gate["balance_count"] = config.gate.balance_count;
  out["gate"] = gate;

  out["experts_prior"] = config.experts_prior;
  out["norm"] = config.norm;
  out["dropout"] = config.dropout;

  YAML::Node controller(YAML::NodeType::Map);
  controller["enabled"] = config.controller.enabled;
  controller["prior"] = config.controller.prior;
  controller["alpha"] = config.controller.alpha;
  controller["estimator"] = config.controller.estimator;
  controller["estimator_hidden"] = config.controller.estimator_hidden;
  out["controller"] = controller;
  return out;
}

}  // namespace adaensemble::config
