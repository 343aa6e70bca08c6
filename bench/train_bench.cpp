// Training speed of the framework, one measurement per process, one JSON line
// on stdout each, so that runs of several cases can be tabulated side by side:
//   peak                       float32 matmul GFLOP/s (the MFU denominator)
//   train  --data FILE ...     train steps on the real data path (cache,
//                              BatchIterator with prefetch, the trainer's
//                              optimizers): examples/s, step time, time
//                              blocked in BatchIterator::next, FLOPs, memory
//   profile --data FILE ...    autograd-profiler totals per operator
//   dump --data FILE --out DIR training batches as raw arrays, for the
//                              plain-PyTorch peer (bench/torch_peer.py)
// Flags (--key value): --data FILE[,FILE...]; --model paper|dcnv2|logistic
// (paper); --batch (4096); --steps (20; -1 = the rest of one epoch);
// --warmup (3); --threads (2); --top-k (3) and --controller (1) of the paper
// preset; --experts a,b,... (the preset's five); --sparse (0: dense embedding
// gradients; 1: row-sparse); --min-count (1); --table-scale (1: every table S
// times as tall, same ids); --cache DIR; dump: --out DIR, --batches (8).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/optimizer.h>
#include <torch/utils.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "adaensemble/config/model_config.h"
#include "adaensemble/config/train_config.h"
#include "adaensemble/data/batch_iterator.h"
#include "adaensemble/data/dataset.h"
#include "adaensemble/model/embedding.h"
#include "adaensemble/model/experts/cross_expert.h"
#include "adaensemble/model/model_builder.h"
#include "adaensemble/model/model_factory.h"
#include "adaensemble/train/feature_bridge.h"
#include "adaensemble/train/optimizers.h"

namespace {

namespace fs = std::filesystem;
namespace model = adaensemble::model;
namespace data = adaensemble::data;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// Splits "a,b,c" into its parts.
std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  for (std::string part; std::getline(stream, part, ',');) parts.push_back(part);
  return parts;
}

/// `--key value` flags after the command word.
struct Flags {
  std::map<std::string, std::string> values;
  std::string get(const std::string& key, const std::string& fallback) const {
    const auto it = values.find(key);
    return it == values.end() ? fallback : it->second;
  }
  int64_t num(const std::string& key, int64_t fallback) const {
    return std::stoll(get(key, std::to_string(fallback)));
  }
  /// num() that must be at least `min`.
  int64_t at_least(const std::string& key, int64_t fallback, int64_t min) const {
    const int64_t value = num(key, fallback);
    if (value < min) {
      throw std::runtime_error("--" + key + ": got " + std::to_string(value) + ", expected >= " +
                               std::to_string(min));
    }
    return value;
  }
  bool sparse() const { return num("sparse", 0) != 0; }
  std::string need(const std::string& key) const {
    const auto it = values.find(key);
    if (it == values.end()) throw std::runtime_error("missing --" + key);
    return it->second;
  }
};

Flags parse_flags(int argc, char** argv) {
  Flags flags;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0 || i + 1 >= argc) {
      throw std::runtime_error("expected --key value, got " + arg);
    }
    flags.values[arg.substr(2)] = argv[++i];
  }
  return flags;
}

/// Reads a kB field of /proc/self/status (VmHWM, VmRSS, RssAnon, RssFile).
double status_mib(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stod(line.substr(field.size() + 1)) / 1024.0;
  }
  return 0.0;
}

// ~~~ DCN-V2 from the framework's modules ~~~

/// DCN-V2 (parallel): three full-rank cross layers x_{l+1} = x0 * (W x_l + b)
/// + x_l on the [B, F, D] embedding beside an MLP 500-500-500 on the same
/// input; the logit is a linear map of both outputs concatenated.
class DcnV2Impl : public model::CtrModelImpl {
 public:
  DcnV2Impl(const model::FeatureSpec& spec, model::EmbeddingInputOptions options) {
    embedding = register_module("embedding", model::EmbeddingInput(spec, options));
    shape_ = {spec.num_fields(), options.dim};
    const int64_t n = shape_.flat_dim();
    for (int i = 0; i < 3; ++i) {
      cross.push_back(register_module("cross_" + std::to_string(i),
                                      model::CrossExpert(shape_, model::CrossExpertOptions{})));
    }
    int64_t width = n;
    for (int i = 0; i < 3; ++i) {
      mlp.push_back(register_module("mlp_" + std::to_string(i), torch::nn::Linear(width, 500)));
      width = 500;
    }
    head = register_module("head", torch::nn::Linear(n + width, 1));
  }

  model::ModelOutput forward(const at::Tensor& categorical, const at::Tensor& numeric,
                             model::RoutingMode) override {
    const at::Tensor x0 = embedding(categorical, numeric);
    const int64_t rows = x0.size(0);
    at::Tensor x = x0;
    for (auto& layer : cross) x = x + layer(x, x0);
    at::Tensor h = x0.reshape({rows, shape_.flat_dim()});
    for (auto& layer : mlp) h = at::relu(layer(h));
    model::ModelOutput out;
    out.logits = head(at::cat({x.reshape({rows, shape_.flat_dim()}), h}, 1)).squeeze(1);
    out.expert_balance_loss = out.depth_balance_loss = out.z_loss = at::zeros({});
    return out;
  }

  model::ParameterGroups parameter_groups() override {
    model::ParameterGroups groups;
    groups.model = parameters();
    return groups;
  }
  std::vector<at::Tensor> embedding_parameters() override { return embedding->parameters(); }

  /// Forward FLOPs per row (a multiply-add = 2), as the framework counts them.
  double flops_per_row() const {
    const int64_t n = shape_.flat_dim();
    double flops = 0;
    for (const auto& layer : cross) flops += layer->flops_per_row() + n;   // + residual
    flops += 2.0 * n * 500 + 500 + 2 * (2.0 * 500 * 500 + 500) + 3 * 500;  // MLP, ReLU
    return flops + 2.0 * (n + 500) + 1;
  }

  model::EmbeddingInput embedding{nullptr};
  std::vector<model::CrossExpert> cross;
  std::vector<torch::nn::Linear> mlp;
  torch::nn::Linear head{nullptr};

 private:
  model::ExpertShape shape_;
};
TORCH_MODULE(DcnV2);

// ~~~ The models under test ~~~

adaensemble::config::ModelConfig paper_config(const Flags& flags) {
  auto config = adaensemble::config::model_preset("paper");
  config.gate.top_k = flags.num("top-k", 3);
  config.gate.anneal_steps = 0;  // k fixed from the first step.
  config.controller.enabled = flags.num("controller", 1) != 0;
  config.embedding.sparse_gradients = flags.sparse();
  const std::string experts = flags.get("experts", "");
  if (!experts.empty()) config.experts = split_commas(experts);
  return config;
}

struct Built {
  model::CtrModel model;
  std::function<double()> flops_per_row;  // forward FLOPs per row of what ran
};

Built build(const std::string& name, const model::FeatureSpec& spec, const Flags& flags) {
  Built built;
  if (name == "dcnv2") {
    model::EmbeddingInputOptions options;
    options.sparse_gradients = flags.sparse();
    DcnV2 dcn(spec, options);
    const double flops = dcn->flops_per_row();
    built.model = dcn.ptr();
    built.flops_per_row = [flops] { return flops; };
    return built;
  }
  if (name == "logistic") {
    auto config = adaensemble::config::model_preset("paper");
    config.architecture = "logistic";
    config.embedding.sparse_gradients = flags.sparse();
    built.model = model::build_ctr_model(config, spec);
    const double flops = 2.0 * static_cast<double>(spec.num_fields());
    built.flops_per_row = [flops] { return flops; };
    return built;
  }
  if (name != "paper") {
    throw std::runtime_error("--model must be paper, dcnv2 or logistic, got " + name);
  }
  built.model = model::build_ctr_model(paper_config(flags), spec);
  built.model->set_collect_stats(true);
  model::CtrModelImpl* raw = built.model.get();
  built.flops_per_row = [raw] {
    const model::RoutingStats stats = raw->take_stats();
    return stats.rows > 0 ? stats.flops / static_cast<double>(stats.rows) : 0.0;
  };
  return built;
}

/// The trainer's theta step (joint mode: one optimizer over every parameter).
double train_step(model::CtrModelImpl& net, torch::optim::Optimizer& optimizer,
                  const data::Batch& batch) {
  optimizer.zero_grad();
  at::Tensor loss;
  {
    RECORD_USER_SCOPE("step.forward");
    const model::ModelOutput out =
        net.forward(batch.categorical, batch.numeric, model::RoutingMode::kHard);
    loss = at::binary_cross_entropy_with_logits(out.logits, batch.label) + out.expert_balance_loss +
           out.depth_balance_loss + out.z_loss;
  }
  const double value = loss.item<double>();
  {
    RECORD_USER_SCOPE("step.backward");
    loss.backward();
  }
  RECORD_USER_SCOPE("step.optimizer");
  optimizer.step();
  return value;
}

/// The training batches of both `train` and `dump`: `--batch` rows, shuffled
/// with a fixed seed, so the peer reads the examples the framework trains on.
data::BatchOptions shuffled_batches(const Flags& flags) {
  data::BatchOptions options;
  options.batch_size = flags.at_least("batch", 4096, 1);
  options.shuffle = true;
  options.seed = 7;
  return options;
}

/// Prepares `--data FILE[,FILE...]` (all rows train) through the cache.
data::PreparedData open_data(const Flags& flags) {
  adaensemble::config::DataConfig config;
  config.format = "criteo";
  for (const std::string& file : split_commas(flags.need("data"))) {
    config.train.push_back({file, 0, -1});
  }
  config.cache_dir = flags.get("cache", (fs::temp_directory_path() / "train-bench-cache").string());
  config.min_count = flags.num("min-count", 1);
  return data::prepare_data(config);
}

int64_t parameter_count(model::CtrModelImpl& net) {
  int64_t count = 0;
  for (const auto& p : net.parameters()) count += p.numel();
  return count;
}

// ~~~ Commands ~~~

/// Writes the first `--batches` training batches (the `train` case's shuffle)
/// as raw little-endian arrays for the plain-PyTorch peer: categorical.i64
/// [rows, C], numeric.f32 [rows, N] (NaN = missing), label.f32 [rows], and
/// meta.json with the shapes and each categorical field's table rows.
int dump(const Flags& flags) {
  const data::PreparedData prepared = open_data(flags);
  const model::FeatureSpec spec =
      adaensemble::train::feature_spec_of(prepared.schema, prepared.vocabulary);
  data::BatchOptions options = shuffled_batches(flags);
  options.drop_last = true;
  data::BatchIterator batches(prepared.train, options);
  std::vector<at::Tensor> categorical, numeric, label;
  data::Batch batch;
  const int64_t count = flags.at_least("batches", 8, 1);
  for (int64_t i = 0; i < count && batches.next(&batch); ++i) {
    categorical.push_back(batch.categorical);
    numeric.push_back(batch.numeric);
    label.push_back(batch.label);
  }
  if (categorical.empty()) throw std::runtime_error(flags.need("data") + ": no rows to dump");
  const fs::path out = flags.need("out");
  fs::create_directories(out);
  const auto write = [&](const std::string& name, const at::Tensor& tensor) {
    const at::Tensor t = tensor.contiguous();
    std::ofstream file(out / name, std::ios::binary);
    file.write(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
    if (!file) throw std::runtime_error((out / name).string() + ": write failed");
  };
  const at::Tensor all_categorical = at::cat(categorical);
  write("categorical.i64", all_categorical);
  write("numeric.f32", at::cat(numeric));
  write("label.f32", at::cat(label));
  std::ofstream meta(out / "meta.json");
  meta << "{\"rows\": " << all_categorical.size(0)
       << ", \"categorical\": " << spec.cardinalities.size()
       << ", \"numeric\": " << spec.num_numeric << ", \"cardinalities\": [";
  for (size_t i = 0; i < spec.cardinalities.size(); ++i) {
    meta << (i ? ", " : "") << spec.cardinalities[i];
  }
  meta << "]}\n";
  if (!meta) throw std::runtime_error((out / "meta.json").string() + ": write failed");
  std::printf("{\"case\": \"dump\", \"rows\": %ld, \"out\": \"%s\"}\n",
              static_cast<long>(all_categorical.size(0)), out.c_str());
  return 0;
}

int peak(const Flags& flags) {
  double best = 0.0;
  for (const auto& [m, k, n] : std::vector<std::array<int64_t, 3>>{
           {4096, 624, 624}, {4096, 2048, 2048}, {2048, 2048, 2048}}) {
    const at::Tensor a = at::randn({m, k});
    const at::Tensor b = at::randn({k, n});
    at::Tensor c = at::mm(a, b);
    const int repeats = 5;
    double fastest = 1e30;
    for (int r = 0; r < repeats; ++r) {
      const auto start = Clock::now();
      at::mm_out(c, a, b);
      fastest = std::min(fastest, seconds_since(start));
    }
    const double gflops = 2.0 * m * k * n / fastest / 1e9;
    std::printf("{\"case\": \"matmul\", \"m\": %ld, \"k\": %ld, \"n\": %ld, \"gflops\": %.1f}\n",
                static_cast<long>(m), static_cast<long>(k), static_cast<long>(n), gflops);
    best = std::max(best, gflops);
  }
  std::printf("{\"case\": \"peak\", \"gflops\": %.1f, \"threads\": %d}\n", best,
              at::get_num_threads());
  (void)flags;
  return 0;
}

/// The data's feature spec with every categorical table `--table-scale` times
/// as tall: the ids a batch touches stay the same, only the table grows.
model::FeatureSpec scaled_spec(const data::PreparedData& prepared, const Flags& flags) {
  model::FeatureSpec spec =
      adaensemble::train::feature_spec_of(prepared.schema, prepared.vocabulary);
  const int64_t scale = flags.at_least("table-scale", 1, 1);
  for (int64_t& rows : spec.cardinalities) rows *= scale;
  return spec;
}

int train(const Flags& flags) {
  const data::PreparedData prepared = open_data(flags);
  const model::FeatureSpec spec = scaled_spec(prepared, flags);
  const std::string name = flags.get("model", "paper");
  Built built = build(name, spec, flags);
  built.model->train();
  auto optimizer = adaensemble::train::make_joint_optimizer(
      adaensemble::config::OptimizerConfig{}, *built.model);

  data::BatchOptions options = shuffled_batches(flags);
  options.prefetch = static_cast<int>(flags.at_least("prefetch", 2, 0));
  data::BatchIterator batches(prepared.train, options);
  const int64_t warmup = flags.at_least("warmup", 3, 0);
  const int64_t steps = flags.num("steps", 20);
  if (steps == 0 || steps < -1) {
    throw std::runtime_error("--steps: got " + std::to_string(steps) +
                             ", expected >= 1, or -1 for the rest of one epoch");
  }

  data::Batch batch;
  double data_seconds = 0.0;
  double loss = 0.0;
  double rows = 0.0;
  Clock::time_point start;
  // --steps -1: every batch of one epoch after the warm-up (the memory case).
  const bool whole_epoch = steps < 0;
  int64_t timed_steps = 0;
  for (int64_t step = 0; whole_epoch || step < warmup + steps; ++step) {
    if (step == warmup) {
      built.flops_per_row();  // Drop the warm-up's statistics.
      data_seconds = 0.0;
      rows = 0.0;
      timed_steps = 0;
      start = Clock::now();
    }
    const auto wait = Clock::now();
    if (!batches.next(&batch)) {
      if (whole_epoch && step > warmup) break;
      if (!batches.next(&batch)) {
        throw std::runtime_error(flags.need("data") + ": no rows to train on");
      }
    }
    data_seconds += seconds_since(wait);
    loss = train_step(*built.model, *optimizer, batch);
    rows += static_cast<double>(batch.label.size(0));
    ++timed_steps;
  }
  const double seconds = seconds_since(start);
  std::printf(
      "{\"case\": \"train\", \"impl\": \"adaensemble\", \"model\": \"%s\", \"batch\": %ld, "
      "\"top_k\": %ld, \"controller\": %ld, \"sparse\": %ld, \"steps\": %ld, "
      "\"examples_per_s\": %.1f, \"step_ms\": %.2f, \"data_wait_fraction\": %.4f, "
      "\"forward_mflops_per_example\": %.4f, \"parameters\": %ld, \"table_rows\": %ld, "
      "\"loss\": %.5f, \"peak_rss_mib\": %.1f, \"rss_anon_mib\": %.1f, \"rss_file_mib\": %.1f, "
      "\"train_rows\": %ld, \"table_scale\": %ld, \"min_count\": %ld, \"threads\": %d}\n",
      name.c_str(), static_cast<long>(options.batch_size), static_cast<long>(flags.num("top-k", 3)),
      static_cast<long>(flags.num("controller", 1)), static_cast<long>(flags.num("sparse", 0)),
      static_cast<long>(timed_steps), rows / seconds, seconds / timed_steps * 1e3,
      data_seconds / seconds,
      built.flops_per_row() / 1e6, static_cast<long>(parameter_count(*built.model)),
      static_cast<long>(
          std::accumulate(spec.cardinalities.begin(), spec.cardinalities.end(), int64_t{0})),
      loss, status_mib("VmHWM"), status_mib("RssAnon"), status_mib("RssFile"),
      static_cast<long>(prepared.train->rows()), static_cast<long>(flags.num("table-scale", 1)),
      static_cast<long>(flags.num("min-count", 1)), at::get_num_threads());
  return 0;
}

/// Self time per operator over `--steps` profiled steps (after warm-up), the
/// largest first; user scopes (step.forward, step.backward, step.optimizer)
/// report their inclusive time.
int profile(const Flags& flags) {
  const data::PreparedData prepared = open_data(flags);
  const model::FeatureSpec spec = scaled_spec(prepared, flags);
  Built built = build(flags.get("model", "paper"), spec, flags);
  built.model->train();
  auto optimizer = adaensemble::train::make_joint_optimizer(
      adaensemble::config::OptimizerConfig{}, *built.model);
  data::BatchIterator batches(prepared.train, shuffled_batches(flags));
  data::Batch batch;
  for (int64_t step = 0; step < flags.at_least("warmup", 2, 0); ++step) {
    if (!batches.next(&batch)) batches.next(&batch);  // The epoch may end here.
    train_step(*built.model, *optimizer, batch);
  }
  const int64_t steps = flags.at_least("steps", 3, 1);
  std::map<std::string, std::pair<double, int64_t>> self;  // op -> (us, calls)
  std::map<std::string, double> scopes;
  double total_us = 0.0;
  {
    namespace profiler = torch::autograd::profiler;
    profiler::TLSLegacyProfilerGuard guard(
        torch::profiler::impl::ProfilerConfig(torch::profiler::impl::ProfilerState::CPU),
        [&](const profiler::thread_event_lists& lists) {
          for (const auto& list : lists) {
            // Open ranges: (event, time spent in children).
            std::vector<std::pair<const profiler::LegacyEvent*, double>> open;
            for (const auto& event : list) {
              if (event.kindStr() == "push") {
                open.emplace_back(&event, 0.0);
              } else if (event.kindStr() == "pop" && !open.empty()) {
                const auto [start, children] = open.back();
                open.pop_back();
                const double us = start->cpuElapsedUs(event);
                const std::string name = start->name();
                if (name.rfind("step.", 0) == 0) {
                  scopes[name] += us;
                  if (name == "step.forward" || name == "step.backward" || name == "step.optimizer")
                    total_us += us;
                  continue;  // user scopes do not count as their parent's children
                }
                auto& entry = self[name];
                entry.first += us - children;
                entry.second += 1;
                if (!open.empty()) open.back().second += us;
              }
            }
          }
        });
    for (int64_t step = 0; step < steps; ++step) {
      if (!batches.next(&batch)) batches.next(&batch);
      train_step(*built.model, *optimizer, batch);
    }
  }
  for (const auto& [name, us] : scopes) {
    std::printf("{\"case\": \"profile_scope\", \"scope\": \"%s\", \"ms_per_step\": %.2f}\n",
                name.c_str(), us / steps / 1e3);
  }
  std::vector<std::pair<std::string, std::pair<double, int64_t>>> ranked(self.begin(), self.end());
  std::sort(ranked.begin(), ranked.end(),
            [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
  const int64_t top = std::min<int64_t>(flags.num("top", 25), ranked.size());
  for (int64_t i = 0; i < top; ++i) {
    const auto& [name, entry] = ranked[i];
    std::printf(
        "{\"case\": \"profile\", \"op\": \"%s\", \"self_ms_per_step\": %.2f, "
        "\"share\": %.4f, \"calls_per_step\": %.1f}\n",
        name.c_str(), entry.first / steps / 1e3, total_us > 0 ? entry.first / total_us : 0.0,
        static_cast<double>(entry.second) / steps);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::fprintf(stderr,
                 "usage: train_bench peak|train|profile|dump [--key value ...] (flags: see the "
                 "comment at the top of bench/train_bench.cpp)\n");
    return 2;
  }
  try {
    const std::string command = argv[1];
    const Flags flags = parse_flags(argc, argv);
    at::set_num_threads(static_cast<int>(flags.num("threads", 2)));
    torch::manual_seed(0);
    if (command == "peak") return peak(flags);
    if (command == "train") return train(flags);
    if (command == "profile") return profile(flags);
    if (command == "dump") return dump(flags);
    std::fprintf(stderr, "train_bench: unknown command %s\n", command.c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_bench: %s\n", e.what());
    return 1;
  }
}
