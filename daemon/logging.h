// Sets up the process-wide spdlog logger: stderr (systemd and docker capture
// it), UTC timestamps, text or one JSON object per line.
#pragma once

#include <string>

#include "config/config.h"
#include "core/result.h"

namespace jobsd {

void SetUpLogging(config::LogFormat format, config::LogLevel level);
// Changes the level of the running logger (SIGHUP, --log-level).
void SetLogLevel(config::LogLevel level);
// Reads a --log-level value.
core::Result<config::LogLevel> ParseLogLevel(const std::string& text);

}  // namespace jobsd
