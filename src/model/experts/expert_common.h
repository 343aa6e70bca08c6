// Helpers shared by the expert implementations: input checks, flattening,
// initialisation and FLOP counting of linear maps. Private to src/model/experts.
#pragma once

#include <torch/nn/modules/linear.h>

#include <cstdint>
#include <string>

#include "adaensemble/model/experts/expert.h"

namespace adaensemble::model::detail {

/// Checks that x and x0 are [rows, F, D] with the expert's F and D.
void check_expert_inputs(const torch::Tensor& x, const torch::Tensor& x0, const ExpertShape& shape,
                         const std::string& kind);

/// Checks that an expert shape has at least one field and one dimension.
void check_expert_shape(const ExpertShape& shape, const std::string& kind);

/// Views [rows, F, D] as [rows, F * D] (sizes spelled out: -1 is ambiguous when rows == 0).
inline torch::Tensor flat_rows(const torch::Tensor& x) {
  return x.reshape({x.size(0), x.size(1) * x.size(2)});
}

/// Initialises a linear layer: xavier-uniform weight scaled by `gain`, zero bias.
void init_linear(torch::nn::Linear& linear, double gain);

/// Initialises a linear layer followed by ReLU: kaiming-uniform weight, zero bias.
void init_linear_relu(torch::nn::Linear& linear);

/// Returns the FLOPs of one row through a linear map: 2 * in * out, plus out for the bias.
inline int64_t linear_flops(int64_t in, int64_t out, bool bias) {
  return 2 * in * out + (bias ? out : 0);
}

}  // namespace adaensemble::model::detail
