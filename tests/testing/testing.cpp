#include "testing/testing.h"

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace adaensemble::testing {
namespace fs = std::filesystem;

std::optional<fs::path> shared_data_dir() {
  const char* env = std::getenv("ADAENSEMBLE_SHARED_DATA");
  const fs::path dir = env && *env ? fs::path(env) : fs::path(ADAENSEMBLE_SHARED_DATA_DEFAULT);
  if (!fs::is_directory(dir)) return std::nullopt;
  return dir;
}

std::optional<fs::path> shared_data_file(const std::string& relative) {
  const auto dir = shared_data_dir();
  if (!dir || !fs::exists(*dir / relative)) return std::nullopt;
  return *dir / relative;
}

fs::path bin_dir() { return ADAENSEMBLE_BIN_DIR; }

fs::path source_dir() { return ADAENSEMBLE_SOURCE_DIR; }

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  path_ = fs::temp_directory_path() /
          ("adaensemble-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  fs::remove_all(path_);
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

fs::path TempDir::write(const std::string& name, const std::string& contents) const {
  const fs::path file = path_ / name;
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary) << contents;
  return file;
}

CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return result;
  std::array<char, 4096> buffer{};
  std::size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    result.out.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace adaensemble::testing
