// TorchScript forms of the input layer, the gates, the SparseMoE layers, the
// estimators and the two networks. Each mirrors the eval-mode forward of its
// module in src/model/ (hard routing: every expert runs only on the rows
// routed to it, and each row stops at its exit layer).
#include <ATen/ATen.h>

#include <sstream>
#include <stdexcept>

#include "script_parts.h"

namespace adaensemble::exporting::detail {
namespace {

using torch::jit::Module;

at::Tensor named_buffer(const torch::nn::Module& module, const std::string& name) {
  const at::Tensor* found = module.named_buffers(/*recurse=*/false).find(name);
  if (!found) throw std::runtime_error("export: " + module.name() + " has no buffer " + name);
  return *found;
}

std::string embedding_numeric_source(Module& m, model::EmbeddingInputImpl& embedding) {
  const auto& options = embedding.options();
  std::ostringstream s;
  s << "def embed_numeric(self, numeric: Tensor) -> Tensor:\n";
  if (options.numeric == model::EmbeddingInputOptions::Numeric::kBucket) {
    // util/numeric_transform.cpp numeric_buckets(), then the table lookup.
    const int64_t buckets = options.bucketing.num_buckets;
    m.register_parameter("numeric_table", frozen(embedding.numeric_table), false);
    m.register_buffer("numeric_offsets", frozen(named_buffer(embedding, "numeric_offsets")));
    s << "    x = numeric.double()\n";
    s << "    ids = torch.floor(torch.log(x * x + 1.0)).clamp_max(" << buckets - 3 << ")\n";
    s << "    ids = torch.nan_to_num(ids, 0.0).long()\n";
    if (!options.bucketing.fold_negative) {
      s << "    ids = torch.where(x < 0, torch.full_like(ids, " << buckets - 2 << "), ids)\n";
    }
    s << "    ids = torch.where(torch.isnan(x), torch.full_like(ids, " << buckets - 1
      << "), ids)\n";
    s << "    return torch.embedding(self.numeric_table, ids + self.numeric_offsets, -1, False, "
         "False)\n";
    return s.str();
  }
  // util/numeric_transform.cpp numeric_log(), scaling w_f (plus b_f).
  m.register_parameter("numeric_weight", frozen(embedding.numeric_weight), false);
  s << "    value = torch.nan_to_num(torch.log1p(numeric.clamp_min(0.0)), 0.0)\n";
  s << "    out = value.type_as(self.numeric_weight).unsqueeze(-1) * self.numeric_weight\n";
  if (embedding.numeric_bias.defined()) {
    m.register_parameter("numeric_bias", frozen(embedding.numeric_bias), false);
    s << "    out = out + self.numeric_bias\n";
  }
  s << "    return out\n";
  return s.str();
}

std::string embedding_categorical_source(Module& m, model::EmbeddingInputImpl& embedding) {
  const auto& spec = embedding.spec();
  c10::List<std::string> names;
  for (std::size_t c = 0; c < spec.cardinalities.size(); ++c) {
    const std::size_t position = static_cast<std::size_t>(spec.num_numeric) + c;
    names.push_back(position < spec.field_names.size() ? spec.field_names[position]
                                                       : "categorical column " + std::to_string(c));
  }
  m.register_attribute("categorical_names", c10::ListType::ofStrings(), names);
  m.register_parameter("categorical_table", frozen(embedding.categorical_table), false);
  m.register_buffer("categorical_offsets", frozen(named_buffer(embedding, "categorical_offsets")));
  m.register_buffer("categorical_cardinalities",
                    frozen(named_buffer(embedding, "categorical_cardinalities")));
  std::ostringstream s;
  s << R"ts(def check_ids(self, categorical: Tensor):
    if categorical.size(0) == 0:
        return
    low = torch.min(categorical, 0)[0]
    high = torch.max(categorical, 0)[0]
    bad = (low < 0) | (high >= self.categorical_cardinalities)
    if bool(bad.any()):
        for c in range(len(self.categorical_names)):
            lo = int(low[c])
            hi = int(high[c])
            size = int(self.categorical_cardinalities[c])
            if lo < 0 or hi >= size:
                shown = hi
                if lo < 0:
                    shown = lo
                assert False, ("embedding input: field " + self.categorical_names[c]
                               + " has id " + str(shown) + " outside [0, " + str(size)
                               + ") (ids must come from this model's vocabulary)")

def embed_categorical(self, categorical: Tensor) -> Tensor:
    self.check_ids(categorical)
    rows = categorical + self.categorical_offsets
    out = torch.embedding(self.categorical_table, rows, -1, False, False)
)ts";
  if (embedding.options().zero_oov) {
    s << "    out = out * (categorical != 0).unsqueeze(-1).type_as(out)\n";
  }
  s << "    return out\n";
  return s.str();
}

}  // namespace

Module script_embedding(model::EmbeddingInputImpl& embedding, const std::string& class_name) {
  Module m = new_module(class_name);
  const auto& spec = embedding.spec();
  const int64_t num_categorical = static_cast<int64_t>(spec.cardinalities.size());
  const int64_t num_numeric = spec.num_numeric;
  std::ostringstream s;
  s << "def forward(self, categorical: Tensor, numeric: Tensor) -> Tensor:\n";
  s << "    assert categorical.dim() == 2 and categorical.size(1) == " << num_categorical
    << ", \"embedding input: categorical must be [batch, " << num_categorical
    << "], got \" + str(categorical.size())\n";
  s << "    assert categorical.dtype == " << static_cast<int>(at::kLong)
    << ", \"embedding input: categorical ids must be int64\"\n";
  s << "    assert numeric.dim() == 2 and numeric.size(1) == " << num_numeric
    << ", \"embedding input: numeric must be [batch, " << num_numeric
    << "], got \" + str(numeric.size())\n";
  s << "    assert numeric.is_floating_point(), \"embedding input: numeric values must be "
       "floating\"\n";
  s << "    assert numeric.size(0) == categorical.size(0), \"embedding input: categorical and "
       "numeric batch sizes differ (\" + str(categorical.size(0)) + \" vs \" + "
       "str(numeric.size(0)) + \")\"\n";
  if (num_numeric > 0 && num_categorical > 0) {
    s << "    return torch.cat([self.embed_numeric(numeric), self.embed_categorical(categorical)],"
         " 1)\n";
  } else if (num_numeric > 0) {
    s << "    return self.embed_numeric(numeric)\n";
  } else {
    s << "    return self.embed_categorical(categorical)\n";
  }
  if (num_numeric > 0) s << "\n" << embedding_numeric_source(m, embedding);
  if (num_categorical > 0) s << "\n" << embedding_categorical_source(m, embedding);
  m.define(s.str());
  return m;
}

Module script_gate(model::NoisyCosineGateImpl& gate, const std::string& class_name) {
  Module m = new_module(class_name);
  // The unit expert embeddings and T do not depend on the input: computed
  // once here with the same ops the module runs on every call.
  {
    at::NoGradGuard no_grad;
    const at::Tensor e = gate.expert_embeddings;
    m.register_buffer("expert_units", frozen(e / e.norm(2, {1}, true).clamp_min(1e-12)));
    m.register_buffer("temperature", frozen(gate.temperature()));
  }
  const std::string hidden = "torch.relu(" + add_linear(m, "reduce", gate.reduce, "flat") + ")";
  std::ostringstream s;
  s << "def forward(self, x0: Tensor) -> Tensor:\n";
  s << "    flat = x0.reshape([x0.size(0), " << gate.options().input_dim << "])\n";
  s << "    h = " << add_linear(m, "project", gate.project, hidden) << "\n";
  s << "    h_unit = h / torch.norm(h, 2, [1], True).clamp_min(1e-12)\n";
  s << "    return h_unit.matmul(self.expert_units.t()) / self.temperature\n";
  m.define(s.str());
  return m;
}

Module script_layer(model::SparseMoELayerImpl& layer, int64_t top_k,
                    const std::string& class_name) {
  Module m = new_module(class_name);
  m.register_module("gate", script_gate(*layer.gate, class_name + "Gate"));
  const int64_t n = layer.num_experts();
  for (int64_t e = 0; e < n; ++e) {
    model::ExpertImpl& expert = *layer.experts()[e];
    m.register_module("expert_" + std::to_string(e),
                      script_expert(expert, class_name + "Expert" + std::to_string(e)));
  }
  const int64_t flat = layer.options().shape.flat_dim();
  std::ostringstream s;
  s << "def forward(self, x: Tensor, x0: Tensor) -> Tensor:\n";
  s << "    rows = x.size(0)\n";
  s << "    scores = self.gate.forward(x0)\n";
  s << "    values, indices = torch.topk(scores, " << top_k << ", 1, True, True)\n";
  s << "    mask = torch.zeros_like(scores, dtype=" << static_cast<int>(at::kBool)
    << ").scatter_(1, indices, 1)\n";
  if (layer.options().weighted_combine) {
    s << "    weights = torch.zeros_like(scores).scatter(1, indices, torch.softmax(values, 1))\n";
  } else {
    s << "    weights = mask.type_as(x)\n";
  }
  // The dispatcher (dispatcher.cpp): (expert, row) pairs grouped by expert;
  // an expert every row routes to runs on the whole batch, the others on
  // their gathered rows, their weighted outputs scatter-added afterwards.
  s << "    pairs = mask.t().nonzero()\n";
  s << "    counts: List[int] = mask.sum(0).tolist()\n";
  s << "    combined = torch.zeros_like(x)\n";
  s << "    summed = False\n";
  for (int64_t e = 0; e < n; ++e) {
    const std::string c = "counts[" + std::to_string(e) + "]";
    s << "    if " << c << " > 0 and " << c << " == rows:\n";
    s << "        out = self.expert_" << e << ".forward(x, x0)\n";
    s << "        weighted = out * weights.select(1, " << e << ").reshape([rows, 1, 1])"
      << ".type_as(out)\n";
    s << "        if summed:\n";
    s << "            combined = combined + weighted\n";
    s << "        else:\n";
    s << "            combined = weighted\n";
    s << "        summed = True\n";
  }
  s << "    offset = 0\n";
  for (int64_t e = 0; e < n; ++e) {
    const std::string c = "counts[" + std::to_string(e) + "]";
    s << "    if " << c << " > 0 and " << c << " < rows:\n";
    s << "        routed = pairs.narrow(0, offset, " << c << ").select(1, 1)\n";
    s << "        out = self.expert_" << e
      << ".forward(x.index_select(0, routed), x0.index_select(0, routed))\n";
    s << "        w = weights.select(1, " << e << ").index_select(0, routed)\n";
    s << "        combined = combined.index_add(0, routed, out * w.reshape([" << c
      << ", 1, 1]).type_as(out))\n";
    s << "    offset = offset + " << c << "\n";
  }
  s << "    if rows == 0:\n";
  s << "        return x + combined\n";
  s << "    y = (x + combined).reshape([rows, " << flat << "])\n";
  if (layer.layer_norm) {
    m.register_parameter("norm_weight", frozen(layer.layer_norm->weight), false);
    m.register_parameter("norm_bias", frozen(layer.layer_norm->bias), false);
    s << "    y = torch.layer_norm(y, [" << flat << "], self.norm_weight, self.norm_bias, "
      << float_literal(layer.layer_norm->options.eps()) << ", True)\n";
  } else if (layer.batch_norm) {
    const auto& bn = *layer.batch_norm;
    m.register_parameter("norm_weight", frozen(bn.weight), false);
    m.register_parameter("norm_bias", frozen(bn.bias), false);
    m.register_buffer("running_mean", frozen(bn.running_mean));
    m.register_buffer("running_var", frozen(bn.running_var));
    s << "    y = torch.batch_norm(y, self.norm_weight, self.norm_bias, self.running_mean, "
         "self.running_var, False, "
      << float_literal(bn.options.momentum().value_or(0.1)) << ", "
      << float_literal(bn.options.eps()) << ", True)\n";
  }
  s << "    return y.reshape(x.size())\n";
  m.define(s.str());
  return m;
}

Module script_estimator(model::EstimatorImpl& estimator, const std::string& class_name) {
  Module m = new_module(class_name);
  std::ostringstream s;
  s << "def forward(self, x: Tensor) -> Tensor:\n";
  s << "    flat = x.reshape([x.size(0), " << estimator.first->options.in_features() << "])\n";
  s << "    out = " << add_linear(m, "first", estimator.first, "flat") << "\n";
  if (estimator.second) {
    s << "    out = " << add_linear(m, "second", estimator.second, "torch.relu(out)") << "\n";
  }
  s << "    return out.squeeze(1)\n";
  m.define(s.str());
  return m;
}

void add_network(Module& root, model::AdaEnsembleImpl& network) {
  root.register_module("embedding", script_embedding(*network.embedding(), "Embedding"));
  const int64_t layers = network.num_layers();
  const int64_t k = network.current_top_k();
  for (int64_t d = 0; d < layers; ++d) {
    model::SparseMoELayerImpl& layer = *network.layer(d);
    root.register_module(
        "layer_" + std::to_string(d),
        script_layer(layer, std::min(k, layer.num_experts()), "Layer" + std::to_string(d)));
  }
  model::DepthControllerImpl& controller = *network.controller();
  const int64_t first_estimator = controller.enabled() ? 0 : layers - 1;
  for (int64_t d = first_estimator; d < layers; ++d) {
    root.register_module(
        "estimator_" + std::to_string(d),
        script_estimator(*controller.estimator(d), "Estimator" + std::to_string(d)));
  }
  root.register_attribute("top_k", c10::IntType::get(), k);
  root.register_attribute("controller", c10::BoolType::get(), controller.enabled());

  std::ostringstream s;
  s << "def logits(self, categorical: Tensor, numeric: Tensor) -> Tensor:\n";
  s << "    x0 = self.embedding.forward(categorical, numeric)\n";
  s << "    x = x0\n";
  if (!controller.enabled()) {
    // Full depth; the last layer's estimator predicts every row.
    for (int64_t d = 0; d < layers; ++d) s << "    x = self.layer_" << d << ".forward(x, x0)\n";
    s << "    return self.estimator_" << layers - 1 << ".forward(x)\n";
    root.define(s.str());
    return;
  }
  // Algorithm 1: rows leave at their exit layer; deeper layers run only on
  // the rows that reach them; logits are scattered back in input order.
  root.register_module("router", script_gate(*controller.router, "Router"));
  s << "    rows = x0.size(0)\n";
  s << "    out = x0.new_zeros([rows])\n";
  s << "    exits = self.router.forward(x0).argmax(1)\n";
  s << "    index = torch.arange(rows, device=x0.device)\n";
  s << "    x0_rows = x0\n";
  for (int64_t d = 0; d + 1 < layers; ++d) {
    s << "    if x.size(0) > 0:\n";
    s << "        x = self.layer_" << d << ".forward(x, x0_rows)\n";
    s << "        leave = exits == " << d << "\n";
    s << "        leaving = leave.nonzero().squeeze(1)\n";
    s << "        if leaving.size(0) > 0:\n";
    s << "            exit_logits = self.estimator_" << d
      << ".forward(x.index_select(0, leaving))\n";
    s << "            out = out.index_copy(0, index.index_select(0, leaving), exit_logits)\n";
    s << "            staying = leave.logical_not().nonzero().squeeze(1)\n";
    s << "            x = x.index_select(0, staying)\n";
    s << "            x0_rows = x0_rows.index_select(0, staying)\n";
    s << "            exits = exits.index_select(0, staying)\n";
    s << "            index = index.index_select(0, staying)\n";
  }
  s << "    if x.size(0) > 0:\n";
  s << "        x = self.layer_" << layers - 1 << ".forward(x, x0_rows)\n";
  s << "        out = out.index_copy(0, index, self.estimator_" << layers - 1 << ".forward(x))\n";
  s << "    return out\n";
  root.define(s.str());
}

void add_logistic(Module& root, model::LogisticRegressionImpl& logistic) {
  root.register_module("weights", script_embedding(*logistic.weights, "Weights"));
  root.register_parameter("bias", frozen(logistic.bias), false);
  root.define(R"(def logits(self, categorical: Tensor, numeric: Tensor) -> Tensor:
    return self.weights.forward(categorical, numeric).sum([1, 2]) + self.bias
)");
}

}  // namespace adaensemble::exporting::detail
