#include "alert/alert.h"

#include <array>

#include "core/json_writer.h"

namespace alert {
namespace {

constexpr std::array<std::string_view, 5> kKindNames = {"firing", "repeat", "escalation",
                                                        "recovery", "test"};
constexpr std::array<std::string_view, 3> kSeverityNames = {"info", "warning", "critical"};

}  // namespace

std::string_view ToString(AlertKind kind) { return kKindNames[static_cast<std::size_t>(kind)]; }

std::optional<AlertKind> ParseAlertKind(std::string_view text) {
  for (std::size_t i = 0; i < kKindNames.size(); ++i) {
    if (kKindNames[i] == text) return static_cast<AlertKind>(i);
  }
  return std::nullopt;
}

std::string_view ToString(config::Severity severity) {
  return kSeverityNames[static_cast<std::size_t>(severity)];
}

std::optional<config::Severity> ParseSeverity(std::string_view text) {
  for (std::size_t i = 0; i < kSeverityNames.size(); ++i) {
    if (kSeverityNames[i] == text) return static_cast<config::Severity>(i);
  }
  return std::nullopt;
}

std::string AlertJson(const Alert& alert, std::string_view delivery_id) {
  core::JsonWriter json;
  if (!delivery_id.empty()) json.Key("delivery_id").String(delivery_id);
  json.Key("id").Int(alert.id);
  json.Key("kind").String(ToString(alert.kind));
  json.Key("rule").String(alert.rule);
  json.Key("severity").String(ToString(alert.severity));
  json.Key("job");
  if (alert.job.empty()) {
    json.Null();
  } else {
    json.String(alert.job);
  }
  json.Key("raised_at").String(core::FormatRfc3339(alert.raised_at));
  json.Key("summary").String(alert.summary);
  json.Key("consecutive_failures").Int(alert.consecutive_failures);
  json.Key("run_id");
  if (alert.run_id) {
    json.Int(*alert.run_id);
  } else {
    json.Null();
  }
  json.Key("last_error").String(alert.last_error);
  json.Key("value");
  if (alert.value) {
    json.Double(*alert.value);
  } else {
    json.Null();
  }
  json.Key("threshold");
  if (alert.threshold) {
    json.Double(*alert.threshold);
  } else {
    json.Null();
  }
  json.Key("host").String(alert.host);
  json.Key("runs_url");
  if (alert.runs_url.empty()) {
    json.Null();
  } else {
    json.String(alert.runs_url);
  }
  return json.Finish();
}

}  // namespace alert
