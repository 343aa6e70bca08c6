// Contract tests over every registered expert, hand-computed forward passes,
// FLOP counts and option errors of each built-in expert, and the registry.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <array>
#include <functional>
#include <string>
#include <vector>

#include "adaensemble/config/error.h"
#include "adaensemble/model/experts/attention_expert.h"
#include "adaensemble/model/experts/cnn_expert.h"
#include "adaensemble/model/experts/cross_expert.h"
#include "adaensemble/model/experts/dense_expert.h"
#include "adaensemble/model/experts/expert.h"
#include "adaensemble/model/experts/polynomial_expert.h"

namespace adaensemble::model {
namespace {

std::vector<std::string> builtin_names() {
  register_builtin_experts();
  return ExpertRegistry::global().names();
}

Expert make(const std::string& name, int64_t fields, int64_t dim, const std::string& yaml = "{}") {
  return ExpertRegistry::global().create(name, ExpertShape{fields, dim}, YAML::Load(yaml),
                                         "model.expert_options." + name);
}

// Overwrites a parameter with row-major values.
void set(const torch::Tensor& param, const std::vector<float>& values) {
  torch::NoGradGuard no_grad;
  ASSERT_EQ(param.numel(), static_cast<int64_t>(values.size()));
  param.copy_(torch::tensor(values).view(param.sizes()));
}

torch::Tensor rows_of(const std::vector<float>& values, int64_t fields, int64_t dim) {
  return torch::tensor(values).view({-1, fields, dim});
}

void expect_values(const torch::Tensor& actual, const std::vector<float>& expected,
                   double tolerance = 1e-5) {
  const torch::Tensor flat = actual.detach().reshape({-1});
  ASSERT_EQ(flat.numel(), static_cast<int64_t>(expected.size()));
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(flat[i].item<float>(), expected[i], tolerance) << "element " << i;
  }
}

// Returns the ConfigError text thrown by `build`, or "" when nothing is thrown.
std::string config_error(const std::function<void()>& build) {
  try {
    build();
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "";
}

// x_l = [[1, 2], [3, 4]] and x0 = [[1, 0], [2, -1]]: one row, F = 2, D = 2.
const std::vector<float> kX = {1, 2, 3, 4};
const std::vector<float> kX0 = {1, 0, 2, -1};

// ~~~ Contract, over every registered expert ~~~

TEST(ExpertContractTest, BuiltinsRegisteredInOrder) {
  EXPECT_EQ(builtin_names(),
            (std::vector<std::string>{"dense", "cross", "polynomial", "cnn", "attention"}));
  register_builtin_experts();  // a second call changes nothing
  EXPECT_EQ(builtin_names().size(), 5u);
}

TEST(ExpertContractTest, ForwardKeepsShape) {
  for (const std::string& name : builtin_names()) {
    SCOPED_TRACE(name);
    for (const auto& [rows, fields, dim] :
         std::vector<std::array<int64_t, 3>>{{5, 3, 4}, {2, 7, 2}, {3, 1, 5}}) {
      torch::manual_seed(0);
      Expert expert = make(name, fields, dim);
      EXPECT_EQ(expert->kind(), name);
      const torch::Tensor x = torch::randn({rows, fields, dim});
      const torch::Tensor out = expert->forward(x, torch::randn({rows, fields, dim}));
      EXPECT_EQ(out.sizes(), x.sizes());
      EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
    }
  }
}

TEST(ExpertContractTest, ZeroRowsWork) {
  for (const std::string& name : builtin_names()) {
    SCOPED_TRACE(name);
    torch::manual_seed(0);
    Expert expert = make(name, 4, 3);
    const torch::Tensor empty = torch::zeros({0, 4, 3});
    const torch::Tensor out = expert->forward(empty, empty);
    EXPECT_EQ(out.sizes(), empty.sizes());
    out.sum().backward();
  }
}

TEST(ExpertContractTest, GradientsReachEveryParameter) {
  for (const std::string& name : builtin_names()) {
    SCOPED_TRACE(name);
    torch::manual_seed(1);
    Expert expert = make(name, 4, 3);
    const torch::Tensor x = torch::randn({6, 4, 3});
    const torch::Tensor out = expert->forward(x, torch::randn({6, 4, 3}));
    (out * torch::randn_like(out)).sum().backward();
    ASSERT_FALSE(expert->named_parameters().is_empty());
    for (const auto& param : expert->named_parameters()) {
      SCOPED_TRACE(param.key());
      ASSERT_TRUE(param.value().grad().defined());
      EXPECT_GT(param.value().grad().abs().sum().item<double>(), 0.0);
    }
  }
}

// Float kernels can be wrong where double ones are not (at::gelu's backward
// in Debian's LibTorch 1.13 is, for a permuted incoming gradient), so the
// float gradients are checked against the same expert run in double.
TEST(ExpertContractTest, FloatGradientsMatchDoublePrecision) {
  for (const std::string& name : builtin_names()) {
    SCOPED_TRACE(name);
    torch::manual_seed(3);
    Expert expert = make(name, 5, 4);
    const torch::Tensor x = torch::randn({6, 5, 4});
    const torch::Tensor x0 = torch::randn({6, 5, 4});
    const torch::Tensor weight = torch::randn({6, 5, 4});
    (expert->forward(x, x0) * weight).sum().backward();
    std::vector<torch::Tensor> float_grads;
    for (const auto& param : expert->parameters()) float_grads.push_back(param.grad().clone());

    expert->zero_grad();
    expert->to(torch::kDouble);
    (expert->forward(x.to(torch::kDouble), x0.to(torch::kDouble)) * weight.to(torch::kDouble))
        .sum()
        .backward();
    const auto params = expert->named_parameters();
    for (std::size_t i = 0; i < params.size(); ++i) {
      SCOPED_TRACE(params[i].key());
      const torch::Tensor exact = params[i].value().grad();
      const double scale = 1.0 + exact.abs().max().item<double>();
      const double error = (float_grads[i].to(torch::kDouble) - exact).abs().max().item<double>();
      EXPECT_LT(error, 1e-4 * scale);
    }
  }
}

TEST(ExpertContractTest, StartsNearZeroOutput) {
  // Experts are added to a residual; their first outputs should be small beside x.
  for (const std::string& name : builtin_names()) {
    SCOPED_TRACE(name);
    torch::manual_seed(2);
    Expert expert = make(name, 8, 4);
    const torch::Tensor x = 0.01 * torch::randn({16, 8, 4});
    const torch::Tensor out = expert->forward(x, x);
    EXPECT_LT(out.abs().mean().item<double>(), x.abs().mean().item<double>());
  }
}

TEST(ExpertContractTest, FlopsArePositiveAndGrowWithWidth) {
  for (const std::string& name : builtin_names()) {
    SCOPED_TRACE(name);
    const int64_t small = make(name, 4, 2)->flops_per_row();
    EXPECT_GT(small, 0);
    EXPECT_GT(make(name, 8, 4)->flops_per_row(), small);
  }
}

TEST(ExpertContractTest, RunsOnCuda_CUDA) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  for (const std::string& name : builtin_names()) {
    SCOPED_TRACE(name);
    torch::manual_seed(3);
    Expert expert = make(name, 5, 4);
    const torch::Tensor x = torch::randn({7, 5, 4});
    const torch::Tensor expected = expert->forward(x, x);
    expert->to(torch::kCUDA);
    const torch::Tensor x_cuda = x.to(torch::kCUDA);
    const torch::Tensor out = expert->forward(x_cuda, x_cuda);
    EXPECT_TRUE(torch::allclose(out.cpu(), expected, 1e-4, 1e-5));
    out.sum().backward();
  }
}

// ~~~ Registry ~~~

TEST(ExpertRegistryTest, UnknownNameListsRegistered) {
  register_builtin_experts();
  const std::string expected =
      "model.experts[2] = mlp: unknown expert (registered: dense, cross, polynomial, cnn, "
      "attention)";
  EXPECT_EQ(config_error([] { ExpertRegistry::global().check_name("mlp", "model.experts[2]"); }),
            expected);
  EXPECT_EQ(
      config_error([] {
        ExpertRegistry::global().create("mlp", ExpertShape{2, 2}, YAML::Node(), "model.experts[2]");
      }),
      expected);
  EXPECT_NO_THROW(ExpertRegistry::global().check_name("cnn", "model.experts[0]"));
}

TEST(ExpertRegistryTest, DuplicateNameIsRejected) {
  register_builtin_experts();
  ExpertEntry entry{"cross", "again", nullptr};
  EXPECT_THROW(ExpertRegistry::global().add(entry), std::logic_error);
  EXPECT_FALSE(ExpertRegistry::global().description("cross").empty());
  EXPECT_TRUE(ExpertRegistry::global().description("mlp").empty());
}

TEST(ExpertRegistryTest, OptionErrorsNameThePath) {
  register_builtin_experts();
  const std::string base = "model.expert_options.";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"cross|{rank: -1}", "cross.rank = -1: must be >= 0 (0 = full rank)"},
      {"cross|{rank: two}", "cross.rank = two: expected an integer"},
      {"cross|{rnak: 2}",
       "unknown config key model.expert_options.cross.rnak (check the spelling; docs/data.md, "
       "docs/model.md and docs/training.md list the keys each section accepts)"},
      {"dense|{hidden: [8, 0]}", "dense.hidden[1] = 0: must be >= 1"},
      {"dense|{hidden: [8, x]}", "dense.hidden[1] = x: expected an integer"},
      {"dense|{dropout: 1.5}", "dense.dropout = 1.5: must be in [0, 1)"},
      {"dense|{reduction: 0}", "dense.reduction = 0: must be >= 1"},
      {"dense|{gated: maybe}", "dense.gated = maybe: expected true or false"},
      {"polynomial|{mode: diagonal}", "polynomial.mode = diagonal: must be field or flat"},
      {"cnn|{filters: 0}", "cnn.filters = 0: must be >= 1"},
      {"cnn|{kernel: -2}", "cnn.kernel = -2: must be >= 1"},
      {"cnn|{padding: full}", "cnn.padding = full: must be same or valid"},
      {"attention|{heads: 0}", "attention.heads = 0: must be >= 1"},
      {"attention|{head_dim: 0}", "attention.head_dim = 0: must be >= 1"},
  };
  for (const auto& [input, message] : cases) {
    SCOPED_TRACE(input);
    const std::string name = input.substr(0, input.find('|'));
    const std::string yaml = input.substr(input.find('|') + 1);
    const std::string expected = message.rfind("unknown", 0) == 0 ? message : base + message;
    EXPECT_EQ(config_error([&] { make(name, 3, 2, yaml); }), expected);
  }
}

// ~~~ Hand-computed forward passes, F = 2, D = 2 ~~~

TEST(ExpertHandTest, CrossFullRank) {
  CrossExpert expert(ExpertShape{2, 2}, CrossExpertOptions{});
  // W = identity plus W[0][3] = 1; b = [0.5, 0, 0, -1].
  set(expert->full->weight, {1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1});
  set(expert->full->bias, {0.5, 0, 0, -1});
  // W x + b = [1 + 4 + 0.5, 2, 3, 4 - 1] = [5.5, 2, 3, 3]; times x0 = [5.5, 0, 6, -3].
  expect_values(expert->forward(rows_of(kX, 2, 2), rows_of(kX0, 2, 2)), {5.5, 0, 6, -3});
}

TEST(ExpertHandTest, CrossLowRank) {
  CrossExpertOptions options;
  options.rank = 1;
  CrossExpert expert(ExpertShape{2, 2}, options);
  ASSERT_FALSE(expert->full);
  set(expert->down->weight, {1, 1, 0, 0});  // V^T x = 1 + 2 = 3
  set(expert->up->weight, {1, 0, 2, 0});    // U (3) = [3, 0, 6, 0]
  set(expert->up->bias, {0, 1, 0, 0});      // + b = [3, 1, 6, 0]
  // times x0 = [3, 0, 12, 0].
  expect_values(expert->forward(rows_of(kX, 2, 2), rows_of(kX0, 2, 2)), {3, 0, 12, 0});
}

TEST(ExpertHandTest, PolynomialFieldMode) {
  PolynomialExpert expert(ExpertShape{2, 2}, PolynomialExpertOptions{});
  set(expert->weight, {1, 2, 0, -1});
  // W x0: field 0 = 1 [1, 0] + 2 [2, -1] = [5, -2]; field 1 = -1 [2, -1] = [-2, 1].
  // times x_l [[1, 2], [3, 4]] = [[5, -4], [-6, 4]].
  expect_values(expert->forward(rows_of(kX, 2, 2), rows_of(kX0, 2, 2)), {5, -4, -6, 4});
}

TEST(ExpertHandTest, PolynomialFieldModeMixesFieldsNotChannels) {
  // F = 3 fields of D = 2 (F != D, so a mixed-up reshape shows): out[r, i, d]
  // = x[r, i, d] * sum_j W[i, j] x0[r, j, d], checked against the einsum over
  // two rows.
  PolynomialExpert expert(ExpertShape{3, 2}, PolynomialExpertOptions{});
  torch::manual_seed(11);
  const torch::Tensor x = torch::randn({2, 3, 2});
  const torch::Tensor x0 = torch::randn({2, 3, 2});
  const torch::Tensor expected = x * torch::einsum("ij,rjd->rid", {expert->weight, x0});
  EXPECT_TRUE(torch::allclose(expert->forward(x, x0), expected, 1e-6, 1e-6));
}

TEST(ExpertHandTest, PolynomialFlatMode) {
  PolynomialExpertOptions options;
  options.mode = PolynomialExpertOptions::Mode::kFlat;
  PolynomialExpert expert(ExpertShape{2, 2}, options);
  // Rows of W: out0 = 0, out1 = x0[1], out2 = x0[2], out3 = 2 x0[0].
  set(expert->weight, {0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 2, 0, 0, 0});
  // W x0 = [0, 0, 2, 2]; times x_l [1, 2, 3, 4] = [0, 0, 6, 8].
  expect_values(expert->forward(rows_of(kX, 2, 2), rows_of(kX0, 2, 2)), {0, 0, 6, 8});
}

TEST(ExpertHandTest, DensePlain) {
  DenseExpertOptions options;
  options.hidden = std::vector<int64_t>{2};
  DenseExpert expert(ExpertShape{2, 2}, options);
  auto layer = expert->hidden[0]->as<torch::nn::Linear>();
  set(layer->weight, {1, 0, 0, 0, 0, 0, 1, -1});
  set(layer->bias, {0, -1});
  // hidden = relu([1, 3 - 4 - 1]) = [1, 0].
  set(expert->output->weight, {1, 0, 2, 0, 0, 1, -1, 1});
  set(expert->output->bias, {0, 0, 0, 0.5});
  // out = [1, 2, 0, -1 + 0.5].
  expect_values(expert->forward(rows_of(kX, 2, 2), rows_of(kX0, 2, 2)), {1, 2, 0, -0.5});
}

TEST(ExpertHandTest, DenseGated) {
  DenseExpertOptions options;
  options.hidden = std::vector<int64_t>{};
  options.gated = true;
  options.reduction = 4;  // squeeze width 4 / 4 = 1
  DenseExpert expert(ExpertShape{2, 2}, options);
  set(expert->output->weight, {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1});
  set(expert->output->bias, {0, 0, 0, -5});  // relu(x + b) = [1, 2, 3, 0]
  set(expert->squeeze->weight, {1, 1, 1, 1});
  set(expert->squeeze->bias, {0});  // relu(1 + 0 + 2 - 1) = 2
  set(expert->excite->weight, {0, 1, -1, 0});
  set(expert->excite->bias, {0, 0, 0, 0});  // SE = [0, 2, -2, 0]
  // 2 sigmoid(SE) = [1, 2 * 0.8807971, 2 * 0.1192029, 1]
  // out = [1, 2 * 1.7615942, 3 * 0.2384058, 0] = [1, 3.5231883, 0.7152175, 0].
  expect_values(expert->forward(rows_of(kX, 2, 2), rows_of(kX0, 2, 2)),
                {1, 3.5231883, 0.7152175, 0});
}

TEST(ExpertHandTest, CnnValidPaddingGuardsShortSequence) {
  CnnExpertOptions options;
  options.filters = 2;
  options.kernel = 2;
  options.padding = CnnExpertOptions::Padding::kValid;
  CnnExpert expert(ExpertShape{2, 2}, options);
  ASSERT_EQ(expert->positions(), 1);
  ASSERT_EQ(expert->conv_length(), 1);
  set(expert->project->weight, {1, 0, 0, 0, 0, 1, 0, 1});
  set(expert->project->bias, {0, 0});  // one position, channels [1, 2 + 4] = [1, 6]
  // Padded to the kernel: channel 0 = [1, 0], channel 1 = [6, 0].
  // weight [filter][channel][tap]: filter 0 = 1 * 1 + 0.5 * 6 - 1 = 3 (taps 5 and 7 meet the
  // padding), filter 1 = -1 * 1 -> relu 0. One position, so no pooling: [3, 0].
  set(expert->conv->weight, {1, 5, 0.5, 7, -1, 0, 0, 0});
  set(expert->conv->bias, {-1, 0});
  set(expert->output->weight, {1, 0, 0, 1, 2, 0, 0, 0});
  set(expert->output->bias, {0, 0, 0, 1});
  // out = [3, 0, 6, 1].
  expect_values(expert->forward(rows_of(kX, 2, 2), rows_of(kX0, 2, 2)), {3, 0, 6, 1});
}

TEST(ExpertHandTest, CnnSamePaddingAndPooling) {
  // F = 4, D = 1: two positions of one channel, so same padding and max-pool both act.
  CnnExpertOptions options;
  options.filters = 1;
  options.kernel = 2;
  CnnExpert expert(ExpertShape{4, 1}, options);
  ASSERT_EQ(expert->positions(), 2);
  ASSERT_EQ(expert->pooled_length(), 1);
  set(expert->project->weight, {1, 0, 0, 0, 0, 1, 0, 0});
  set(expert->project->bias, {0, 0});  // positions [1, 2]
  // Same padding with an even kernel pads one zero on the right:
  // position 0 = 1 * 1 + 10 * 2 = 21, position 1 = 1 * 2 + 10 * 0 = 2; max-pool -> 21.
  set(expert->conv->weight, {1, 10});
  set(expert->conv->bias, {0});
  set(expert->output->weight, {1, 0, 0, -1});
  set(expert->output->bias, {0, 0, 0, 0});
  const torch::Tensor x = rows_of(kX, 4, 1);
  expect_values(expert->forward(x, x), {21, 0, 0, -21});
}

TEST(ExpertHandTest, Attention) {
  AttentionExpertOptions options;
  options.heads = 1;
  options.head_dim = 1;
  AttentionExpert expert(ExpertShape{2, 2}, options);
  // x = [[0.1, 0.2], [0.3, 0.4]]. q = gelu(x[:, 0]), k = gelu(x[:, 1]), v = gelu(x[:, 0] + x[:,
  // 1]): q = [0.0539828, 0.1853734], k = [0.1158519, 0.2621687], v = [0.1853734, 0.5306254].
  set(expert->query->weight, {1, 0});
  set(expert->key->weight, {0, 1});
  set(expert->value->weight, {1, 1});
  for (auto* linear : {&expert->query, &expert->key, &expert->value}) set((*linear)->bias, {0});
  // softmax(q_i k_j) over j: field 0 [0.4980254, 0.5019746], field 1 [0.4932196, 0.5067804];
  // mixed m = [0.3586812, 0.3603404]; merge [1, -1] gives channels m and -m.
  set(expert->merge->weight, {1, -1});
  set(expert->merge->bias, {0, 0});
  // Norm over fields: channel 0 mean 0.3595108, var 6.882341e-7, so (m - mean) / sqrt(var +
  // 1e-5) = [-0.2537553, 0.2537553]; channel 1 is its negative. Scale [1, 2], shift [0, 0.5]:
  // [[-0.2537553, 1.0075106], [0.2537553, -0.0075106]].
  set(expert->norm_weight, {1, 2});
  set(expert->norm_bias, {0, 0.5});
  set(expert->output->weight, {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1});
  set(expert->output->bias, {0, 0, 0, 1});
  const torch::Tensor x = rows_of({0.1, 0.2, 0.3, 0.4}, 2, 2);
  expect_values(expert->forward(x, torch::zeros({1, 2, 2})),
                {-0.2537553, 1.0075106, 0.2537553, 0.9924894}, 2e-4);
}

// ~~~ FLOP counts for F = 3, D = 2 (n = 6) ~~~

TEST(ExpertFlopsTest, HandCountedForThreeFieldsOfTwo) {
  register_builtin_experts();
  // dense: hidden [min(6, 400)] -> 2 (2*6*6 + 6) = 156.
  EXPECT_EQ(make("dense", 3, 2)->flops_per_row(), 156);
  // gated, no hidden, r = 2 (squeeze 3): 78 + (2*6*3 + 3) + (2*3*6 + 6) + 6 = 165.
  EXPECT_EQ(make("dense", 3, 2, "{gated: true, hidden: [], reduction: 2}")->flops_per_row(), 165);
  // cross full: 2*36 + 6 + 6 = 84; rank 2: 2*6*2 + (2*2*6 + 6) + 6 = 60.
  EXPECT_EQ(make("cross", 3, 2)->flops_per_row(), 84);
  EXPECT_EQ(make("cross", 3, 2, "{rank: 2}")->flops_per_row(), 60);
  // polynomial field: 2*3*3*2 + 6 = 42; flat: 2*36 + 6 = 78.
  EXPECT_EQ(make("polynomial", 3, 2)->flops_per_row(), 42);
  EXPECT_EQ(make("polynomial", 3, 2, "{mode: flat}")->flops_per_row(), 78);
  // cnn (16 filters, kernel 4, same): P = 1; project 2*6*2 + 2 = 26; conv 1 * (2*4*2*16 + 16)
  // = 272; no pooling at length 1; output 2*16*6 + 6 = 198. Total 496.
  EXPECT_EQ(make("cnn", 3, 2)->flops_per_row(), 496);
  // attention (4 heads of 8): qkv 3 * 3 * (2*2*32 + 32) = 1440; scores and sum 2*2*4*9*8 =
  // 1152; merge 3 * (2*32*2 + 2) = 390; norm 2*6 = 12; output 78. Total 3072.
  EXPECT_EQ(make("attention", 3, 2)->flops_per_row(), 3072);
}

}  // namespace
}  // namespace adaensemble::model
