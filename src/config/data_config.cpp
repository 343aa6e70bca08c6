#include "adaensemble/config/data_config.h"

#include <set>

namespace adaensemble::config {
namespace fs = std::filesystem;
namespace {

const std::set<std::string> kFormats = {"criteo", "avazu", "ipinyou", "csv", "tsv"};

fs::path resolve(const std::string& path, const fs::path& base_dir) {
  const fs::path p(path);
  if (p.is_absolute() || base_dir.empty()) return p;
  return base_dir / p;
}

std::vector<std::string> read_strings(ConfigNode& node, const std::string& key) {
  std::vector<std::string> out;
  node.mark_read(key);
  if (!node.has(key)) return out;
  const YAML::Node list = node.node()[key];
  if (!list.IsSequence()) node.fail(key, "expected a list of names");
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (!list[i].IsScalar()) node.fail(key + "[" + std::to_string(i) + "]", "expected a name");
    out.push_back(list[i].as<std::string>());
  }
  return out;
}

std::string read_delimiter(ConfigNode& node) {
  std::string text = node.get<std::string>("delimiter", "");
  if (text.empty()) return text;
  if (text == "tab" || text == "\\t") text = "\t";
  if (text == "comma") text = ",";
  if (text == "space") text = " ";
  if (text.size() != 1 || text == "\n" || text == "\r") {
    node.fail("delimiter", "expected one character, or tab / comma / space");
  }
  return text;
}

std::vector<FileSlice> read_split(ConfigNode& node, const std::string& key,
                                  const fs::path& base_dir) {
  std::vector<FileSlice> out;
  // A single path string or a list of paths is accepted as shorthand.
  node.mark_read(key);
  if (!node.has(key)) return out;
  const YAML::Node value = node.node()[key];
  if (value.IsScalar()) return {FileSlice{resolve(value.as<std::string>(), base_dir), 0, -1}};
  if (!value.IsSequence()) node.fail(key, "expected a list of {path: FILE, rows: [start, end]}");
  for (std::size_t i = 0; i < value.size(); ++i) {
    const std::string where = key + "[" + std::to_string(i) + "]";
    if (value[i].IsScalar()) {
      out.push_back({resolve(value[i].as<std::string>(), base_dir), 0, -1});
      continue;
    }
    ConfigNode entry(value[i], node.path_of(where));
    FileSlice slice;
    slice.path = resolve(entry.require<std::string>("path"), base_dir);
    const std::vector<int64_t> rows = entry.get_list<int64_t>("rows", {});
    if (!rows.empty()) {
      if (rows.size() != 2 || rows[0] < 0 || rows[1] <= rows[0]) {
        entry.fail("rows", "expected [start, end) with 0 <= start < end");
      }
      slice.begin = rows[0];
      slice.end = rows[1];
    }
    entry.finish();
    out.push_back(slice);
  }
  return out;
}

YAML::Node split_yaml(const std::vector<FileSlice>& slices) {
  YAML::Node list(YAML::NodeType::Sequence);
  for (const FileSlice& slice : slices) {
    YAML::Node entry;
    entry["path"] = slice.path.string();
    if (slice.has_range()) {
      YAML::Node rows(YAML::NodeType::Sequence);
      rows.push_back(slice.begin);
      rows.push_back(slice.end);
      rows.SetStyle(YAML::EmitterStyle::Flow);
      entry["rows"] = rows;
    }
    list.push_back(entry);
  }
  return list;
}

YAML::Node strings_yaml(const std::vector<std::string>& names) {
  YAML::Node list(YAML::NodeType::Sequence);
  for (const std::string& name : names) list.push_back(name);
  list.SetStyle(YAML::EmitterStyle::Flow);
  return list;
}

}  // namespace

HeaderMode parse_header_mode(const std::string& text, const std::string& path) {
  if (text == "true" || text == "yes") return HeaderMode::kPresent;
  if (text == "false" || text == "no") return HeaderMode::kNone;
  if (text == "auto") return HeaderMode::kAuto;
  throw ConfigError(path + " = " + text + ": expected true, false or auto");
}

DataConfig parse_data_config(ConfigNode node, const fs::path& base_dir) {
  DataConfig config;
  config.format = node.get<std::string>("format", config.format);
  if (!kFormats.count(config.format)) {
    node.fail("format", "expected one of criteo, avazu, ipinyou, csv, tsv");
  }
  config.delimiter = read_delimiter(node);
  if (node.has("header")) {
    config.header = parse_header_mode(node.get<std::string>("header", ""), node.path_of("header"));
  } else {
    node.mark_read("header");
  }
  config.label = node.get<std::string>("label", "");
  config.columns = read_strings(node, "columns");
  config.numeric = read_strings(node, "numeric");
  config.categorical = read_strings(node, "categorical");
  if (node.has("drop")) config.drop = read_strings(node, "drop");
  node.mark_read("drop");
  if (node.has("allow_short_rows")) config.allow_short_rows = node.get<bool>("allow_short_rows", 0);
  node.mark_read("allow_short_rows");
  if (node.has("missing_values")) {
    ConfigNode missing = node.child("missing_values");
    std::map<std::string, std::string> tokens;
    for (const std::string& key : missing.keys()) tokens[key] = missing.require<std::string>(key);
    missing.finish();
    config.missing_values = tokens;
  }
  node.mark_read("missing_values");
  const std::string featindex = node.get<std::string>("featindex", "");
  if (!featindex.empty()) config.featindex = resolve(featindex, base_dir);
  if ((config.format == "csv" || config.format == "tsv") && config.label.empty()) {
    throw ConfigError(node.path_of("label") +
                      ": missing (csv/tsv formats need the label column's name)");
  }

  config.train = read_split(node, "train", base_dir);
  config.valid = read_split(node, "valid", base_dir);
  config.test = read_split(node, "test", base_dir);
  config.valid_fraction = node.get<double>("valid_fraction", 0.0);
  if (config.valid_fraction < 0.0 || config.valid_fraction >= 1.0) {
    node.fail("valid_fraction", "must be in [0, 1)");
  }
  if (config.valid_fraction > 0.0 && !config.valid.empty()) {
    node.fail("valid_fraction", "set either data.valid or data.valid_fraction, not both");
  }

  config.min_count = node.get<int64_t>("min_count", 1);
  if (config.min_count < 1) node.fail("min_count", "must be >= 1");
  if (node.has("field_min_count")) {
    ConfigNode fields = node.child("field_min_count");
    for (const std::string& key : fields.keys()) {
      const int64_t count = fields.require<int64_t>(key);
      if (count < 1) fields.fail(key, "must be >= 1");
      config.field_min_count[key] = count;
    }
    fields.finish();
  }
  node.mark_read("field_min_count");

  ConfigNode bad = node.child("bad_rows");
  const std::string policy = bad.get<std::string>("policy", "fail");
  if (policy == "fail") {
    config.bad_rows.mode = BadRowPolicy::Mode::kFail;
  } else if (policy == "skip") {
    config.bad_rows.mode = BadRowPolicy::Mode::kSkip;
  } else {
    bad.fail("policy", "expected fail or skip");
  }
  config.bad_rows.max_fraction = bad.get<double>("max_fraction", config.bad_rows.max_fraction);
  if (config.bad_rows.max_fraction < 0.0 || config.bad_rows.max_fraction > 1.0) {
    bad.fail("max_fraction", "must be in [0, 1]");
  }
  config.bad_rows.report_first = bad.get<int64_t>("report_first", config.bad_rows.report_first);
  if (config.bad_rows.report_first < 0) bad.fail("report_first", "must be >= 0");
  bad.finish();

  const std::string cache_dir = node.get<std::string>("cache_dir", "");
  if (!cache_dir.empty()) config.cache_dir = resolve(cache_dir, base_dir);
  config.threads = node.get<int>("threads", 0);
  if (config.threads < 0) node.fail("threads", "must be >= 0 (0 = one per core)");
  node.finish();
  return config;
}

YAML::Node to_yaml(const DataConfig& config) {
  YAML::Node out;
  out["format"] = config.format;
  if (!config.delimiter.empty()) {
    const char c = config.delimiter[0];
    out["delimiter"] = c == '\t'  ? "tab"
                       : c == ',' ? "comma"
                       : c == ' ' ? "space"
                                  : config.delimiter;
  }
  if (config.header) {
    out["header"] = *config.header == HeaderMode::kPresent ? "true"
                    : *config.header == HeaderMode::kNone  ? "false"
                                                           : "auto";
  }
  if (!config.label.empty()) out["label"] = config.label;
  if (!config.columns.empty()) out["columns"] = strings_yaml(config.columns);
  if (!config.numeric.empty()) out["numeric"] = strings_yaml(config.numeric);
  if (!config.categorical.empty()) out["categorical"] = strings_yaml(config.categorical);
  if (config.drop) out["drop"] = strings_yaml(*config.drop);
  if (config.allow_short_rows) out["allow_short_rows"] = *config.allow_short_rows;
  if (config.missing_values) {
    YAML::Node tokens(YAML::NodeType::Map);
    for (const auto& [column, token] : *config.missing_values) tokens[column] = token;
    out["missing_values"] = tokens;
  }
  if (!config.featindex.empty()) out["featindex"] = config.featindex.string();
  if (!config.train.empty()) out["train"] = split_yaml(config.train);
  if (!config.valid.empty()) out["valid"] = split_yaml(config.valid);
  if (!config.test.empty()) out["test"] = split_yaml(config.test);
  out["valid_fraction"] = config.valid_fraction;
  out["min_count"] = config.min_count;
  if (!config.field_min_count.empty()) {
    YAML::Node fields(YAML::NodeType::Map);
    for (const auto& [field, count] : config.field_min_count) fields[field] = count;
    out["field_min_count"] = fields;
  }
  YAML::Node bad;
  bad["policy"] = config.bad_rows.mode == BadRowPolicy::Mode::kFail ? "fail" : "skip";
  bad["max_fraction"] = config.bad_rows.max_fraction;
  bad["report_first"] = config.bad_rows.report_first;
  out["bad_rows"] = bad;
  if (!config.cache_dir.empty()) out["cache_dir"] = config.cache_dir.string();
  out["threads"] = config.threads;
  return out;
}

}  // namespace adaensemble::config
