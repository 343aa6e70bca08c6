// Data-path throughput: parse + encode MB/s on one core against `wc -l`, and
// batch iteration from the cache in examples/s on one core.
// Usage: data_bench FILE [WC_SECONDS]   (bench/data_bench.sh supplies both)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "adaensemble/data/batch_iterator.h"
#include "adaensemble/data/dataset.h"

namespace fs = std::filesystem;
using adaensemble::data::Batch;
using adaensemble::data::BatchIterator;

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: data_bench FILE [WC_SECONDS]\n");
    return 2;
  }
  const fs::path file = argv[1];
  const double wc_seconds = argc > 2 ? std::atof(argv[2]) : 0.0;
  const double megabytes = static_cast<double>(fs::file_size(file)) / 1e6;
  const fs::path cache = fs::temp_directory_path() / "adaensemble-data-bench";
  fs::remove_all(cache);

  adaensemble::config::DataConfig config;
  config.format = "criteo";
  config.train = {{file, 0, -1}};
  config.cache_dir = cache;
  config.threads = 1;
  auto start = std::chrono::steady_clock::now();
  const auto data = adaensemble::data::prepare_data(config);
  const double parse_seconds = seconds_since(start);
  const double parse_mb_s = megabytes / parse_seconds;

  start = std::chrono::steady_clock::now();
  const auto reused = adaensemble::data::prepare_data(config);
  const double reuse_seconds = seconds_since(start);

  BatchIterator batches(data.train, {4096, true, 1, false, 0, 1024});
  Batch batch;
  int64_t examples = 0;
  start = std::chrono::steady_clock::now();
  for (int epoch = 0; epoch < 3; ++epoch) {
    while (batches.next(&batch)) examples += batch.label.size(0);
  }
  const double batch_rate = examples / seconds_since(start);

  std::printf("file=%s MB=%.1f rows=%lld\n", file.c_str(), megabytes,
              static_cast<long long>(data.train->rows()));
  std::printf("parse_encode_s=%.3f parse_encode_MB_per_s_per_core=%.1f cache_reuse_s=%.3f\n",
              parse_seconds, parse_mb_s, reuse_seconds);
  if (wc_seconds > 0) {
    const double wc_mb_s = megabytes / wc_seconds;
    std::printf("wc_l_s=%.3f wc_l_MB_per_s=%.1f ratio_wc_over_parse=%.1fx (target <= 30x)\n",
                wc_seconds, wc_mb_s, wc_mb_s / parse_mb_s);
  }
  std::printf(
      "batch_iteration_examples_per_s=%.0f (batch 4096, one core; target > 5e6) "
      "ratio_to_target=%.2f\n",
      batch_rate, batch_rate / 5e6);
  fs::remove_all(cache);
  return 0;
}
