#include "adaensemble/util/runtime.h"

#include <ATen/Parallel.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <thread>

#include "adaensemble/config/error.h"

namespace adaensemble {

int configure_threads(int threads) {
  if (threads < 0) throw ConfigError("train.threads = " + std::to_string(threads) +
                                     ": must be >= 0 (0 = one per core)");
  const int wanted = threads > 0 ? threads : static_cast<int>(std::thread::hardware_concurrency());
  at::set_num_threads(wanted > 0 ? wanted : 1);
  return at::get_num_threads();
}

void configure_logging(const std::string& level) {
  const auto parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") {
    throw ConfigError("log level '" + level +
                      "': expected trace, debug, info, warn, error or off");
  }
  auto logger = spdlog::get("adaensemble");
  if (!logger) logger = spdlog::stderr_color_mt("adaensemble");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
  spdlog::set_level(parsed);
}

}  // namespace adaensemble
