#include "adaensemble/config/run_config.h"

namespace adaensemble::config {

RunConfig parse_run_config(const YAML::Node& root, const std::filesystem::path& base_dir) {
  ConfigNode node(root, "");
  RunConfig c;
  c.output_dir = node.get("output_dir", c.output_dir);
  if (c.output_dir.empty()) node.fail("output_dir", "must not be empty");
  c.log_level = node.get("log_level", c.log_level);
  c.data = parse_data_config(node.child("data"), base_dir);
  c.model = parse_model_config(node.child("model"));
  c.train = parse_train_config(node.child("train"));
  node.finish();
  return c;
}

RunConfig load_run_config(const std::string& file, const std::vector<std::string>& overrides) {
  YAML::Node root = load_yaml_file(file);
  for (const std::string& assignment : overrides) apply_override(root, assignment);
  const std::filesystem::path base = std::filesystem::absolute(file).parent_path();
  return parse_run_config(root, base);
}

YAML::Node to_yaml(const RunConfig& c) {
  YAML::Node n;
  n["output_dir"] = c.output_dir;
  n["log_level"] = c.log_level;
  n["data"] = to_yaml(c.data);
  n["model"] = to_yaml(c.model);
  n["train"] = to_yaml(c.train);
  return n;
}

}  // namespace adaensemble::config
