// Helpers shared by the test suites: where the real data samples live,
// scratch directories, and the path of the built programs.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <optional>
#include <string>

namespace adaensemble::testing {

/// Returns the folder of real CTR samples (env ADAENSEMBLE_SHARED_DATA, else
/// ../shared/data beside the source tree), or nothing when it is absent.
std::optional<std::filesystem::path> shared_data_dir();

/// Returns the path of a sample file below the shared data folder, or
/// nothing when the folder or the file is missing.
std::optional<std::filesystem::path> shared_data_file(const std::string& relative);

/// Returns the directory holding the built programs (build/bin).
std::filesystem::path bin_dir();

/// Returns the project's source directory.
std::filesystem::path source_dir();

/// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  /// Writes `contents` to `name` inside the directory and returns its path.
  std::filesystem::path write(const std::string& name, const std::string& contents) const;

 private:
  std::filesystem::path path_;
};

/// Runs a shell command and returns its exit status and captured stdout.
struct CommandResult {
  int status = -1;
  std::string out;
};
CommandResult run_command(const std::string& command);

}  // namespace adaensemble::testing

/// Skips the current test with a message when a shared sample is missing.
#define ADAENSEMBLE_REQUIRE_SAMPLE(var, relative)                                      \
  const auto var##_found = ::adaensemble::testing::shared_data_file(relative);         \
  if (!var##_found) GTEST_SKIP() << "shared data sample absent: " << (relative);       \
  const std::filesystem::path var = *var##_found
