// What `adaensemble-data inspect` and `synth` do, callable from tests: a
// JSON summary of input files (rows, bad rows, positives, per-field distinct
// values and missing rates) and the synthetic-data writer's report.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "adaensemble/data/parsed_cache.h"
#include "adaensemble/data/schema.h"
#include "adaensemble/data/synthetic.h"

namespace adaensemble::data {

/// Summarises `files` read with `schema`. Bad rows are counted and the first
/// `report_first` listed instead of failing; an empty file still throws.
nlohmann::json inspect_files(const std::vector<FileSlice>& files, const Schema& schema,
                             const std::filesystem::path& cache_dir, int64_t report_first = 5);

/// Summarises every file of the `data:` section of the YAML config `config_file`.
nlohmann::json inspect_config(const std::filesystem::path& config_file);

/// Summarises one file read with the built-in preset `format`.
nlohmann::json inspect_format(const std::string& format, const std::filesystem::path& file);

/// Writes the synthetic day files and returns a JSON report: files, rows,
/// click rate and the AUC of the true probabilities of each day.
nlohmann::json synth_report(const std::filesystem::path& dir, const SynthOptions& options);

}  // namespace adaensemble::data
