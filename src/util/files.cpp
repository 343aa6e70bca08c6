#include "adaensemble/util/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace adaensemble {
namespace fs = std::filesystem;
namespace {

void sync_path(const fs::path& path, bool directory) {
  const int fd = ::open(path.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

fs::path temp_sibling(const fs::path& path) {
  return path.parent_path() /
         ("." + path.filename().string() + ".tmp." + std::to_string(::getpid()));
}

}  // namespace

void write_file_atomically(const fs::path& path,
                           const std::function<void(const fs::path&)>& write) {
  if (!path.parent_path().empty()) fs::create_directories(path.parent_path());
  const fs::path temp = temp_sibling(path);
  try {
    write(temp);
    sync_path(temp, false);
    fs::rename(temp, path);
  } catch (...) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    throw;
  }
  sync_path(path.parent_path().empty() ? fs::path(".") : path.parent_path(), true);
}

void write_text_atomically(const fs::path& path, const std::string& contents) {
  write_file_atomically(path, [&](const fs::path& temp) {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << contents;
    out.close();
    if (!out) throw std::runtime_error(temp.string() + ": write failed: " + std::strerror(errno));
  });
}

void replace_directory_atomically(const fs::path& staged, const fs::path& target) {
  // rename(2) cannot replace a non-empty directory, so the old one is moved
  // aside first; readers see the old name only between the two renames.
  const fs::path old = target.parent_path() / ("." + target.filename().string() + ".old");
  std::error_code ignored;
  fs::remove_all(old, ignored);
  if (fs::exists(target)) fs::rename(target, old);
  fs::rename(staged, target);
  sync_path(target.parent_path().empty() ? fs::path(".") : target.parent_path(), true);
  fs::remove_all(old, ignored);
}

std::string read_text_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path.string() + ": cannot open for reading");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace adaensemble
