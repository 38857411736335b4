#include "daemon/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "core/json_writer.h"
#include "core/utf8.h"

namespace jobsd {
namespace {

spdlog::level::level_enum ToSpdlog(config::LogLevel level) {
  switch (level) {
    case config::LogLevel::kTrace:
      return spdlog::level::trace;
    case config::LogLevel::kDebug:
      return spdlog::level::debug;
    case config::LogLevel::kInfo:
      return spdlog::level::info;
    case config::LogLevel::kWarn:
      return spdlog::level::warn;
    case config::LogLevel::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

// A pattern flag that writes the message through `Render`. A job's output
// is logged line by line and may carry quotes, escape sequences, NULs or
// bytes that are not UTF-8: %j (core::JsonQuote) keeps a JSON line valid
// JSON, %q (core::EscapeForTerminal) shows them escaped on a terminal or in
// journald, on one line, instead of obeyed (core/utf8.h).
template <std::string (*Render)(std::string_view)>
class RenderedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const std::string shown = Render(std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(shown.data(), shown.data() + shown.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<RenderedMessage>();
  }
};

}  // namespace

void SetUpLogging(config::LogFormat format, config::LogLevel level) {
  auto logger =
      std::make_shared<spdlog::logger>("jobsd", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  if (format == config::LogFormat::kJson) {
    formatter->add_flag<RenderedMessage<core::JsonQuote>>('j').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","message":%j})");
  } else {
    formatter->add_flag<RenderedMessage<core::EscapeForTerminal>>('q').set_pattern(
        "%Y-%m-%dT%H:%M:%S.%fZ %-5l %q");
  }
  logger->set_formatter(std::move(formatter));
  logger->set_level(ToSpdlog(level));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
}

void SetLogLevel(config::LogLevel level) { spdlog::set_level(ToSpdlog(level)); }

core::Result<config::LogLevel> ParseLogLevel(const std::string& text) {
  for (const auto level :
       {config::LogLevel::kTrace, config::LogLevel::kDebug, config::LogLevel::kInfo,
        config::LogLevel::kWarn, config::LogLevel::kError}) {
    if (config::Name(level) == text) return level;
  }
  return core::Unexpected(core::InvalidArgument(
      "--log-level must be one of trace, debug, info, warn, error, not '" + text + "'"));
}

}  // namespace jobsd
