#include "store/alert_json.h"

namespace store {

void WriteAlertJson(core::JsonWriter& json, const StoredAlert& alert,
                    const std::vector<AlertDelivery>& deliveries) {
  json.Key("id").Int(alert.id);
  json.Key("raised_at").String(core::FormatRfc3339(alert.raised_at));
  json.Key("job");
  alert.job.empty() ? json.Null() : json.String(alert.job);
  json.Key("rule").String(alert.rule);
  json.Key("kind").String(alert.kind);
  json.Key("severity").String(alert.severity);
  json.Key("summary").String(alert.summary);
  json.Key("alert").Raw(alert.body);
  json.Key("deliveries").BeginArray();
  for (const AlertDelivery& delivery : deliveries) {
    json.BeginObject();
    json.Key("channel").String(delivery.channel);
    json.Key("delivery_id").String(delivery.delivery_id);
    json.Key("state").String(ToString(delivery.state));
    json.Key("attempts").Int(delivery.attempts);
    json.Key("last_attempt_at");
    delivery.last_attempt_at ? json.String(core::FormatRfc3339(*delivery.last_attempt_at))
                             : json.Null();
    json.Key("next_attempt_at");
    delivery.state == DeliveryState::kPending
        ? json.String(core::FormatRfc3339(delivery.next_attempt_at))
        : json.Null();
    json.Key("response").String(delivery.response);
    json.EndObject();
  }
  json.EndArray();
}

}  // namespace store
