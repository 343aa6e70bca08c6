// A checked view of one YAML mapping in a config file. Every read records the
// key; finish() rejects keys nobody read, so a typo never changes a model
// silently. Errors name the dotted path of the key, e.g. `model.gate.top_k`.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "adaensemble/config/error.h"

namespace adaensemble::config {

class ConfigNode {
 public:
  /// Wraps `node` found at dotted `path` ("" for the document root).
  /// A null node behaves as an empty mapping.
  ConfigNode(YAML::Node node, std::string path);

  /// Returns the dotted path of `key` below this node.
  std::string path_of(const std::string& key) const;
  const std::string& path() const { return path_; }
  const YAML::Node& node() const { return node_; }

  bool has(const std::string& key) const;

  /// Reads an optional scalar; returns `fallback` when the key is absent.
  template <typename T>
  T get(const std::string& key, const T& fallback);

  /// Reads a scalar that must be present.
  template <typename T>
  T require(const std::string& key);

  /// Reads an optional list of scalars.
  template <typename T>
  std::vector<T> get_list(const std::string& key, const std::vector<T>& fallback);

  /// Returns the mapping under `key` (empty when absent).
  ConfigNode child(const std::string& key);

  /// Returns each element of the list under `key` as a node (empty when absent).
  std::vector<ConfigNode> children(const std::string& key);

  /// Returns the keys of this mapping, in file order.
  std::vector<std::string> keys() const;

  /// Marks `key` as read without reading it (for keys handled elsewhere).
  void mark_read(const std::string& key) { read_.insert(key); }

  /// Throws ConfigError naming every key that was never read.
  void finish() const;

  /// Throws ConfigError "<path.key> = <value>: <expectation>".
  [[noreturn]] void fail(const std::string& key, const std::string& expectation) const;

 private:
  YAML::Node lookup(const std::string& key);
  template <typename T>
  T convert(const YAML::Node& value, const std::string& key) const;

  YAML::Node node_;
  std::string path_;
  std::set<std::string> read_;
};

/// Renders a YAML node on one line for error messages.
std::string render_inline(const YAML::Node& node);

/// Loads a YAML file; ConfigError names the file and line of a syntax error.
YAML::Node load_yaml_file(const std::string& file);

/// Applies one `--set key.path[0].leaf=VALUE` override to `root`. VALUE is read
/// as YAML, so lists and maps work. Missing intermediate maps are created.
void apply_override(YAML::Node& root, const std::string& assignment);

}  // namespace adaensemble::config
