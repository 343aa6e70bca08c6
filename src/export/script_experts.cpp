// TorchScript forms of the five built-in experts. Each mirrors its module's
// forward() in src/model/experts/ op for op (eval mode: dropout is the
// identity), so the exported model computes the same numbers.
#include <torch/nn/modules/conv.h>

#include <cmath>
#include <iomanip>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "adaensemble/model/experts/attention_expert.h"
#include "adaensemble/model/experts/cnn_expert.h"
#include "adaensemble/model/experts/cross_expert.h"
#include "adaensemble/model/experts/dense_expert.h"
#include "adaensemble/model/experts/polynomial_expert.h"
#include "script_parts.h"

namespace adaensemble::exporting::detail {
namespace {

// The attention expert's instance-norm epsilon (attention_expert.cpp).
constexpr double kInstanceNormEps = 1e-5;

// The header every expert's forward shares: its rows and flat input.
std::string expert_header(int64_t flat_dim) {
  return "def forward(self, x: Tensor, x0: Tensor) -> Tensor:\n"
         "    rows = x.size(0)\n"
         "    flat = x.reshape([rows, " +
         std::to_string(flat_dim) + "])\n";
}

std::string dense_source(torch::jit::Module& m, model::DenseExpertImpl& expert) {
  std::string source = expert_header(expert.shape.flat_dim()) + "    h = flat\n";
  int64_t index = 0;
  for (const auto& child : *expert.hidden) {
    const torch::nn::Linear linear(std::dynamic_pointer_cast<torch::nn::LinearImpl>(child));
    source += "    h = torch.relu(" +
              add_linear(m, "hidden_" + std::to_string(index++), linear, "h") + ")\n";
  }
  source += "    h = " + add_linear(m, "output", expert.output, "h") + "\n";
  if (expert.options.gated) {
    const std::string squeeze =
        add_linear(m, "squeeze", expert.squeeze,
                   "x0.reshape([rows, " + std::to_string(expert.shape.flat_dim()) + "])");
    source += "    gate = 2.0 * torch.sigmoid(" +
              add_linear(m, "excite", expert.excite, "torch.relu(" + squeeze + ")") + ")\n";
    source += "    h = torch.relu(h) * gate\n";
  }
  return source + "    return h.view_as(x)\n";
}

std::string cross_source(torch::jit::Module& m, model::CrossExpertImpl& expert) {
  std::string mixed;
  if (expert.options.rank == 0) {
    mixed = add_linear(m, "full", expert.full, "flat");
  } else {
    mixed = add_linear(m, "up", expert.up, add_linear(m, "down", expert.down, "flat"));
  }
  return expert_header(expert.shape.flat_dim()) + "    mixed = " + mixed + "\n" +
         "    return x0 * mixed.view_as(x)\n";
}

std::string polynomial_source(torch::jit::Module& m, model::PolynomialExpertImpl& expert) {
  m.register_parameter("weight", frozen(expert.weight), false);
  std::string source = expert_header(expert.shape.flat_dim());
  if (expert.options.mode == model::PolynomialExpertOptions::Mode::kField) {
    // One [rows * D, F] x [F, F] mm, as the in-process expert computes it
    // (torch.matmul of the transposed view would run a per-row batched matmul).
    const std::string f = std::to_string(expert.shape.num_fields);
    const std::string d = std::to_string(expert.shape.embedding_dim);
    return source + "    mixed = torch.mm(x0.transpose(1, 2).reshape([rows * " + d + ", " + f +
           "]), self.weight.t())\n    return x * mixed.view([rows, " + d + ", " + f +
           "]).transpose(1, 2)\n";
  }
  return source + "    flat0 = x0.reshape([rows, " + std::to_string(expert.shape.flat_dim()) +
         "])\n    return x * torch.matmul(flat0, self.weight.t()).view_as(x)\n";
}

std::string cnn_source(torch::jit::Module& m, model::CnnExpertImpl& expert) {
  const int64_t positions = expert.positions();
  const int64_t kernel = expert.options.kernel;
  m.register_parameter("conv_weight", frozen(expert.conv->weight), false);
  m.register_parameter("conv_bias", frozen(expert.conv->bias), false);
  std::ostringstream s;
  s << expert_header(expert.shape.flat_dim());
  s << "    h = " << add_linear(m, "project", expert.project, "flat") << ".view([rows, "
    << positions << ", " << expert.shape.embedding_dim << "])\n";
  s << "    h = h.transpose(1, 2)\n";
  if (expert.options.padding == model::CnnExpertOptions::Padding::kSame) {
    const int64_t left = (kernel - 1) / 2;
    s << "    h = torch.constant_pad_nd(h, [" << left << ", " << kernel - 1 - left << "])\n";
  } else if (positions < kernel) {
    s << "    h = torch.constant_pad_nd(h, [0, " << kernel - positions << "])\n";
  }
  s << "    h = torch.relu(torch.conv1d(h, self.conv_weight, self.conv_bias, [1], [0], [1], 1))\n";
  s << "    if h.size(2) >= 2:\n";
  s << "        h = torch.max_pool1d(h, [2])\n";
  s << "    h = h.reshape([rows, h.size(1) * h.size(2)])\n";
  s << "    return " << add_linear(m, "output", expert.output, "h") << ".view_as(x)\n";
  return s.str();
}

std::string attention_source(torch::jit::Module& m, model::AttentionExpertImpl& expert) {
  const int64_t f = expert.shape.num_fields;
  const int64_t heads = expert.options.heads;
  const int64_t h = expert.options.head_dim;
  m.register_parameter("norm_weight", frozen(expert.norm_weight), false);
  m.register_parameter("norm_bias", frozen(expert.norm_bias), false);
  const std::string split = ".view([rows, " + std::to_string(f) + ", " + std::to_string(heads) +
                            ", " + std::to_string(h) + "]).permute([0, 2, 1, 3])";
  std::ostringstream s;
  s << expert_header(expert.shape.flat_dim());
  s << "    q = (torch.gelu(" << add_linear(m, "query", expert.query, "x") << ") * "
    << float_literal(1.0 / std::sqrt(static_cast<double>(h))) << ")" << split << "\n";
  s << "    k = torch.gelu(" << add_linear(m, "key", expert.key, "x") << ")" << split << "\n";
  s << "    v = torch.gelu(" << add_linear(m, "value", expert.value, "x") << ")" << split << "\n";
  s << "    scores = torch.matmul(q, k.transpose(2, 3))\n";
  s << "    mixed = torch.matmul(torch.softmax(scores, -1), v)\n";
  s << "    mixed = mixed.permute([0, 2, 1, 3]).reshape([rows, " << f << ", " << heads * h
    << "])\n";
  s << "    mixed = " << add_linear(m, "merge", expert.merge, "mixed") << "\n";
  s << "    centered = mixed - mixed.mean([1], True)\n";
  s << "    var = centered.pow(2).mean([1], True)\n";
  s << "    normed = centered * torch.rsqrt(var + " << float_literal(kInstanceNormEps)
    << ") * self.norm_weight + self.norm_bias\n";
  s << "    normed = normed.reshape([rows, " << expert.shape.flat_dim() << "])\n";
  s << "    return " << add_linear(m, "output", expert.output, "normed") << ".view_as(x)\n";
  return s.str();
}

}  // namespace

torch::jit::Module new_module(const std::string& name) {
  return torch::jit::Module("__torch__.adaensemble." + name);
}

std::string float_literal(double value) {
  if (std::isnan(value)) return "float(\"nan\")";
  if (std::isinf(value)) return value > 0 ? "float(\"inf\")" : "float(\"-inf\")";
  std::ostringstream out;
  out << std::setprecision(std::numeric_limits<double>::max_digits10) << value;
  std::string text = out.str();
  if (text.find_first_of(".e") == std::string::npos) text += ".0";
  return text;
}

at::Tensor frozen(const at::Tensor& tensor) {
  return tensor.detach().to(at::kCPU).clone().contiguous().set_requires_grad(false);
}

std::string add_linear(torch::jit::Module& module, const std::string& name,
                       const torch::nn::Linear& linear, const std::string& input) {
  module.register_parameter(name + "_weight", frozen(linear->weight), false);
  std::string bias = "None";
  if (linear->bias.defined()) {
    module.register_parameter(name + "_bias", frozen(linear->bias), false);
    bias = "self." + name + "_bias";
  }
  return "torch.linear(" + input + ", self." + name + "_weight, " + bias + ")";
}

torch::jit::Module script_expert(model::ExpertImpl& expert, const std::string& class_name) {
  torch::jit::Module m = new_module(class_name);
  std::string source;
  if (auto* dense = dynamic_cast<model::DenseExpertImpl*>(&expert)) {
    source = dense_source(m, *dense);
  } else if (auto* cross = dynamic_cast<model::CrossExpertImpl*>(&expert)) {
    source = cross_source(m, *cross);
  } else if (auto* polynomial = dynamic_cast<model::PolynomialExpertImpl*>(&expert)) {
    source = polynomial_source(m, *polynomial);
  } else if (auto* cnn = dynamic_cast<model::CnnExpertImpl*>(&expert)) {
    source = cnn_source(m, *cnn);
  } else if (auto* attention = dynamic_cast<model::AttentionExpertImpl*>(&expert)) {
    source = attention_source(m, *attention);
  } else {
    throw std::runtime_error(
        "export: expert kind `" + expert.kind() +
        "` has no TorchScript form (add one in src/export/script_experts.cpp)");
  }
  m.register_attribute("kind", c10::StringType::get(), expert.kind());
  m.define(source);
  return m;
}

}  // namespace adaensemble::exporting::detail
