// Data-path throughput: parse + encode MB/s on one core against `wc -l`, the
// time of each stage, and batch iteration from the cache in examples/s on one
// core. Rates come from wall time and from the process's CPU time (user +
// system), which other load on the machine does not inflate.
// Usage: data_bench FILE [WC_WALL_SECONDS WC_CPU_SECONDS]   (bench/data_bench.sh supplies all)
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "adaensemble/data/batch_iterator.h"
#include "adaensemble/data/dataset.h"

namespace fs = std::filesystem;
namespace data = adaensemble::data;

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

// Runs the stages of prepare_data one by one on a fresh cache and prints
// their CPU times.
void time_stages(const adaensemble::config::DataConfig& config) {
  fs::remove_all(config.cache_dir);
  const data::Schema schema = data::make_schema(config);
  double start = cpu_seconds();
  const auto parsed =
      data::ParsedSlice::open(config.train[0], schema, config.bad_rows, config.cache_dir, 1);
  const double parse_seconds = cpu_seconds() - start;
  start = cpu_seconds();
  const auto dictionary = parsed->dictionary();
  const double dictionary_seconds = cpu_seconds() - start;
  start = cpu_seconds();
  const std::vector<std::string> names = schema.categorical_names();
  const data::Vocabulary vocabulary =
      data::Vocabulary::build(names, dictionary, std::vector<int64_t>(names.size(), 1));
  const double vocabulary_seconds = cpu_seconds() - start;
  start = cpu_seconds();
  const auto ids = data::EncodedIds::open(*parsed, vocabulary, config.cache_dir, 1);
  const double encode_seconds = cpu_seconds() - start;
  int64_t values = 0;
  for (const auto& field : vocabulary.fields()) values += static_cast<int64_t>(field.values.size());
  std::printf(
      "stages_cpu_s: parse=%.3f read_dictionary=%.3f build_vocabulary=%.3f encode=%.3f "
      "(%lld known values)\n",
      parse_seconds, dictionary_seconds, vocabulary_seconds, encode_seconds,
      static_cast<long long>(values));
  fs::remove_all(config.cache_dir);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: data_bench FILE [WC_WALL_SECONDS WC_CPU_SECONDS]\n");
    return 2;
  }
  const fs::path file = argv[1];
  if (!fs::is_regular_file(file)) {
    std::fprintf(stderr, "data_bench: %s: no such file (usage: data_bench FILE [WC_WALL_SECONDS "
                 "WC_CPU_SECONDS])\n", file.c_str());
    return 2;
  }
  const double wc_seconds = argc > 2 ? std::atof(argv[2]) : 0.0;
  const double wc_cpu_seconds = argc > 3 ? std::atof(argv[3]) : 0.0;
  const double megabytes = static_cast<double>(fs::file_size(file)) / 1e6;
  const fs::path cache = fs::temp_directory_path() / "adaensemble-data-bench";
  fs::remove_all(cache);

  adaensemble::config::DataConfig config;
  config.format = "criteo";
  config.train = {{file, 0, -1}};
  config.cache_dir = cache;
  config.threads = 1;
  auto start = std::chrono::steady_clock::now();
  const double cpu_start = cpu_seconds();
  const auto prepared = data::prepare_data(config);
  const double parse_cpu_seconds = cpu_seconds() - cpu_start;
  const double parse_seconds = seconds_since(start);
  const double parse_mb_s = megabytes / parse_seconds;
  const double parse_cpu_mb_s = megabytes / parse_cpu_seconds;

  start = std::chrono::steady_clock::now();
  const auto reused = data::prepare_data(config);
  const double reuse_seconds = seconds_since(start);

  data::BatchIterator batches(prepared.train, {4096, true, 1, false, 0, 1024});
  data::Batch batch;
  int64_t examples = 0;
  start = std::chrono::steady_clock::now();
  for (int epoch = 0; epoch < 3; ++epoch) {
    while (batches.next(&batch)) examples += batch.label.size(0);
  }
  const double batch_rate = examples / seconds_since(start);

  std::printf("file=%s MB=%.1f rows=%lld\n", file.c_str(), megabytes,
              static_cast<long long>(prepared.train->rows()));
  std::printf("parse_encode_s=%.3f parse_encode_MB_per_s_per_core=%.1f cache_reuse_s=%.3f\n",
              parse_seconds, parse_mb_s, reuse_seconds);
  std::printf("parse_encode_cpu_s=%.3f parse_encode_MB_per_cpu_s=%.1f\n", parse_cpu_seconds,
              parse_cpu_mb_s);
  if (wc_seconds > 0) {
    const double wc_mb_s = megabytes / wc_seconds;
    std::printf("wc_l_s=%.3f wc_l_MB_per_s=%.1f ratio_wc_over_parse=%.1fx (target <= 30x)\n",
                wc_seconds, wc_mb_s, wc_mb_s / parse_mb_s);
  }
  if (wc_cpu_seconds > 0) {
    const double wc_mb_s = megabytes / wc_cpu_seconds;
    std::printf("wc_l_cpu_s=%.3f wc_l_MB_per_cpu_s=%.1f ratio_wc_over_parse_cpu=%.1fx\n",
                wc_cpu_seconds, wc_mb_s, wc_mb_s / parse_cpu_mb_s);
  }
  std::printf(
      "batch_iteration_examples_per_s=%.0f (batch 4096, one core; target > 5e6) "
      "ratio_to_target=%.2f\n",
      batch_rate, batch_rate / 5e6);
  fs::remove_all(cache);
  time_stages(config);
  return 0;
}
