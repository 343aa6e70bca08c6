// Small filesystem helpers that keep every write crash-safe: a file is either
// the old version or the new one, never half of each.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

namespace adaensemble {

/// Writes `path` by calling `write` on a temporary sibling, syncing it to
/// disk, then renaming it over `path`. A crash leaves the old file intact.
void write_file_atomically(const std::filesystem::path& path,
                           const std::function<void(const std::filesystem::path&)>& write);

/// Writes `contents` to `path` atomically.
void write_text_atomically(const std::filesystem::path& path, const std::string& contents);

/// Replaces directory `target` with the fully written directory `staged`
/// (a sibling of `target`); a crash leaves either the old or the new one.
void replace_directory_atomically(const std::filesystem::path& staged,
                                  const std::filesystem::path& target);

/// Reads a whole file; throws std::runtime_error naming the file on failure.
std::string read_text_file(const std::filesystem::path& path);

}  // namespace adaensemble
