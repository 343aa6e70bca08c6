#include "adaensemble/config/model_config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

#include "testing/testing.h"

namespace adaensemble::config {
namespace {

ModelConfig parse(const std::string& yaml) {
  return parse_model_config(ConfigNode(YAML::Load(yaml), "model"));
}

std::string error_of(const std::string& yaml) {
  try {
    parse(yaml);
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "(no error)";
}

TEST(ModelConfigTest, PaperDefaults) {
  const ModelConfig config = parse("{}");
  EXPECT_EQ(config.preset, "paper");
  EXPECT_EQ(config.architecture, "adaensemble");
  EXPECT_EQ(config.num_layers, 4);
  EXPECT_EQ(config.experts,
            (std::vector<std::string>{"dense", "cross", "polynomial", "cnn", "attention"}));
  EXPECT_EQ(config.embedding_dim, 16);
  EXPECT_EQ(config.gate.top_k, 3);
  EXPECT_EQ(config.gate.anneal_steps, 1000);
  EXPECT_EQ(config.gate.combine, "weighted");
  EXPECT_EQ(config.gate.balance_count, "argmax");
  EXPECT_DOUBLE_EQ(config.gate.z_loss, 0.0);
  EXPECT_TRUE(config.experts_prior.empty());
  EXPECT_EQ(config.norm, "layer");
  EXPECT_TRUE(config.controller.enabled);
  EXPECT_TRUE(config.controller.prior.empty());
  EXPECT_FALSE(config.embedding.fold_negative);
  EXPECT_DOUBLE_EQ(config.embedding.init_std, 0.01);
  EXPECT_EQ(config.expert_options.size(), 0u);
}

TEST(ModelConfigTest, ReferencePresetResolvedValues) {
  const ModelConfig config = parse("{preset: reference}");
  EXPECT_EQ(config.num_layers, 4);
  EXPECT_EQ(config.experts.size(), 5u);
  EXPECT_EQ(config.gate.top_k, 3);
  EXPECT_EQ(config.embedding_dim, 16);
  EXPECT_EQ(config.gate.combine, "unweighted");
  EXPECT_EQ(config.norm, "none");
  EXPECT_EQ(config.gate.balance_count, "topk");
  EXPECT_DOUBLE_EQ(config.gate.z_loss, 1e-3);
  EXPECT_DOUBLE_EQ(config.gate.noise_eps, 0.5);
  EXPECT_EQ(config.gate.anneal_steps, 0);
  EXPECT_EQ(config.experts_prior, (std::vector<double>{0.2, 0.2, 0.4, 0.1, 0.1}));
  EXPECT_EQ(config.controller.prior, (std::vector<double>{0.1, 0.2, 0.6, 0.1}));
  EXPECT_TRUE(config.embedding.fold_negative);
  EXPECT_TRUE(config.embedding.zero_oov);
  EXPECT_TRUE(config.expert_options["dense"]["gated"].as<bool>());
}

TEST(ModelConfigTest, ExplicitKeysOverrideThePreset) {
  const ModelConfig config = parse(
      "{preset: reference, norm: layer, gate: {combine: weighted, top_k: 2},"
      " expert_options: {dense: {hidden: [32]}}}");
  EXPECT_EQ(config.norm, "layer");
  EXPECT_EQ(config.gate.combine, "weighted");
  EXPECT_EQ(config.gate.top_k, 2);
  EXPECT_EQ(config.gate.balance_count, "topk");
  // Option keys merge with the preset's: gated stays, hidden is added.
  EXPECT_TRUE(config.expert_options["dense"]["gated"].as<bool>());
  EXPECT_EQ(config.expert_options["dense"]["hidden"][0].as<int>(), 32);
}

TEST(ModelConfigTest, PresetPriorOfAnotherSizeFallsBackToUniform) {
  const ModelConfig config = parse("{preset: reference, num_layers: 3, experts: [dense, cross]}");
  EXPECT_TRUE(config.controller.prior.empty());
  EXPECT_TRUE(config.experts_prior.empty());
  EXPECT_EQ(config.gate.top_k, 2);  // The preset's k = 3 shrinks to the two experts.
}

TEST(ModelConfigTest, LayersOverrideExpertsAndSetTheDepth) {
  const ModelConfig config =
      parse("{gate: {top_k: 1}, layers: [[dense, cross], {experts: [cnn]}, [attention]]}");
  EXPECT_EQ(config.num_layers, 3);
  EXPECT_EQ(config.experts_of(0), (std::vector<std::string>{"dense", "cross"}));
  EXPECT_EQ(config.experts_of(1), (std::vector<std::string>{"cnn"}));
  EXPECT_EQ(config.experts_of(2), (std::vector<std::string>{"attention"}));
}

TEST(ModelConfigTest, AnnealSchedule) {
  const ModelConfig config = parse("{gate: {anneal_schedule: [[0, 5], [100, 4], [300, 3]]}}");
  EXPECT_EQ(config.gate.anneal_steps, 0);
  ASSERT_EQ(config.gate.anneal_schedule.size(), 3u);
  EXPECT_EQ(config.gate.anneal_schedule[1], (std::pair<int64_t, int64_t>{100, 4}));
}

TEST(ModelConfigTest, RoundTripsThroughYaml) {
  for (const std::string yaml :
       {"{}", "{preset: reference}",
        "{num_layers: 2, experts: [dense, cross, cnn], gate: {top_k: 2, anneal_schedule: "
        "[[10, 3], [20, 2]]}, experts_prior: [0.5, 0.25, 0.25], controller: {prior: [0.3, "
        "0.7], estimator: mlp}, norm: batch, dropout: 0.1, embedding: {init_std: 0.05}}",
        "{layers: [[dense], [cross, cnn]], gate: {top_k: 1}}", "{architecture: logistic}"}) {
    SCOPED_TRACE(yaml);
    const ModelConfig first = parse(yaml);
    const YAML::Node written = to_yaml(first);
    const ModelConfig second = parse_model_config(ConfigNode(YAML::Clone(written), "model"));
    EXPECT_EQ(render_inline(to_yaml(second)), render_inline(written));
    EXPECT_EQ(second.experts_prior, first.experts_prior);
    EXPECT_EQ(second.gate.anneal_schedule, first.gate.anneal_schedule);
    EXPECT_EQ(second.layers, first.layers);
  }
}

TEST(ModelConfigTest, BadValuesNameTheirKey) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{gate: {top_k: 9}}", "model.gate.top_k = 9: must be in [1, 5] (the number of experts)"},
      {"{gate: {top_k: 0}}", "model.gate.top_k = 0: must be in [1, 5] (the number of experts)"},
      {"{experts_prior: [0.5, 0.5, 0.5, 0.1, 0.1]}",
       "model.experts_prior = [0.5, 0.5, 0.5, 0.1, 0.1]: must sum to 1 (sums to 1.7)"},
      {"{experts_prior: [0.5, 0.5]}",
       "model.experts_prior = [0.5, 0.5]: must have 5 entries (one per expert)"},
      {"{controller: {prior: [0.5, 0.5]}}",
       "model.controller.prior = [0.5, 0.5]: must have 4 entries (one per layer)"},
      {"{controller: {prior: [1.0, 0.0, 0.0, 0.0]}}",
       "model.controller.prior = [1.0, 0.0, 0.0, 0.0]: every entry must be > 0"},
      {"{embedding_dim: -4}", "model.embedding_dim = -4: must be >= 1"},
      {"{embedding: {init_std: 0}}", "model.embedding.init_std = 0: must be > 0"},
      {"{num_layers: 0}", "model.num_layers = 0: must be >= 1"},
      {"{gate: {reduction: -1}}", "model.gate.reduction = -1: must be >= 1"},
      {"{gate: {anneal_steps: -1}}", "model.gate.anneal_steps = -1: must be >= 0"},
      {"{gate: {temperature: 0}}", "model.gate.temperature = 0: must be > 0"},
      {"{gate: {combine: mean}}",
       "model.gate.combine = mean: expected one of weighted, unweighted"},
      {"{norm: group}", "model.norm = group: expected one of layer, batch, none"},
      {"{preset: fast}", "model.preset = fast: expected one of paper, reference"},
      {"{architecture: gbdt}", "model.architecture = gbdt: expected one of adaensemble, logistic"},
      {"{dropout: 1.5}", "model.dropout = 1.5: must be in [0, 1)"},
      {"{experts: []}", "model.experts = []: expected a non-empty list of expert names"},
      {"{num_layers: 2, layers: [[dense]]}",
       "model.num_layers = 2: must equal the number of entries in model.layers (1)"},
      {"{gate: {anneal_steps: 10, anneal_schedule: [[0, 3]]}}",
       "model.gate.anneal_schedule = [[0, 3]]: cannot be combined with anneal_steps > 0 (set "
       "one of them)"},
      {"{gate: {anneal_schedule: [[0, 5], [10, 4]]}}",
       "model.gate.anneal_schedule = [[0, 5], [10, 4]]: the last k must equal top_k = 3"},
      {"{gate: {anneal_schedule: [[5, 4], [5, 3]]}}",
       "model.gate.anneal_schedule = [[5, 4], [5, 3]]: steps must be >= 0 and strictly "
       "increasing"},
      {"{gate: {topk: 2}}",
       "unknown config key model.gate.topk (check the spelling; docs/data.md, docs/model.md and "
       "docs/training.md list the keys each section accepts)"},
      {"{expert_options: {cross: 3}}",
       "model.expert_options.cross = 3: expected a mapping of expert options"},
      {"{layers: [{experts: [dense], top_k: 1}]}",
       "unknown config key model.layers[0].top_k (check the spelling; docs/data.md, "
       "docs/model.md and docs/training.md list the keys each section accepts)"},
  };
  for (const auto& [yaml, message] : cases) {
    SCOPED_TRACE(yaml);
    EXPECT_EQ(error_of(yaml), message);
  }
}

TEST(ModelConfigTest, ShippedConfigsHaveValidModelSections) {
  const std::filesystem::path dir = adaensemble::testing::source_dir() / "configs";
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "no configs/ folder";
  int parsed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".yaml") continue;
    SCOPED_TRACE(entry.path().string());
    const YAML::Node root = load_yaml_file(entry.path().string());
    const ModelConfig config = parse_model_config(ConfigNode(root["model"], "model"));
    EXPECT_GE(config.num_layers, 1);
    ++parsed;
  }
  EXPECT_GT(parsed, 0);
}

}  // namespace
}  // namespace adaensemble::config
