#include "adaensemble/model/ada_ensemble.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <ostream>
#include <unordered_set>

#include "adaensemble/model/losses.h"

namespace adaensemble::model {

void RoutingStats::merge(const RoutingStats& other) {
  rows += other.rows;
  flops += other.flops;
  if (expert_rows.size() < other.expert_rows.size()) expert_rows.resize(other.expert_rows.size());
  for (std::size_t l = 0; l < other.expert_rows.size(); ++l) {
    auto& mine = expert_rows[l];
    const auto& theirs = other.expert_rows[l];
    if (mine.size() < theirs.size()) mine.resize(theirs.size(), 0);
    for (std::size_t e = 0; e < theirs.size(); ++e) mine[e] += theirs[e];
  }
  if (exit_rows.size() < other.exit_rows.size()) exit_rows.resize(other.exit_rows.size(), 0);
  for (std::size_t l = 0; l < other.exit_rows.size(); ++l) exit_rows[l] += other.exit_rows[l];
}

// What one forward pass accumulates across layers.
struct AdaEnsembleImpl::Pass {
  at::Tensor expert_balance;
  at::Tensor z_loss;
  std::vector<at::Tensor> exit_index;   // Input positions of the rows leaving at a layer.
  std::vector<at::Tensor> exit_logits;  // Their logits.
  RoutingStats stats;
};

AdaEnsembleImpl::AdaEnsembleImpl(EmbeddingInput embedding, std::vector<SparseMoELayer> layers,
                                 DepthController controller, TopKSchedule schedule)
    : embedding_(std::move(embedding)),
      layers_(std::move(layers)),
      controller_(std::move(controller)),
      schedule_(std::move(schedule)) {
  TORCH_CHECK(!layers_.empty(), "AdaEnsemble: needs at least one layer");
  TORCH_CHECK(controller_->num_layers() == num_layers(), "AdaEnsemble: the controller has ",
              controller_->num_layers(), " layers, the network ", num_layers());
  register_module("embedding", embedding_);
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    register_module("layer_" + std::to_string(l), layers_[l]);
  }
  register_module("controller", controller_);
  anneal_step_ = register_buffer("anneal_step", at::zeros({}, at::kLong));
}

void AdaEnsembleImpl::set_step(int64_t step) {
  TORCH_CHECK(step >= 0, "AdaEnsemble: step must be >= 0");
  anneal_step_.fill_(step);
}

int64_t AdaEnsembleImpl::step() const { return anneal_step_.item<int64_t>(); }

int64_t AdaEnsembleImpl::current_top_k() const { return schedule_.k_at(step()); }

void AdaEnsembleImpl::set_collect_stats(bool collect) { collect_stats_ = collect; }

RoutingStats AdaEnsembleImpl::take_stats() {
  RoutingStats out = std::move(stats_);
  stats_ = RoutingStats();
  return out;
}

std::vector<at::Tensor> AdaEnsembleImpl::embedding_parameters() { return embedding_->parameters(); }

ParameterGroups AdaEnsembleImpl::parameter_groups() {
  std::unordered_set<const void*> gate_params;
  auto add_gate = [&](const NoisyCosineGate& gate) {
    for (const auto& p : gate->parameters()) gate_params.insert(p.unsafeGetTensorImpl());
  };
  for (const auto& layer : layers_) add_gate(layer->gate);
  if (controller_->router) add_gate(controller_->router);
  ParameterGroups groups;
  for (const auto& item : named_parameters(/*recurse=*/true)) {
    auto& group =
        gate_params.count(item.value().unsafeGetTensorImpl()) ? groups.gates : groups.model;
    group.push_back(item.value());
  }
  return groups;
}

void AdaEnsembleImpl::run_layer(Pass& pass, int64_t layer, at::Tensor& x, const at::Tensor& x0,
                                RoutingMode mode) {
  MoELayerOutput out = layers_[layer]->forward(x, x0, mode);
  x = out.x;
  pass.expert_balance = pass.expert_balance + out.balance_loss;
  pass.z_loss = pass.z_loss + out.z_loss;
  auto& counts = pass.stats.expert_rows[layer];
  for (std::size_t e = 0; e < out.expert_rows.size(); ++e) counts[e] += out.expert_rows[e];
  pass.stats.flops += out.flops;
}

void AdaEnsembleImpl::run_hard(Pass& pass, const at::Tensor& x0, const at::Tensor& exits_in) {
  at::Tensor x = x0;
  at::Tensor x0_rows = x0;
  at::Tensor exits = exits_in;
  at::Tensor index = at::arange(x0.size(0), exits_in.options());
  for (int64_t d = 0; d < num_layers(); ++d) {
    if (x.size(0) == 0) break;
    run_layer(pass, d, x, x0_rows, RoutingMode::kHard);
    const bool last = d + 1 == num_layers();
    const at::Tensor leave = last ? at::ones_like(exits, at::kBool) : exits.eq(d);
    const at::Tensor leaving = leave.nonzero().squeeze(1);
    const int64_t n = leaving.size(0);
    if (n == 0) continue;
    Estimator& estimator = controller_->estimator(d);
    pass.exit_logits.push_back(estimator(x.index_select(0, leaving)));
    pass.exit_index.push_back(index.index_select(0, leaving));
    pass.stats.exit_rows[d] += n;
    pass.stats.flops += static_cast<double>(n) * estimator->flops_per_row();
    if (last) break;
    const at::Tensor staying = leave.logical_not().nonzero().squeeze(1);
    x = x.index_select(0, staying);
    x0_rows = x0_rows.index_select(0, staying);
    exits = exits.index_select(0, staying);
    index = index.index_select(0, staying);
  }
}

void AdaEnsembleImpl::run_full_depth(Pass& pass, const at::Tensor& x0,
                                     const at::Tensor& depth_scores, RoutingMode mode) {
  const int64_t rows = x0.size(0);
  const bool mixture = controller_->enabled() && mode == RoutingMode::kSoft;
  at::Tensor x = x0;
  std::vector<at::Tensor> logits;
  for (int64_t d = 0; d < num_layers(); ++d) {
    run_layer(pass, d, x, x0, mode);
    if (!mixture && d + 1 < num_layers()) continue;
    Estimator& estimator = controller_->estimator(d);
    logits.push_back(estimator(x));
    pass.stats.flops += static_cast<double>(rows) * estimator->flops_per_row();
  }
  if (!mixture) {
    pass.exit_logits.push_back(logits.back());
    pass.stats.exit_rows.back() += rows;
  } else {
    pass.exit_logits.push_back((at::stack(logits, 1) * at::softmax(depth_scores, 1)).sum(1));
    // The exits hard routing would take, for reports.
    const at::Tensor counts = at::bincount(depth_scores.argmax(1), {}, num_layers()).to(at::kCPU);
    for (int64_t d = 0; d < num_layers(); ++d) pass.stats.exit_rows[d] += counts[d].item<int64_t>();
  }
  pass.exit_index.push_back(at::arange(rows, x0.options().dtype(at::kLong)));
}

ModelOutput AdaEnsembleImpl::forward(const at::Tensor& categorical, const at::Tensor& numeric,
                                     RoutingMode mode) {
  const at::Tensor x0 = embedding_(categorical, numeric);
  const int64_t rows = x0.size(0);
  const int64_t k = current_top_k();
  for (auto& layer : layers_) layer->set_top_k(std::min(k, layer->num_experts()));

  const at::Tensor zero = at::zeros({}, x0.options());
  Pass pass;
  pass.expert_balance = zero;
  pass.z_loss = zero;
  pass.stats.rows = rows;
  pass.stats.exit_rows.assign(num_layers(), 0);
  for (const auto& layer : layers_) pass.stats.expert_rows.emplace_back(layer->num_experts(), 0);

  ModelOutput out;
  out.depth_balance_loss = zero;
  at::Tensor depth_scores;
  if (controller_->enabled()) {
    depth_scores = controller_->route(x0);
    out.depth_balance_loss = controller_->balance_loss(depth_scores);
    const double z_coefficient = layers_.front()->options().z_loss;
    if (z_coefficient > 0.0)
      pass.z_loss = pass.z_loss + z_coefficient * router_z_loss(depth_scores);
    pass.stats.flops += static_cast<double>(rows) * controller_->router->flops_per_row();
  }
  if (controller_->enabled() && mode == RoutingMode::kHard) {
    run_hard(pass, x0, depth_scores.argmax(1));
  } else {
    run_full_depth(pass, x0, depth_scores, mode);
  }

  out.logits = at::zeros({rows}, x0.options());
  if (!pass.exit_logits.empty()) {
    out.logits = out.logits.index_copy(0, at::cat(pass.exit_index), at::cat(pass.exit_logits));
  }
  out.expert_balance_loss = pass.expert_balance;
  out.z_loss = pass.z_loss;
  if (collect_stats_) stats_.merge(pass.stats);
  return out;
}

void AdaEnsembleImpl::pretty_print(std::ostream& stream) const {
  stream << "adaensemble::AdaEnsemble(layers=" << layers_.size()
         << ", controller=" << (controller_->enabled() ? "on" : "off")
         << ", final_top_k=" << schedule_.final_k() << ")";
}

}  // namespace adaensemble::model
