#include "adaensemble/data/schema.h"

#include <zlib.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "adaensemble/config/error.h"
#include "adaensemble/data/hashing.h"

namespace adaensemble::data {
namespace fs = std::filesystem;
namespace {

Schema criteo_schema() {
  Schema schema;
  schema.format = "criteo";
  schema.delimiter = '\t';
  schema.allow_short_rows = true;
  schema.columns.push_back({"label", ColumnKind::kLabel, ""});
  for (int i = 1; i <= 13; ++i)
    schema.columns.push_back({"I" + std::to_string(i), ColumnKind::kNumeric, ""});
  for (int i = 1; i <= 26; ++i) {
    schema.columns.push_back({"C" + std::to_string(i), ColumnKind::kCategorical, ""});
  }
  return schema;
}

Schema avazu_schema() {
  Schema schema;
  schema.format = "avazu";
  schema.delimiter = ',';
  schema.header = HeaderMode::kAuto;
  const char* names[] = {"id",         "click",        "hour",         "C1",
                         "banner_pos", "site_id",      "site_domain",  "site_category",
                         "app_id",     "app_domain",   "app_category", "device_id",
                         "device_ip",  "device_model", "device_type",  "device_conn_type",
                         "C14",        "C15",          "C16",          "C17",
                         "C18",        "C19",          "C20",          "C21"};
  for (const char* name : names) schema.columns.push_back({name, ColumnKind::kCategorical, ""});
  schema.columns[0].kind = ColumnKind::kIgnore;
  schema.columns[1].kind = ColumnKind::kLabel;
  schema.columns[2].kind = ColumnKind::kHour;
  schema.columns[22].missing_token = "-1";
  return schema;
}

Schema ipinyou_schema(const std::vector<std::string>& names) {
  Schema schema;
  schema.format = "ipinyou";
  schema.delimiter = ' ';
  schema.indexed_values = true;
  schema.columns.push_back({"label", ColumnKind::kLabel, ""});
  for (const std::string& name : names)
    schema.columns.push_back({name, ColumnKind::kCategorical, ""});
  return schema;
}

std::vector<std::string> default_ipinyou_names() {
  std::vector<std::string> names;
  for (int i = 0; i < 16; ++i) names.push_back("f" + std::to_string(i));
  return names;
}

std::string first_line(const fs::path& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (!file) throw ConfigError(path.string() + ": cannot open (check data.train paths)");
  std::string line;
  char buffer[65536];
  if (gzgets(file, buffer, sizeof(buffer))) line = buffer;
  gzclose(file);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (line.empty()) throw DataError(path.filename().string() + ": empty file (no header line)");
  return line;
}

std::vector<std::string> split(const std::string& line, char delimiter) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = line.find(delimiter, start);
    out.push_back(line.substr(start, end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

const char* kind_name(ColumnKind kind) {
  switch (kind) {
    case ColumnKind::kLabel:
      return "label";
    case ColumnKind::kNumeric:
      return "numeric";
    case ColumnKind::kCategorical:
      return "categorical";
    case ColumnKind::kIgnore:
      return "ignore";
    case ColumnKind::kHour:
      return "hour";
  }
  return "?";
}

ColumnKind kind_of(const std::string& name) {
  for (ColumnKind kind : {ColumnKind::kLabel, ColumnKind::kNumeric, ColumnKind::kCategorical,
                          ColumnKind::kIgnore, ColumnKind::kHour}) {
    if (name == kind_name(kind)) return kind;
  }
  throw DataError("schema: unknown column kind '" + name + "' (the saved features are corrupt)");
}

Column* find_column(Schema& schema, const std::string& name, const std::string& key) {
  for (Column& column : schema.columns) {
    if (column.name == name) return &column;
  }
  throw ConfigError("data." + key + ": no column named '" + name + "' in the " + schema.format +
                    " schema (check the spelling)");
}

Schema csv_schema(const config::DataConfig& config) {
  Schema schema;
  schema.format = config.format;
  schema.delimiter = config.format == "csv" ? ',' : '\t';
  if (!config.delimiter.empty()) schema.delimiter = config.delimiter[0];
  schema.header = config.header.value_or(HeaderMode::kPresent);
  std::vector<std::string> names = config.columns;
  if (names.empty()) {
    if (schema.header == HeaderMode::kNone) {
      throw ConfigError("data.columns: missing (a file without header needs its column names)");
    }
    if (config.train.empty()) {
      throw ConfigError("data.columns: missing (no training file to read the header from)");
    }
    names = split(first_line(config.train.front().path), schema.delimiter);
  }
  const std::set<std::string> numeric(config.numeric.begin(), config.numeric.end());
  const std::set<std::string> categorical(config.categorical.begin(), config.categorical.end());
  const std::vector<std::string> drop_list = config.drop.value_or(std::vector<std::string>{});
  const std::set<std::string> drop(drop_list.begin(), drop_list.end());
  for (const std::string& name : names) {
    Column column{name, ColumnKind::kCategorical, ""};
    if (name == config.label) {
      column.kind = ColumnKind::kLabel;
    } else if (numeric.count(name)) {
      column.kind = ColumnKind::kNumeric;
    } else if (drop.count(name)) {
      column.kind = ColumnKind::kIgnore;
    } else if (!categorical.empty() && !categorical.count(name)) {
      throw ConfigError("data.columns: column '" + name +
                        "' is not the label, numeric, categorical or dropped (list it in "
                        "data.drop to ignore it)");
    }
    schema.columns.push_back(column);
  }
  auto check_listed = [&](const std::vector<std::string>& list, const std::string& key) {
    for (const std::string& name : list) {
      if (std::find(names.begin(), names.end(), name) == names.end()) {
        throw ConfigError("data." + key + ": no column named '" + name +
                          "' (columns are read from data.columns or the header line)");
      }
    }
  };
  check_listed({config.label}, "label");
  check_listed(config.numeric, "numeric");
  check_listed(config.categorical, "categorical");
  check_listed(drop_list, "drop");
  return schema;
}

}  // namespace

int64_t Schema::num_numeric() const {
  return std::count_if(columns.begin(), columns.end(),
                       [](const Column& c) { return c.kind == ColumnKind::kNumeric; });
}

int64_t Schema::num_categorical() const { return static_cast<int64_t>(categorical_names().size()); }

std::vector<std::string> Schema::numeric_names() const {
  std::vector<std::string> out;
  for (const Column& c : columns) {
    if (c.kind == ColumnKind::kNumeric) out.push_back(c.name);
  }
  return out;
}

std::vector<std::string> Schema::categorical_names() const {
  std::vector<std::string> out;
  for (const Column& c : columns) {
    if (c.kind == ColumnKind::kCategorical) out.push_back(c.name);
    if (c.kind == ColumnKind::kHour) {
      out.push_back(c.name + "_of_day");
      out.push_back("weekday");
    }
  }
  return out;
}

int Schema::label_column() const {
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].kind == ColumnKind::kLabel) return static_cast<int>(i);
  }
  return -1;
}

uint64_t Schema::hash() const { return hash_bytes(to_json()); }

std::string Schema::to_json() const {
  nlohmann::json out;
  out["format"] = format;
  out["delimiter"] = std::string(1, delimiter);
  out["header"] = header == HeaderMode::kPresent ? "true"
                  : header == HeaderMode::kNone  ? "false"
                                                 : "auto";
  out["allow_short_rows"] = allow_short_rows;
  out["indexed_values"] = indexed_values;
  nlohmann::json list = nlohmann::json::array();
  for (const Column& column : columns) {
    list.push_back({{"name", column.name},
                    {"kind", kind_name(column.kind)},
                    {"missing_token", column.missing_token}});
  }
  out["columns"] = list;
  return out.dump();
}

Schema Schema::from_json(const std::string& text) {
  Schema schema;
  try {
    const nlohmann::json in = nlohmann::json::parse(text);
    schema.format = in.at("format").get<std::string>();
    schema.delimiter = in.at("delimiter").get<std::string>().at(0);
    schema.header = config::parse_header_mode(in.at("header").get<std::string>(), "schema.header");
    schema.allow_short_rows = in.at("allow_short_rows").get<bool>();
    schema.indexed_values = in.at("indexed_values").get<bool>();
    for (const auto& column : in.at("columns")) {
      schema.columns.push_back({column.at("name").get<std::string>(),
                                kind_of(column.at("kind").get<std::string>()),
                                column.at("missing_token").get<std::string>()});
    }
  } catch (const nlohmann::json::exception& error) {
    throw DataError(std::string("schema: cannot read saved schema: ") + error.what() +
                    " (re-run training to rewrite the features)");
  }
  return schema;
}

std::vector<std::string> field_names(const Schema& schema) {
  std::vector<std::string> names = schema.numeric_names();
  for (const std::string& name : schema.categorical_names()) names.push_back(name);
  return names;
}

std::vector<std::string> read_featindex_fields(const fs::path& featindex) {
  std::ifstream in(featindex);
  if (!in) throw ConfigError(featindex.string() + ": cannot open featindex (check data.featindex)");
  std::map<std::string, int64_t> first_index;
  std::string line;
  while (std::getline(in, line)) {
    const std::size_t colon = line.find(':');
    const std::size_t tab = line.find('\t');
    if (colon == std::string::npos || tab == std::string::npos || colon > tab) continue;
    const std::string field = line.substr(0, colon);
    const int64_t index = std::stoll(line.substr(tab + 1));
    auto it = first_index.find(field);
    if (it == first_index.end() || index < it->second) first_index[field] = index;
  }
  std::vector<std::pair<int64_t, std::string>> order;
  for (const auto& [field, index] : first_index) order.emplace_back(index, field);
  std::sort(order.begin(), order.end());
  std::vector<std::string> names;
  for (const auto& entry : order) names.push_back(entry.second);
  if (names.size() != 16) {
    throw DataError(featindex.filename().string() + ": " + std::to_string(names.size()) +
                    " fields, iPinYou rows have 16 (check data.featindex)");
  }
  return names;
}

Schema preset_schema(const std::string& format) {
  if (format == "criteo") return criteo_schema();
  if (format == "avazu") return avazu_schema();
  if (format == "ipinyou") return ipinyou_schema(default_ipinyou_names());
  throw ConfigError("data.format = " + format +
                    ": no built-in schema (use criteo, avazu or ipinyou, or give csv/tsv columns)");
}

Schema make_schema(const config::DataConfig& config) {
  const bool generic = config.format == "csv" || config.format == "tsv";
  Schema schema = generic ? csv_schema(config)
                  : config.format == "ipinyou" && !config.featindex.empty()
                      ? ipinyou_schema(read_featindex_fields(config.featindex))
                      : preset_schema(config.format);
  if (!config.delimiter.empty()) schema.delimiter = config.delimiter[0];
  if (config.header) schema.header = *config.header;
  if (config.allow_short_rows) schema.allow_short_rows = *config.allow_short_rows;
  if (config.drop && !generic) {
    for (Column& column : schema.columns) {
      if (column.kind == ColumnKind::kIgnore) column.kind = ColumnKind::kCategorical;
    }
    for (const std::string& name : *config.drop)
      find_column(schema, name, "drop")->kind = ColumnKind::kIgnore;
  }
  for (const std::string& name : generic ? std::vector<std::string>{} : config.numeric) {
    find_column(schema, name, "numeric")->kind = ColumnKind::kNumeric;
  }
  for (const std::string& name : generic ? std::vector<std::string>{} : config.categorical) {
    find_column(schema, name, "categorical")->kind = ColumnKind::kCategorical;
  }
  if (config.missing_values) {
    for (Column& column : schema.columns) column.missing_token.clear();
    for (const auto& [name, token] : *config.missing_values) {
      find_column(schema, name, "missing_values")->missing_token = token;
    }
  }
  return schema;
}

}  // namespace adaensemble::data
