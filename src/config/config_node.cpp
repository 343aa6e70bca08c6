#include "adaensemble/config/config_node.h"

#include <algorithm>
#include <cctype>
#include <sstream>

namespace adaensemble::config {
namespace {

const char* type_name(const std::string*) { return "a string"; }
const char* type_name(const bool*) { return "true or false"; }
const char* type_name(const double*) { return "a number"; }
const char* type_name(const float*) { return "a number"; }
const char* type_name(const int64_t*) { return "an integer"; }
const char* type_name(const int*) { return "an integer"; }

}  // namespace

ConfigNode::ConfigNode(YAML::Node node, std::string path)
    : node_(std::move(node)), path_(std::move(path)) {
  if (node_.IsDefined() && !node_.IsNull() && !node_.IsMap()) {
    throw ConfigError(path_ + " = " + render_inline(node_) + ": expected a mapping of keys");
  }
}

std::string ConfigNode::path_of(const std::string& key) const {
  return path_.empty() ? key : path_ + "." + key;
}

bool ConfigNode::has(const std::string& key) const {
  if (!node_.IsMap()) return false;
  const YAML::Node value = node_[key];
  return value.IsDefined() && !value.IsNull();
}

YAML::Node ConfigNode::lookup(const std::string& key) {
  read_.insert(key);
  if (!node_.IsMap()) return YAML::Node();
  return node_[key];
}

template <typename T>
T ConfigNode::convert(const YAML::Node& value, const std::string& key) const {
  T probe{};
  if (!value.IsScalar()) fail(key, std::string("expected ") + type_name(&probe));
  try {
    return value.as<T>();
  } catch (const YAML::Exception&) {
    fail(key, std::string("expected ") + type_name(&probe));
  }
}

template <typename T>
T ConfigNode::get(const std::string& key, const T& fallback) {
  const YAML::Node value = lookup(key);
  if (!value.IsDefined() || value.IsNull()) return fallback;
  return convert<T>(value, key);
}

template <typename T>
T ConfigNode::require(const std::string& key) {
  const YAML::Node value = lookup(key);
  if (!value.IsDefined() || value.IsNull()) {
    throw ConfigError(path_of(key) + ": missing (this key is required)");
  }
  return convert<T>(value, key);
}

template <typename T>
std::vector<T> ConfigNode::get_list(const std::string& key, const std::vector<T>& fallback) {
  const YAML::Node value = lookup(key);
  if (!value.IsDefined() || value.IsNull()) return fallback;
  if (!value.IsSequence()) fail(key, "expected a list");
  std::vector<T> out;
  for (std::size_t i = 0; i < value.size(); ++i) {
    out.push_back(convert<T>(value[i], key + "[" + std::to_string(i) + "]"));
  }
  return out;
}

ConfigNode ConfigNode::child(const std::string& key) {
  return ConfigNode(lookup(key), path_of(key));
}

std::vector<ConfigNode> ConfigNode::children(const std::string& key) {
  const YAML::Node value = lookup(key);
  std::vector<ConfigNode> out;
  if (!value.IsDefined() || value.IsNull()) return out;
  if (!value.IsSequence()) fail(key, "expected a list");
  for (std::size_t i = 0; i < value.size(); ++i) {
    out.emplace_back(value[i], path_of(key) + "[" + std::to_string(i) + "]");
  }
  return out;
}

std::vector<std::string> ConfigNode::keys() const {
  std::vector<std::string> out;
  if (!node_.IsMap()) return out;
  for (const auto& entry : node_) out.push_back(entry.first.as<std::string>());
  return out;
}

void ConfigNode::finish() const {
  std::vector<std::string> unknown;
  for (const std::string& key : keys()) {
    if (!read_.count(key)) unknown.push_back(path_of(key));
  }
  if (unknown.empty()) return;
  std::string message = "unknown config key";
  message += unknown.size() > 1 ? "s " : " ";
  for (std::size_t i = 0; i < unknown.size(); ++i) message += (i ? ", " : "") + unknown[i];
  message += " (check the spelling; docs/data.md, docs/model.md and docs/training.md list the "
             "keys each section accepts)";
  throw ConfigError(message);
}

void ConfigNode::fail(const std::string& key, const std::string& expectation) const {
  // A missing key yields an invalid node that cannot be rebound, so `value`
  // starts valid and is rebound only to nodes that exist.
  YAML::Node value;
  const YAML::Node direct = node_.IsMap() ? node_[key] : YAML::Node();
  if (direct.IsDefined()) value.reset(direct);
  // Keys with an index suffix ("list[2]") address an element of a list.
  const auto bracket = key.find('[');
  if (bracket != std::string::npos && node_.IsMap()) {
    const YAML::Node list = node_[key.substr(0, bracket)];
    const std::size_t index = std::stoul(key.substr(bracket + 1));
    if (list.IsSequence() && index < list.size()) value.reset(list[index]);
  }
  const std::string shown =
      value.IsDefined() && !value.IsNull() ? render_inline(value) : std::string("(absent)");
  throw ConfigError(path_of(key) + " = " + shown + ": " + expectation);
}

std::string render_inline(const YAML::Node& node) {
  YAML::Emitter out;
  out.SetMapFormat(YAML::Flow);
  out.SetSeqFormat(YAML::Flow);
  out << node;
  return out.c_str();
}

YAML::Node load_yaml_file(const std::string& file) {
  try {
    return YAML::LoadFile(file);
  } catch (const YAML::BadFile&) {
    throw ConfigError(file + ": cannot open config file (check the path)");
  } catch (const YAML::ParserException& error) {
    throw ConfigError(file + ":" + std::to_string(error.mark.line + 1) + ": invalid YAML: " +
                      error.msg);
  }
}

namespace {

// One step of a dotted override path: a key, optionally followed by indices.
struct PathStep {
  std::string key;
  std::vector<std::size_t> indices;
};

std::vector<PathStep> parse_path(const std::string& path, const std::string& assignment) {
  std::vector<PathStep> steps;
  std::istringstream stream(path);
  std::string part;
  while (std::getline(stream, part, '.')) {
    PathStep step;
    const auto bracket = part.find('[');
    step.key = part.substr(0, bracket);
    std::size_t pos = bracket;
    while (pos != std::string::npos && pos < part.size()) {
      const auto close = part.find(']', pos);
      const std::string digits =
          close == std::string::npos ? "" : part.substr(pos + 1, close - pos - 1);
      if (digits.empty() || !std::all_of(digits.begin(), digits.end(), ::isdigit)) {
        throw ConfigError("--set " + assignment + ": bad index in '" + part +
                          "' (expected key[N] with N a non-negative integer)");
      }
      step.indices.push_back(std::stoul(digits));
      pos = close + 1;
      if (pos < part.size() && part[pos] != '[') {
        throw ConfigError("--set " + assignment + ": unexpected text after ']' in '" + part + "'");
      }
    }
    if (step.key.empty()) {
      throw ConfigError("--set " + assignment + ": empty key in path '" + path + "'");
    }
    steps.push_back(step);
  }
  if (steps.empty()) throw ConfigError("--set " + assignment + ": empty key path");
  return steps;
}

}  // namespace

void apply_override(YAML::Node& root, const std::string& assignment) {
  const auto equals = assignment.find('=');
  if (equals == std::string::npos || equals == 0) {
    throw ConfigError("--set " + assignment + ": expected KEY=VALUE, e.g. train.batch_size=512");
  }
  const std::string path = assignment.substr(0, equals);
  YAML::Node value;
  try {
    value = YAML::Load(assignment.substr(equals + 1));
  } catch (const YAML::ParserException& error) {
    throw ConfigError("--set " + assignment + ": value is not valid YAML: " + error.msg);
  }
  if (!root.IsDefined() || root.IsNull()) root = YAML::Node(YAML::NodeType::Map);

  // yaml-cpp nodes are handles: `a = b` writes b's value into a's node, so
  // walking down the tree must rebind handles with reset().
  YAML::Node current = root;
  const std::vector<PathStep> steps = parse_path(path, assignment);
  for (std::size_t s = 0; s < steps.size(); ++s) {
    const PathStep& step = steps[s];
    const bool last = s + 1 == steps.size();
    if (!current.IsMap()) {
      throw ConfigError("--set " + assignment + ": '" + step.key +
                        "' is below a value that is not a mapping");
    }
    if (last && step.indices.empty()) {
      current[step.key] = value;
      return;
    }
    YAML::Node next = current[step.key];
    if (!next.IsDefined() || next.IsNull()) {
      if (!step.indices.empty()) {
        throw ConfigError("--set " + assignment + ": '" + step.key + "' is not a list here");
      }
      current[step.key] = YAML::Node(YAML::NodeType::Map);
      next.reset(current[step.key]);
    }
    for (std::size_t i = 0; i < step.indices.size(); ++i) {
      const std::size_t index = step.indices[i];
      if (!next.IsSequence() || index > next.size()) {
        throw ConfigError("--set " + assignment + ": index " + std::to_string(index) +
                          " is out of range for '" + step.key + "'");
      }
      if (index == next.size()) next.push_back(YAML::Node(YAML::NodeType::Map));
      if (last && i + 1 == step.indices.size()) {
        next[index] = value;
        return;
      }
      const YAML::Node element = next[index];
      next.reset(element);
    }
    current.reset(next);
  }
}

template bool ConfigNode::get<bool>(const std::string&, const bool&);
template int ConfigNode::get<int>(const std::string&, const int&);
template int64_t ConfigNode::get<int64_t>(const std::string&, const int64_t&);
template double ConfigNode::get<double>(const std::string&, const double&);
template float ConfigNode::get<float>(const std::string&, const float&);
template std::string ConfigNode::get<std::string>(const std::string&, const std::string&);
template bool ConfigNode::require<bool>(const std::string&);
template int ConfigNode::require<int>(const std::string&);
template int64_t ConfigNode::require<int64_t>(const std::string&);
template double ConfigNode::require<double>(const std::string&);
template std::string ConfigNode::require<std::string>(const std::string&);
template std::vector<int64_t> ConfigNode::get_list<int64_t>(const std::string&,
                                                            const std::vector<int64_t>&);
template std::vector<double> ConfigNode::get_list<double>(const std::string&,
                                                          const std::vector<double>&);
template std::vector<std::string> ConfigNode::get_list<std::string>(
    const std::string&, const std::vector<std::string>&);

}  // namespace adaensemble::config
