#include "alert/alert.h"

#include <array>

#include <boost/json.hpp>

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

core::Result<Alert> AlertFromJson(std::string_view json) {
  boost::system::error_code ec;
  const boost::json::value parsed = boost::json::parse(json, ec);
  if (ec || !parsed.is_object()) {
    return core::Unexpected(
        core::Error{core::ErrorKind::kInvalidArgument, "stored alert is not a JSON object", false});
  }
  const boost::json::object& object = parsed.as_object();
  auto text = [&](std::string_view key) -> std::string {
    const boost::json::value* value = object.if_contains(key);
    return value != nullptr && value->is_string() ? std::string(value->as_string()) : "";
  };
  auto number = [&](std::string_view key) -> std::optional<double> {
    const boost::json::value* value = object.if_contains(key);
    if (value == nullptr || !value->is_number()) return std::nullopt;
    return value->to_number<double>();
  };
  Alert alert;
  if (const auto id = number("id")) alert.id = static_cast<std::int64_t>(*id);
  alert.kind = ParseAlertKind(text("kind")).value_or(AlertKind::kFiring);
  alert.rule = text("rule");
  alert.severity = ParseSeverity(text("severity")).value_or(config::Severity::kWarning);
  alert.job = text("job");
  if (auto at = core::ParseRfc3339(text("raised_at"))) alert.raised_at = *at;
  alert.summary = text("summary");
  if (const auto streak = number("consecutive_failures")) {
    alert.consecutive_failures = static_cast<int>(*streak);
  }
  if (const boost::json::value* run = object.if_contains("run_id"); run && run->is_int64()) {
    alert.run_id = run->as_int64();
  }
  alert.last_error = text("last_error");
  alert.value = number("value");
  alert.threshold = number("threshold");
  alert.host = text("host");
  alert.runs_url = text("runs_url");
  return alert;
}

}  // namespace alert
