// Times one SparseMoE layer (the five built-in experts, Criteo shape F = 39,
// D = 16, batch 4096) for k = 1..5 in eval mode without gradients, then the
// whole paper-preset network (k = 1, 3, 5, with and without the controller),
// printing one JSON line per case with wall time and counted FLOPs per row.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <torch/utils.h>

#include <chrono>
#include <cstdio>
#include <vector>

#include "adaensemble/config/model_config.h"
#include "adaensemble/model/model_builder.h"
#include "adaensemble/model/moe_layer.h"

int main(int argc, char** argv) {
  using namespace adaensemble::model;
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  if (argc > 2 || threads < 1) {
    std::fprintf(stderr, "usage: moe_bench [THREADS (default 2)]\n");
    return 2;
  }
  at::set_num_threads(threads);
  torch::manual_seed(0);
  register_builtin_experts();
  const ExpertShape shape{39, 16};
  std::vector<Expert> experts;
  for (const auto& name : {"dense", "cross", "polynomial", "cnn", "attention"}) {
    experts.push_back(ExpertRegistry::global().create(name, shape, YAML::Node(YAML::NodeType::Map),
                                                      std::string("bench.") + name));
  }
  SparseMoELayerOptions options;
  options.shape = shape;
  SparseMoELayer layer(options, experts);
  layer->eval();
  c10::NoGradGuard no_grad;
  const at::Tensor x = at::randn({4096, 39, 16});
  const int repeats = 10;
  for (const Expert& expert : experts) {
    expert->eval();
    expert->forward(x, x);
    const auto start = std::chrono::steady_clock::now();
    for (int r = 0; r < repeats; ++r) expert->forward(x, x);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / repeats;
    std::printf("{\"expert\": \"%s\", \"ms_per_batch\": %.2f, \"mflops_per_row\": %.3f}\n",
                expert->kind().c_str(), seconds * 1e3, expert->flops_per_row() / 1e6);
  }
  for (int64_t k = 1; k <= 5; ++k) {
    layer->set_top_k(k);
    layer->forward(x, x, RoutingMode::kHard);  // Warm-up.
    double flops = 0.0;
    const auto start = std::chrono::steady_clock::now();
    for (int r = 0; r < repeats; ++r) flops = layer->forward(x, x, RoutingMode::kHard).flops;
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / repeats;
    std::printf("{\"k\": %ld, \"ms_per_batch\": %.2f, \"mflops_per_row\": %.3f, \"threads\": %d}\n",
                static_cast<long>(k), seconds * 1e3, flops / 4096 / 1e6, threads);
  }

  // The whole network on Criteo's 13 numeric and 26 categorical fields.
  adaensemble::model::FeatureSpec spec;
  spec.num_numeric = 13;
  spec.cardinalities.assign(26, 1000);
  std::vector<at::Tensor> columns;
  for (int64_t cardinality : spec.cardinalities) {
    columns.push_back(at::randint(cardinality, {4096, 1}, at::kLong));
  }
  const at::Tensor categorical = at::cat(columns, 1);
  const at::Tensor numeric = at::rand({4096, 13}) * 100.0;
  for (const bool controller : {true, false}) {
    for (const int64_t k : {1, 3, 5}) {
      adaensemble::config::ModelConfig config = adaensemble::config::model_preset("paper");
      config.gate.top_k = k;
      config.gate.anneal_steps = 0;
      config.controller.enabled = controller;
      AdaEnsemble model = build_model(config, spec);
      model->eval();
      model->forward(categorical, numeric, RoutingMode::kHard);
      model->set_collect_stats(true);
      const auto start = std::chrono::steady_clock::now();
      for (int r = 0; r < repeats; ++r) model->forward(categorical, numeric, RoutingMode::kHard);
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / repeats;
      const auto stats = model->take_stats();
      std::printf(
          "{\"model_k\": %ld, \"controller\": %s, \"ms_per_batch\": %.2f, "
          "\"mflops_per_row\": %.3f}\n",
          static_cast<long>(k), controller ? "true" : "false", seconds * 1e3,
          stats.flops / stats.rows / 1e6);
    }
  }
  return 0;
}
