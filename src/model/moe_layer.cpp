#include "adaensemble/model/moe_layer.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <ostream>

#include "adaensemble/model/dispatcher.h"
#include "adaensemble/model/top_k.h"

namespace adaensemble::model {

SparseMoELayerImpl::SparseMoELayerImpl(SparseMoELayerOptions options, std::vector<Expert> experts)
    : options_(std::move(options)), experts_(std::move(experts)) {
  TORCH_CHECK(!experts_.empty(), "SparseMoELayer: needs at least one expert");
  const int64_t flat = options_.shape.flat_dim();
  TORCH_CHECK(flat > 0, "SparseMoELayer: the shape must have fields and an embedding size");
  options_.gate.input_dim = flat;
  options_.gate.num_outputs = num_experts();
  gate = register_module("gate", NoisyCosineGate(options_.gate));
  for (std::size_t e = 0; e < experts_.size(); ++e) {
    register_module("expert_" + std::to_string(e) + "_" + experts_[e]->kind(), experts_[e]);
  }
  if (options_.norm == NormKind::kLayer) {
    layer_norm =
        register_module("layer_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({flat})));
  } else if (options_.norm == NormKind::kBatch) {
    batch_norm = register_module("batch_norm", torch::nn::BatchNorm1d(flat));
  }
  if (options_.dropout > 0.0) {
    dropout = register_module("dropout", torch::nn::Dropout(options_.dropout));
  }
  set_top_k(options_.top_k);
}

void SparseMoELayerImpl::set_top_k(int64_t k) {
  TORCH_CHECK(k >= 1 && k <= num_experts(), "SparseMoELayer: top_k = ", k, " must be in [1, ",
              num_experts(), "]");
  top_k_ = k;
}

at::Tensor SparseMoELayerImpl::normalize(const at::Tensor& flat) {
  if (layer_norm) return layer_norm(flat);
  if (!batch_norm) return flat;
  // A single row has no batch statistics: use the running ones for it.
  const bool batch_stats = is_training() && flat.size(0) > 1;
  return at::batch_norm(flat, batch_norm->weight, batch_norm->bias, batch_norm->running_mean,
                        batch_norm->running_var, batch_stats,
                        batch_norm->options.momentum().value(), batch_norm->options.eps(),
                        /*cudnn_enabled=*/true);
}

MoELayerOutput SparseMoELayerImpl::forward(const at::Tensor& x, const at::Tensor& x0,
                                           RoutingMode mode) {
  const int64_t rows = x.size(0);
  const int64_t flat = options_.shape.flat_dim();
  const at::Tensor scores = gate(x0);
  const TopKGates routed = top_k_softmax(scores, top_k_);

  at::Tensor weights;
  if (mode == RoutingMode::kSoft) {
    weights = options_.weighted_combine ? routed.gates : routed.gates * static_cast<double>(top_k_);
  } else {
    weights = options_.weighted_combine ? routed.gates : routed.mask.to(x.scalar_type());
  }
  DispatchResult dispatched = dispatch_and_combine(experts_, x, x0, weights, routed.mask);

  MoELayerOutput out;
  at::Tensor mixed = dispatched.combined;
  if (dropout) mixed = dropout(mixed);
  out.x = rows == 0 ? x + mixed : normalize((x + mixed).reshape({rows, flat})).reshape(x.sizes());
  out.balance_loss = load_distribution_loss(
      scores, dispatch_indicator(scores, routed.mask, options_.balance_count), options_.prior,
      options_.alpha);
  out.z_loss = options_.z_loss > 0.0 ? options_.z_loss * router_z_loss(scores)
                                     : at::zeros({}, scores.options());
  out.expert_rows = std::move(dispatched.expert_rows);
  // Residual: one add per element; a norm: normalise and affine, two
  // multiply-adds per element (its statistics are not counted).
  const double norm_flops = options_.norm == NormKind::kNone ? 0.0 : 4.0 * flat;
  out.flops =
      dispatched.flops + static_cast<double>(rows) * (gate->flops_per_row() + flat + norm_flops);
  return out;
}

void SparseMoELayerImpl::pretty_print(std::ostream& stream) const {
  stream << "adaensemble::SparseMoELayer(experts=[";
  for (std::size_t e = 0; e < experts_.size(); ++e)
    stream << (e ? ", " : "") << experts_[e]->kind();
  stream << "], top_k=" << top_k_
         << ", combine=" << (options_.weighted_combine ? "weighted" : "unweighted") << ", norm="
         << (options_.norm == NormKind::kLayer   ? "layer"
             : options_.norm == NormKind::kBatch ? "batch"
                                                 : "none")
         << ")";
}

}  // namespace adaensemble::model
