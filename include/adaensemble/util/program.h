// The shared frame of every command-line program: parse flags, run the body,
// and turn failures into one readable stderr line and the contract's exit
// status (0 ok, 2 usage or config error, 1 runtime failure).
#pragma once

#include <functional>
#include <string>

namespace CLI {
class App;
}

namespace adaensemble {

/// Parses argv with `app`, then runs `body`. Returns the process exit status.
int run_program(CLI::App& app, int argc, char** argv, const std::function<void()>& body);

}  // namespace adaensemble
