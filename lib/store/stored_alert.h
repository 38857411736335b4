// An alert in the state store's outbox, its deliveries to channels, and the
// per-rule state that keeps alerts from repeating across restarts. Plain
// values; RunStore (run_store.h) reads and writes them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/time.h"

namespace store {

// Where one delivery of an alert to one channel stands.
enum class DeliveryState { kPending, kDelivered, kRejected, kExpired };
std::string_view ToString(DeliveryState state);
std::optional<DeliveryState> ParseDeliveryState(std::string_view text);

// An alert in the outbox. The store keeps a few columns to list and filter
// by, and the whole alert as JSON (lib/alert reads it back).
struct StoredAlert {
  std::int64_t id = 0;
  core::TimePoint raised_at;
  std::string job;  // empty for daemon-wide alerts
  std::string rule;
  std::string kind;
  std::string severity;
  std::string summary;
  std::string body;  // JSON
};

struct AlertDelivery {
  std::int64_t alert_id = 0;
  std::string channel;
  // Random, made once per (alert, channel); the same delivery always carries
  // the same id, so a receiver can tell a repeat.
  std::string delivery_id;
  DeliveryState state = DeliveryState::kPending;
  int attempts = 0;
  core::TimePoint next_attempt_at;
  std::optional<core::TimePoint> last_attempt_at;
  std::string response;  // what the far end last answered
};

// Per job and rule: does the rule hold now, and what was sent about it.
struct AlertRuleState {
  std::string job;  // empty for daemon-wide rules
  std::string rule;
  bool holding = false;
  bool fired = false;  // an alert went out for the current episode
  std::string severity;
  std::optional<core::TimePoint> last_sent_at;
};

// A delivery id: a random (version 4) UUID, unique without coordination
// (even across state files), so a receiver may dedupe on it.
std::string NewDeliveryId();

}  // namespace store
