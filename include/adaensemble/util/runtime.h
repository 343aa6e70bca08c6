// Process-wide settings every program makes first: intra-op threads and log
// level. LibTorch starts with one intra-op thread here, so this matters.
#pragma once

#include <string>

namespace adaensemble {

/// Sets LibTorch's intra-op thread count; 0 means one per hardware core.
/// Returns the count in force afterwards.
int configure_threads(int threads);

/// Sets spdlog's level by name (trace, debug, info, warn, error, off) and the
/// house pattern; logs go to stderr so stdout carries only results.
void configure_logging(const std::string& level);

}  // namespace adaensemble
