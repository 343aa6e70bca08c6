// The exported TorchScript module against the in-process model on the real
// Criteo sample: the encoded and the raw-string paths, every expert type,
// the controller on and off, norms, combine modes and the logistic baseline.
#include <gtest/gtest.h>

#include "adaensemble/model/ada_ensemble.h"
#include "export_fixture.h"

namespace adaensemble::testing {
namespace {

TEST(ExportPartsTest, EveryPartMatchesItsModule) {
  const SampleRows* sample = sample_rows();
  if (!sample) GTEST_SKIP() << "shared data sample absent: " << kCriteoSample;
  config::RunConfig config;
  model::CtrModel model = scrambled_model(*sample, {}, &config);
  auto& network = dynamic_cast<model::AdaEnsembleImpl&>(*model);
  torch::jit::Module module = exporting::build_script_module(export_inputs(*sample, *model, config));
  at::NoGradGuard no_grad;

  const at::Tensor x0 = network.embedding()->forward(sample->categorical, sample->numeric);
  const at::Tensor x0_script = module.attr("embedding").toModule().forward(
      {sample->categorical, sample->numeric}).toTensor();
  EXPECT_EQ(max_difference(x0, x0_script), 0.0);

  const at::Tensor depth = network.controller()->route(x0);
  const at::Tensor depth_script = module.attr("router").toModule().forward({x0}).toTensor();
  EXPECT_EQ(max_difference(depth, depth_script), 0.0);

  at::Tensor x = x0;
  for (int64_t d = 0; d < network.num_layers(); ++d) {
    SCOPED_TRACE("layer " + std::to_string(d));
    auto& layer = *network.layer(d);
    layer.set_top_k(std::min(network.current_top_k(), layer.num_experts()));
    const at::Tensor scores = layer.gate->forward(x0);
    torch::jit::Module script_layer = module.attr("layer_" + std::to_string(d)).toModule();
    const at::Tensor scores_script =
        script_layer.attr("gate").toModule().forward({x0}).toTensor();
    EXPECT_EQ(max_difference(scores, scores_script), 0.0);
    for (int64_t e = 0; e < layer.num_experts(); ++e) {
      const at::Tensor out = layer.experts()[e]->forward(x, x0);
      const at::Tensor out_script =
          script_layer.attr("expert_" + std::to_string(e)).toModule().forward({x, x0}).toTensor();
      EXPECT_EQ(max_difference(out, out_script), 0.0) << layer.experts()[e]->kind();
    }
    const at::Tensor next = layer.forward(x, x0, model::RoutingMode::kHard).x;
    const at::Tensor next_script = script_layer.forward({x, x0}).toTensor();
    EXPECT_EQ(max_difference(next, next_script), 0.0);
    x = next;
  }
}

}  // namespace
}  // namespace adaensemble::testing
