// The exported TorchScript model against the in-process model in one run: the
// paper-preset network on Criteo's 13 numeric and 26 categorical fields (k
// annealed to 3, controller on), eval mode, no gradients. Prints one JSON line
// per case: single-row latency p50 / p99 (encoded inputs, then raw strings)
// and batched throughput at batch 512, with exported / in-process ratios.
// Calls alternate between the two models so machine load hits both alike.
// Usage: export_bench [threads=1] [single_row_calls=2000] [batches=60]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/script.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "adaensemble/config/run_config.h"
#include "adaensemble/data/features.h"
#include "adaensemble/export/exporter.h"
#include "adaensemble/model/model_factory.h"
#include "adaensemble/train/feature_bridge.h"

namespace {

using Clock = std::chrono::steady_clock;
using adaensemble::model::RoutingMode;

double seconds_of(const std::function<void()>& call) {
  const auto start = Clock::now();
  call();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double percentile(std::vector<double> values, double fraction) {
  std::sort(values.begin(), values.end());
  const auto index = static_cast<std::size_t>(fraction * static_cast<double>(values.size() - 1));
  return values[index];
}

void print_latency(const char* name, int threads, const std::vector<double>& in_process,
                   const std::vector<double>& exported) {
  const double a50 = percentile(in_process, 0.5) * 1e6, a99 = percentile(in_process, 0.99) * 1e6;
  const double b50 = percentile(exported, 0.5) * 1e6, b99 = percentile(exported, 0.99) * 1e6;
  std::printf(
      "{\"case\": \"%s\", \"threads\": %d, \"calls\": %zu, \"in_process_p50_us\": %.1f, "
      "\"in_process_p99_us\": %.1f, \"exported_p50_us\": %.1f, \"exported_p99_us\": %.1f, "
      "\"p50_ratio\": %.2f, \"p99_ratio\": %.2f}\n",
      name, threads, in_process.size(), a50, a99, b50, b99, b50 / a50, b99 / a99);
}

// A Criteo schema with a synthetic vocabulary of `values` strings per field.
adaensemble::data::Vocabulary synthetic_vocabulary(const adaensemble::data::Schema& schema,
                                                   int64_t values) {
  std::vector<adaensemble::data::Vocabulary::Field> fields;
  for (const std::string& name : schema.categorical_names()) {
    adaensemble::data::Vocabulary::Field field;
    field.name = name;
    for (int64_t v = 0; v < values; ++v) {
      field.values.push_back(name + "_" + std::to_string(v));
      field.counts.push_back(1);
    }
    fields.push_back(std::move(field));
  }
  return adaensemble::data::Vocabulary(std::move(fields));
}

}  // namespace

int main(int argc, char** argv) {
  namespace ae = adaensemble;
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  const int single_calls = argc > 2 ? std::atoi(argv[2]) : 2000;
  const int batches = argc > 3 ? std::atoi(argv[3]) : 60;
  constexpr int64_t kBatch = 512;
  constexpr int64_t kValues = 1000;
  if (argc > 4 || threads < 1 || single_calls < 1 || batches < 1) {
    std::fprintf(stderr,
                 "usage: export_bench [THREADS (1) [SINGLE_ROW_CALLS (2000) [BATCHES (60)]]]\n");
    return 2;
  }
  at::set_num_threads(threads);
  torch::manual_seed(0);

  ae::config::RunConfig config;
  config.model = ae::config::model_preset("paper");
  const ae::data::Schema schema = ae::data::preset_schema("criteo");
  const ae::data::Vocabulary vocabulary = synthetic_vocabulary(schema, kValues);
  ae::model::CtrModel model =
      ae::model::build_ctr_model(config.model, ae::train::feature_spec_of(schema, vocabulary));
  model->set_step(1000000);
  model->eval();
  ae::exporting::ExportInputs inputs{model.get(), &config, &schema, &vocabulary};
  torch::jit::Module exported = ae::exporting::build_script_module(inputs);
  at::NoGradGuard no_grad;

  // A pool of rows: ids of known values, numeric counts with 20% missing.
  const int64_t pool = kBatch * 8;
  const at::Tensor categorical =
      at::randint(ae::data::kFirstValueId, kValues + 2, {pool, 26}, at::kLong);
  at::Tensor numeric = at::floor(at::exp(at::rand({pool, 13}) * 8.0));
  numeric.masked_fill_(at::rand({pool, 13}) < 0.2, NAN);
  std::vector<std::vector<std::string>> raw(pool);
  for (int64_t r = 0; r < pool; ++r) {
    for (int64_t n = 0; n < 13; ++n) {
      const float value = numeric[r][n].item<float>();
      raw[r].push_back(std::isnan(value) ? "" : std::to_string(static_cast<int64_t>(value)));
    }
    for (int64_t c = 0; c < 26; ++c) {
      raw[r].push_back(
          vocabulary.value_of(c, static_cast<int32_t>(categorical[r][c].item<int64_t>())));
    }
  }

  auto in_process = [&](const at::Tensor& ids, const at::Tensor& values) {
    return at::sigmoid(model->forward(ids, values, RoutingMode::kHard).logits);
  };
  auto script = [&](const at::Tensor& ids, const at::Tensor& values) {
    return exported.forward({ids, values}).toTensor();
  };
  const ae::data::RowEncoder encoder(schema, vocabulary);
  auto in_process_raw = [&](const std::vector<std::string>& row) {
    at::Tensor ids = at::empty({1, 26}, at::kLong);
    at::Tensor values = at::empty({1, 13}, at::kFloat);
    encoder.encode(row, ids.data_ptr<int64_t>(), values.data_ptr<float>());
    return in_process(ids, values);
  };
  auto script_raw = [&](const std::vector<std::string>& row) {
    c10::impl::GenericList rows(c10::ListType::ofStrings());
    rows.push_back(c10::List<std::string>(row));
    return exported.run_method("score_raw", rows).toTensor();
  };

  // Same numbers first: the comparison is only meaningful if they agree.
  const double difference =
      (in_process(categorical, numeric) - script(categorical, numeric)).abs().max().item<double>();
  std::printf("{\"case\": \"agreement\", \"rows\": %ld, \"max_abs_difference\": %.3g}\n",
              static_cast<long>(pool), difference);

  // Warm-up: the TorchScript executor profiles and optimises its first calls.
  for (int i = 0; i < 50; ++i) {
    const at::Tensor ids = categorical.narrow(0, i, 1), values = numeric.narrow(0, i, 1);
    in_process(ids, values);
    script(ids, values);
    in_process_raw(raw[i]);
    script_raw(raw[i]);
  }

  std::vector<double> a, b;
  for (int i = 0; i < single_calls; ++i) {
    const int64_t r = i % pool;
    const at::Tensor ids = categorical.narrow(0, r, 1), values = numeric.narrow(0, r, 1);
    a.push_back(seconds_of([&] { in_process(ids, values); }));
    b.push_back(seconds_of([&] { script(ids, values); }));
  }
  print_latency("single_row_encoded", threads, a, b);

  a.clear();
  b.clear();
  for (int i = 0; i < single_calls; ++i) {
    const auto& row = raw[i % pool];
    a.push_back(seconds_of([&] { in_process_raw(row); }));
    b.push_back(seconds_of([&] { script_raw(row); }));
  }
  print_latency("single_row_raw_strings", threads, a, b);

  double in_process_seconds = 0.0, exported_seconds = 0.0;
  for (int i = 0; i < batches; ++i) {
    const int64_t start = (i % (pool / kBatch)) * kBatch;
    const at::Tensor ids = categorical.narrow(0, start, kBatch);
    const at::Tensor values = numeric.narrow(0, start, kBatch);
    in_process_seconds += seconds_of([&] { in_process(ids, values); });
    exported_seconds += seconds_of([&] { script(ids, values); });
  }
  const double rows = static_cast<double>(batches) * kBatch;
  std::printf(
      "{\"case\": \"batch_512\", \"threads\": %d, \"batches\": %d, "
      "\"in_process_rows_per_s\": %.0f, \"exported_rows_per_s\": %.0f, \"ratio\": %.2f}\n",
      threads, batches, rows / in_process_seconds, rows / exported_seconds,
      in_process_seconds / exported_seconds);
  return 0;
}
