#include "adaensemble/model/model_builder.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include "adaensemble/config/error.h"
#include "model_test_util.h"

namespace adaensemble::model {
namespace {

config::ModelConfig parse(const std::string& yaml) {
  return config::parse_model_config(config::ConfigNode(YAML::Load(yaml), "model"));
}

std::string build_error(const std::string& yaml) {
  register_builtin_experts();
  try {
    build_model(parse(yaml), testing::small_spec());
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "(no error)";
}

std::vector<std::string> kinds(AdaEnsemble& model, int64_t layer) {
  std::vector<std::string> out;
  for (const auto& expert : model->layer(layer)->experts()) out.push_back(expert->kind());
  return out;
}

TEST(ModelBuilderTest, BuildsTheConfiguredStructure) {
  torch::manual_seed(0);
  AdaEnsemble model = build_model(
      parse("{embedding_dim: 4, gate: {top_k: 1}, layers: [[cross, dense], [polynomial]]}"),
      testing::small_spec());
  ASSERT_EQ(model->num_layers(), 2);
  EXPECT_EQ(kinds(model, 0), (std::vector<std::string>{"cross", "dense"}));
  EXPECT_EQ(kinds(model, 1), (std::vector<std::string>{"polynomial"}));
  EXPECT_EQ(model->layer(0)->options().shape.num_fields, 5);
  EXPECT_EQ(model->layer(0)->options().shape.embedding_dim, 4);
  EXPECT_EQ(model->controller()->estimators.size(), 2u);
  EXPECT_TRUE(model->layer(0)->layer_norm);
}

TEST(ModelBuilderTest, PaperDefaultsBuildFiveExpertsInFourLayers) {
  torch::manual_seed(1);
  AdaEnsemble model = build_model(parse("{}"), testing::small_spec());
  ASSERT_EQ(model->num_layers(), 4);
  for (int64_t l = 0; l < 4; ++l) {
    EXPECT_EQ(kinds(model, l),
              (std::vector<std::string>{"dense", "cross", "polynomial", "cnn", "attention"}));
    EXPECT_TRUE(model->layer(l)->options().weighted_combine);
    EXPECT_EQ(model->layer(l)->options().balance_count, BalanceCount::kArgmax);
  }
  EXPECT_EQ(model->current_top_k(), 5);  // Annealing starts dense.
  EXPECT_EQ(model->schedule().final_k(), 3);
  const testing::Batch batch = testing::random_batch(testing::small_spec(), 8);
  const ModelOutput out = model->forward(batch.categorical, batch.numeric, RoutingMode::kHard);
  EXPECT_EQ(out.logits.sizes(), (at::IntArrayRef{8}));
  EXPECT_TRUE(at::isfinite(out.logits).all().item<bool>());
}

TEST(ModelBuilderTest, ReferencePresetResolvedStructure) {
  torch::manual_seed(2);
  AdaEnsemble model = build_model(parse("{preset: reference}"), testing::small_spec());
  ASSERT_EQ(model->num_layers(), 4);
  const SparseMoELayerOptions& layer = model->layer(0)->options();
  EXPECT_FALSE(layer.weighted_combine);
  EXPECT_EQ(layer.norm, NormKind::kNone);
  EXPECT_FALSE(model->layer(0)->layer_norm);
  EXPECT_EQ(layer.balance_count, BalanceCount::kTopK);
  EXPECT_DOUBLE_EQ(layer.z_loss, 1e-3);
  EXPECT_EQ(layer.prior, (std::vector<double>{0.2, 0.2, 0.4, 0.1, 0.1}));
  EXPECT_DOUBLE_EQ(layer.gate.noise_eps, 0.5);
  EXPECT_EQ(model->layer(0)->top_k(), 3);
  EXPECT_EQ(model->current_top_k(), 3);  // No annealing.
  EXPECT_EQ(model->controller()->options().prior, (std::vector<double>{0.1, 0.2, 0.6, 0.1}));
  EXPECT_TRUE(model->embedding()->options().bucketing.fold_negative);
  EXPECT_TRUE(model->embedding()->options().zero_oov);
  EXPECT_EQ(model->embedding()->options().dim, 16);
}

TEST(ModelBuilderTest, EmbeddingInitStdReachesTheTables) {
  torch::manual_seed(3);
  AdaEnsemble model = build_model(parse("{embedding: {init_std: 0.2}}"), testing::small_spec());
  EXPECT_DOUBLE_EQ(model->embedding()->options().init_std, 0.2);
  // 336 categorical and 2048 numeric-bucket draws from N(0, 0.2^2).
  EXPECT_NEAR(model->embedding()->categorical_table.std().item<double>(), 0.2, 0.03);
  EXPECT_NEAR(model->embedding()->numeric_table.std().item<double>(), 0.2, 0.015);
}

TEST(ModelBuilderTest, UnknownExpertNamesTheKey) {
  EXPECT_EQ(build_error("{experts: [dense, mlp]}"),
            "model.experts[1] = mlp: unknown expert (registered: dense, cross, polynomial, cnn, "
            "attention)");
  EXPECT_EQ(build_error("{gate: {top_k: 1}, layers: [[dense], [cross, dnn]]}"),
            "model.layers[1][1] = dnn: unknown expert (registered: dense, cross, polynomial, cnn, "
            "attention)");
  EXPECT_EQ(build_error("{expert_options: {crosss: {rank: 2}}}"),
            "model.expert_options.crosss = crosss: unknown expert (registered: dense, cross, "
            "polynomial, cnn, attention)");
}

TEST(ModelBuilderTest, BadExpertOptionsNameTheirPath) {
  const std::string error = build_error("{expert_options: {cross: {rnk: 2}}}");
  EXPECT_NE(error.find("model.expert_options.cross.rnk"), std::string::npos) << error;
}

}  // namespace
}  // namespace adaensemble::model
