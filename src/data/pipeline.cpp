#include "adaensemble/data/pipeline.h"

#include "adaensemble/config/error.h"

namespace adaensemble::data {

nlohmann::json position_to_json(const Position& position) {
  return {{"epoch", position.epoch}, {"batch", position.batch}, {"seed", position.seed}};
}

Position position_from_json(const nlohmann::json& json) {
  Position position;
  if (json.is_null()) return position;
  try {
    position.epoch = json.at("epoch").get<int64_t>();
    position.batch = json.at("batch").get<int64_t>();
    position.seed = json.at("seed").get<uint64_t>();
  } catch (const nlohmann::json::exception& error) {
    throw DataError(std::string("batch position: ") + error.what() +
                    " (the checkpoint's iterator state is damaged)");
  }
  return position;
}

nlohmann::json to_json(const BadRowReport& report) {
  nlohmann::json first = nlohmann::json::array();
  for (const BadRow& row : report.first) {
    first.push_back({{"file", row.file}, {"line", row.line}, {"reason", row.reason}});
  }
  return {{"count", report.count}, {"rows", report.rows}, {"first", first}};
}

}  // namespace adaensemble::data
