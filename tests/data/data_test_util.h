// Helpers for the data tests: a config over files in a scratch directory.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "adaensemble/config/data_config.h"
#include "adaensemble/data/dataset.h"

namespace adaensemble::data::test {

/// Returns a config of `format` training on `files`, caching under `cache`.
inline config::DataConfig config_for(const std::string& format,
                                     const std::vector<std::filesystem::path>& files,
                                     const std::filesystem::path& cache) {
  config::DataConfig config;
  config.format = format;
  for (const auto& file : files) config.train.push_back({file, 0, -1});
  config.cache_dir = cache;
  return config;
}

/// Returns the DataError message of `action`, or "(no error)".
template <typename Fn>
std::string data_error_of(Fn action) {
  try {
    action();
  } catch (const DataError& error) {
    return error.what();
  }
  return "(no error)";
}

}  // namespace adaensemble::data::test
