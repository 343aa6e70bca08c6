// Error types shared by every layer. Messages read
// "<subject>: <problem> (<how to fix>)" so a user can act on one line.
#pragma once

#include <stdexcept>
#include <string>

namespace adaensemble {

/// A configuration or usage mistake: an unknown key, a value out of range,
/// a missing file named in the config. Programs exit with status 2.
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(const std::string& message) : std::runtime_error(message) {}
};

/// Input data that cannot be used as the schema says: a malformed row, an
/// empty file, a label that is not 0/1. Programs exit with status 1.
class DataError : public std::runtime_error {
 public:
  explicit DataError(const std::string& message) : std::runtime_error(message) {}
};

/// Exit statuses of every program, as the command-line contract fixes them.
inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntimeFailure = 1;
inline constexpr int kExitUsageOrConfig = 2;

}  // namespace adaensemble
