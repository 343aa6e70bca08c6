// The exported TorchScript module against the in-process model on the real
// Criteo sample: every part, then whole models over the expert types, the
// controller on and off, norms, combine modes and the logistic baseline,
// through both the encoded and the raw-string paths after a save and load.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "adaensemble/model/ada_ensemble.h"
#include "export_fixture.h"

namespace adaensemble::testing {
namespace {

constexpr double kTolerance = 1e-6;

at::Tensor run(torch::jit::Module& module, const std::string& method,
               std::vector<c10::IValue> inputs) {
  return module.get_method(method)(std::move(inputs)).toTensor();
}

TEST(ExportPartsTest, EveryPartMatchesItsModule) {
  const SampleRows* sample = sample_rows();
  if (!sample) GTEST_SKIP() << "shared data sample absent: " << kCriteoSample;
  config::RunConfig config;
  model::CtrModel model = scrambled_model(*sample, {"model.gate.top_k=2"}, &config);
  auto& network = dynamic_cast<model::AdaEnsembleImpl&>(*model);
  torch::jit::Module module =
      exporting::build_script_module(export_inputs(*sample, *model, config));
  at::NoGradGuard no_grad;

  const at::Tensor x0 = network.embedding()->forward(sample->categorical, sample->numeric);
  torch::jit::Module embedding = module.attr("embedding").toModule();
  EXPECT_LE(max_difference(x0, run(embedding, "forward", {sample->categorical, sample->numeric})),
            kTolerance);
  torch::jit::Module router = module.attr("router").toModule();
  EXPECT_LE(max_difference(network.controller()->route(x0), run(router, "forward", {x0})),
            kTolerance);

  at::Tensor x = x0;
  for (int64_t d = 0; d < network.num_layers(); ++d) {
    SCOPED_TRACE("layer " + std::to_string(d));
    auto& layer = *network.layer(d);
    layer.set_top_k(2);
    torch::jit::Module script_layer = module.attr("layer_" + std::to_string(d)).toModule();
    torch::jit::Module gate = script_layer.attr("gate").toModule();
    EXPECT_LE(max_difference(layer.gate->forward(x0), run(gate, "forward", {x0})), kTolerance);
    for (int64_t e = 0; e < layer.num_experts(); ++e) {
      torch::jit::Module expert = script_layer.attr("expert_" + std::to_string(e)).toModule();
      EXPECT_EQ(expert.attr("kind").toStringRef(), layer.experts()[e]->kind());
      EXPECT_LE(max_difference(layer.experts()[e]->forward(x, x0), run(expert, "forward", {x, x0})),
                kTolerance)
          << layer.experts()[e]->kind();
    }
    const at::Tensor next = layer.forward(x, x0, model::RoutingMode::kHard).x;
    EXPECT_LE(max_difference(next, run(script_layer, "forward", {x, x0})), kTolerance);
    x = next;
  }
}

struct Variant {
  std::string name;
  std::vector<std::string> overrides;
  /// The k the exported layers route with (0: logistic, no layers).
  int64_t top_k;
};

std::ostream& operator<<(std::ostream& out, const Variant& variant) { return out << variant.name; }

class ExportVariantTest : public ::testing::TestWithParam<Variant> {};

// Asserts that routing in `stats` is really sparse: some expert of the first
// layer ran on part of the rows, and (controller on) rows left at two or more
// depths. Otherwise a dense stand-in would pass the comparison too.
void expect_sparse_routing(const model::RoutingStats& stats, bool controller, int64_t k) {
  ASSERT_FALSE(stats.expert_rows.empty());
  const auto& first = stats.expert_rows.front();
  if (k < static_cast<int64_t>(first.size())) {
    EXPECT_TRUE(std::any_of(first.begin(), first.end(),
                            [&](int64_t n) { return n > 0 && n < stats.rows; }));
  }
  const int64_t depths = std::count_if(stats.exit_rows.begin(), stats.exit_rows.end(),
                                       [](int64_t n) { return n > 0; });
  EXPECT_GE(depths, controller ? 2 : 1);
}

TEST_P(ExportVariantTest, ExportedFileMatchesTheInProcessModel) {
  const SampleRows* sample = sample_rows();
  if (!sample) GTEST_SKIP() << "shared data sample absent: " << kCriteoSample;
  const Variant& variant = GetParam();
  config::RunConfig config;
  model::CtrModel model = scrambled_model(*sample, variant.overrides, &config, 7);
  model->set_collect_stats(true);
  const at::Tensor expected =
      in_process_probabilities(*model, sample->categorical, sample->numeric);
  const model::RoutingStats stats = model->take_stats();
  model->set_collect_stats(false);
  EXPECT_GT(expected.std().item<double>(), 0.02) << "outputs too uniform to compare";

  torch::jit::Module built = exporting::build_script_module(export_inputs(*sample, *model, config));
  TempDir dir;
  torch::jit::Module module = save_and_load(built, dir.path() / "model.pt");
  EXPECT_EQ(module.attr("architecture").toStringRef(), config.model.architecture);
  if (variant.top_k > 0) {
    EXPECT_EQ(module.attr("top_k").toInt(), variant.top_k);
    EXPECT_EQ(module.attr("controller").toBool(), config.model.controller.enabled);
    expect_sparse_routing(stats, config.model.controller.enabled, variant.top_k);
  }

  at::NoGradGuard no_grad;
  const at::Tensor encoded = run(module, "forward", {sample->categorical, sample->numeric});
  ASSERT_EQ(encoded.sizes(), expected.sizes());
  EXPECT_LE(max_difference(encoded, expected), kTolerance);

  c10::impl::GenericList rows(c10::ListType::ofStrings());
  for (const auto& row : sample->raw) rows.push_back(c10::List<std::string>(row));
  const at::Tensor raw = run(module, "score_raw", {rows});
  EXPECT_LE(max_difference(raw, expected), kTolerance);
}

INSTANTIATE_TEST_SUITE_P(
    Models, ExportVariantTest,
    ::testing::Values(
        Variant{"paper", {"model.gate.top_k=2"}, 2},
        Variant{"controller_off", {"model.gate.top_k=2", "model.controller.enabled=false"}, 2},
        Variant{"reference", {"model.preset=reference", "model.gate.top_k=2"}, 2},
        Variant{"batch_norm_mlp_estimator",
                {"model.norm=batch", "model.controller.estimator=mlp",
                 "model.controller.estimator_hidden=16", "model.gate.top_k=1"},
                1},
        Variant{
            "log_linear_numeric", {"model.embedding.numeric=log_linear", "model.gate.top_k=3"}, 3},
        Variant{"dense",
                {"model.experts=[dense,cross]", "model.expert_options.dense={hidden: [64, 32]}",
                 "model.gate.top_k=1"},
                1},
        Variant{"dense_gated",
                {"model.experts=[dense,polynomial]",
                 "model.expert_options.dense={gated: true, hidden: []}", "model.gate.top_k=1"},
                1},
        Variant{"cross_low_rank",
                {"model.experts=[cross,dense]", "model.expert_options.cross={rank: 8}",
                 "model.gate.top_k=1"},
                1},
        Variant{"polynomial_flat",
                {"model.experts=[polynomial,cnn]", "model.expert_options.polynomial={mode: flat}",
                 "model.gate.top_k=1", "model.embedding_dim=4"},
                1},
        Variant{"cnn_valid",
                {"model.experts=[cnn,attention]",
                 "model.expert_options.cnn={padding: valid, kernel: 3, filters: 8}",
                 "model.gate.top_k=1"},
                1},
        Variant{"attention",
                {"model.experts=[attention,cross]",
                 "model.expert_options.attention={heads: 2, head_dim: 4}", "model.gate.top_k=1"},
                1},
        Variant{"per_layer_experts",
                {"model.num_layers=3", "model.layers=[[dense],[cross,cnn],[polynomial,attention]]",
                 "model.gate.top_k=1"},
                1},
        Variant{"logistic", {"model.architecture=logistic"}, 0}),
    [](const ::testing::TestParamInfo<Variant>& info) { return info.param.name; });

TEST(ExportVariantEdgeTest, EmptyBatchAndOutOfRangeIds) {
  const SampleRows* sample = sample_rows();
  if (!sample) GTEST_SKIP() << "shared data sample absent: " << kCriteoSample;
  config::RunConfig config;
  model::CtrModel model = scrambled_model(*sample, {"model.gate.top_k=2"}, &config);
  torch::jit::Module module =
      exporting::build_script_module(export_inputs(*sample, *model, config));
  at::NoGradGuard no_grad;
  const at::Tensor none = run(
      module, "forward", {sample->categorical.narrow(0, 0, 0), sample->numeric.narrow(0, 0, 0)});
  EXPECT_EQ(none.sizes(), at::IntArrayRef({0}));

  at::Tensor ids = sample->categorical.narrow(0, 0, 4).clone();
  ids[2][1] = 100000;
  try {
    run(module, "forward", {ids, sample->numeric.narrow(0, 0, 4)});
    FAIL() << "an out-of-range id was accepted";
  } catch (const std::exception& error) {
    const int64_t size = sample->data.vocabulary.cardinalities()[1];
    EXPECT_NE(std::string(error.what())
                  .find("embedding input: field C2 has id 100000 outside [0, " +
                        std::to_string(size) + ") (ids must come from this model's vocabulary)"),
              std::string::npos)
        << error.what();
  }
}

}  // namespace
}  // namespace adaensemble::testing
