// One alert: what a rule raised about a job (or about the daemon), as the
// outbox stores it and every channel renders it.
//
// Plain data; any thread. Text fields are already scrubbed of configured
// secrets and cut to a sane length (SecretScrubber) before an Alert is made,
// so a channel may put any of them in a message as they are.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"
#include "core/result.h"
#include "core/time.h"

namespace alert {

// firing: a rule started to hold. repeat: it still holds after `cooldown`.
// escalation: it holds at a higher severity than was last sent. recovery:
// it stopped holding (the job succeeded again). test: `jobsd alert-test`.
enum class AlertKind { kFiring, kRepeat, kEscalation, kRecovery, kTest };

std::string_view ToString(AlertKind kind);
std::optional<AlertKind> ParseAlertKind(std::string_view text);
std::string_view ToString(config::Severity severity);
std::optional<config::Severity> ParseSeverity(std::string_view text);

struct Alert {
  std::int64_t id = 0;  // the outbox row; 0 until stored
  AlertKind kind = AlertKind::kFiring;
  // consecutive_failures, duration_over, quality_below, stale, reload_failed
  // or test.
  std::string rule;
  config::Severity severity = config::Severity::kWarning;
  std::string job;  // empty for daemon-wide alerts (reload_failed, test)
  core::TimePoint raised_at;
  // One line a person reads first, e.g. "openaq failed 3 times in a row".
  std::string summary;
  int consecutive_failures = 0;        // the job's streak when raised
  std::optional<std::int64_t> run_id;  // the run that raised it
  std::string last_error;              // the run's error, scrubbed and cut
  std::optional<double> value;         // what was measured: seconds, quality
  std::optional<double> threshold;     // what the rule allows
  std::string host;                    // the machine jobsd runs on
  std::string runs_url;                // the job's runs in the API, when http.public_url is set
};

// The alert as one JSON object (the webhook body, and what `history --alerts
// --json` shows), with `delivery_id` added when given: a receiver that sees
// the same delivery id twice has seen the same delivery twice.
std::string AlertJson(const Alert& alert, std::string_view delivery_id = {});
// Reads back what AlertJson wrote (the outbox stores alerts that way).
core::Result<Alert> AlertFromJson(std::string_view json);

}  // namespace alert
