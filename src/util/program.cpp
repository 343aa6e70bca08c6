#include "adaensemble/util/program.h"

#include <CLI/CLI.hpp>
#include <c10/util/Exception.h>
#include <yaml-cpp/exceptions.h>

#include <iostream>

#include "adaensemble/config/error.h"

namespace adaensemble {

int run_program(CLI::App& app, int argc, char** argv, const std::function<void()>& body) {
  const std::string name = app.get_name();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    std::cout << app.help();
    return kExitOk;
  } catch (const CLI::CallForAllHelp& help) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return kExitOk;
  } catch (const CLI::ParseError& error) {
    std::cerr << name << ": " << error.what() << " (see " << name << " --help)\n";
    return kExitUsageOrConfig;
  }
  try {
    body();
    return kExitOk;
  } catch (const ConfigError& error) {
    std::cerr << name << ": config error: " << error.what() << "\n";
    return kExitUsageOrConfig;
  } catch (const DataError& error) {
    std::cerr << name << ": data error: " << error.what() << "\n";
  } catch (const c10::Error& error) {
    std::cerr << name << ": error: " << error.what_without_backtrace() << "\n";
  } catch (const std::exception& error) {
    std::cerr << name << ": error: " << error.what() << "\n";
  }
  return kExitRuntimeFailure;
}

}  // namespace adaensemble
