#include "adaensemble/train/optimizers.h"

#include <algorithm>
#include <cmath>

#include "adaensemble/model/ctr_model.h"
#include "adaensemble/train/sparse_optimizer.h"

namespace adaensemble::train {
namespace {

template <typename Options>
std::vector<torch::optim::OptimizerParamGroup> groups(const std::vector<torch::Tensor>& dense,
                                                      const std::vector<torch::Tensor>& embeddings,
                                                      const Options& base,
                                                      double embedding_decay) {
  std::vector<torch::optim::OptimizerParamGroup> out;
  if (!dense.empty()) out.emplace_back(dense, std::make_unique<Options>(base));
  if (!embeddings.empty()) {
    auto options = std::make_unique<Options>(base);
    options->weight_decay(embedding_decay);
    out.emplace_back(embeddings, std::move(options));
  }
  return out;
}

}  // namespace

std::unique_ptr<torch::optim::Optimizer> make_optimizer(
    const config::OptimizerConfig& c, const std::vector<torch::Tensor>& dense,
    const std::vector<torch::Tensor>& embeddings) {
  if (c.name == "adam") {
    torch::optim::AdamOptions options(c.lr);
    options.betas({c.beta1, c.beta2}).eps(c.eps).weight_decay(c.weight_decay);
    return std::make_unique<RowSparseAdam>(
        groups(dense, embeddings, options, c.embedding_weight_decay), options);
  }
  if (c.name == "adagrad") {
    torch::optim::AdagradOptions options(c.lr);
    options.eps(c.eps).weight_decay(c.weight_decay);
    return std::make_unique<RowSparseAdagrad>(
        groups(dense, embeddings, options, c.embedding_weight_decay), options);
  }
  torch::optim::SGDOptions options(c.lr);
  options.momentum(c.momentum).weight_decay(c.weight_decay);
  return std::make_unique<RowSparseSgd>(
      groups(dense, embeddings, options, c.embedding_weight_decay), options);
}

LearningRateSchedule::LearningRateSchedule(const config::OptimizerConfig& config,
                                           int64_t total_steps)
    : config_(config), total_steps_(std::max<int64_t>(total_steps, 1)) {}

double LearningRateSchedule::at(int64_t step) const {
  const double base = config_.lr;
  double rate = base;
  const int64_t warmup = config_.warmup_steps;
  if (warmup > 0 && step < warmup) {
    rate = base * static_cast<double>(step + 1) / static_cast<double>(warmup);
  } else if (config_.decay == "cosine") {
    const int64_t length = config_.decay_steps > 0 ? config_.decay_steps : total_steps_ - warmup;
    const double progress =
        std::clamp(static_cast<double>(step - warmup) / std::max<int64_t>(length, 1), 0.0, 1.0);
    rate = config_.min_lr + 0.5 * (base - config_.min_lr) * (1.0 + std::cos(M_PI * progress));
  } else if (config_.decay == "exponential") {
    rate = base * std::pow(config_.decay_rate,
                           static_cast<double>(step - warmup) / config_.decay_steps);
  }
  return std::max(rate * plateau_scale_, std::min(config_.min_lr, base));
}

void LearningRateSchedule::apply(torch::optim::Optimizer& optimizer, int64_t step) const {
  const double rate = at(step);
  for (auto& group : optimizer.param_groups()) group.options().set_lr(rate);
}

std::vector<torch::Tensor> without(const std::vector<torch::Tensor>& all,
                                   const std::vector<torch::Tensor>& subset) {
  std::vector<torch::Tensor> out;
  for (const torch::Tensor& t : all) {
    bool found = false;
    for (const torch::Tensor& s : subset) found = found || s.is_same(t);
    if (!found) out.push_back(t);
  }
  return out;
}

std::unique_ptr<torch::optim::Optimizer> make_joint_optimizer(
    const config::OptimizerConfig& config, model::CtrModelImpl& model) {
  const model::ParameterGroups groups = model.parameter_groups();
  const std::vector<torch::Tensor> embeddings = model.embedding_parameters();
  std::vector<torch::Tensor> dense = without(groups.model, embeddings);
  dense.insert(dense.end(), groups.gates.begin(), groups.gates.end());
  return make_optimizer(config, dense, embeddings);
}

}  // namespace adaensemble::train
