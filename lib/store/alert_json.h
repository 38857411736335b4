// An alert from the outbox as JSON, the one shape `jobsd history --alerts
// --json` prints and GET /api/alerts answers: id, raised_at, job (null for
// daemon-wide alerts), rule, kind, severity, summary, alert (the whole
// alert as stored), deliveries: [{channel, delivery_id, state, attempts,
// last_attempt_at, next_attempt_at (null unless pending), response}].
#pragma once

#include <vector>

#include "core/json_writer.h"
#include "store/stored_alert.h"

namespace store {

// Writes the alert's fields into the object `json` is in.
void WriteAlertJson(core::JsonWriter& json, const StoredAlert& alert,
                    const std::vector<AlertDelivery>& deliveries);

}  // namespace store
