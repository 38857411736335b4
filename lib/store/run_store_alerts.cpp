// RunStore: the alert outbox (alerts and their deliveries per channel) and
// per-rule alert state.
#include <array>
#include <random>

#include <fmt/format.h>

#include "store/run_store.h"
#include "store/run_store_sql.h"

namespace store {
namespace {

using core::Unexpected;
using detail::FromMicros;
using detail::Micros;
using sqlite::Statement;

constexpr std::array<std::string_view, 4> kDeliveryStateNames = {"pending", "delivered", "rejected",
                                                                 "expired"};

constexpr std::string_view kAlertColumns =
    "a.id, a.raised_at, a.job, a.rule, a.kind, a.severity, a.summary, a.body";
constexpr int kAlertColumnCount = 8;
constexpr std::string_view kDeliveryColumns =
    "d.alert_id, d.channel, d.delivery_id, d.state, d.attempts, d.next_attempt_at, "
    "d.last_attempt_at, d.response";

StoredAlert ReadAlert(const Statement& row, int first) {
  StoredAlert alert;
  alert.id = row.Int(first);
  alert.raised_at = FromMicros(row.Int(first + 1));
  alert.job = row.Text(first + 2);
  alert.rule = row.Text(first + 3);
  alert.kind = row.Text(first + 4);
  alert.severity = row.Text(first + 5);
  alert.summary = row.Text(first + 6);
  alert.body = row.Text(first + 7);
  return alert;
}

AlertDelivery ReadDelivery(const Statement& row, int first) {
  AlertDelivery delivery;
  delivery.alert_id = row.Int(first);
  delivery.channel = row.Text(first + 1);
  delivery.delivery_id = row.Text(first + 2);
  delivery.state = ParseDeliveryState(row.Text(first + 3)).value_or(DeliveryState::kPending);
  delivery.attempts = static_cast<int>(row.Int(first + 4));
  delivery.next_attempt_at = FromMicros(row.Int(first + 5));
  delivery.last_attempt_at = FromMicros(row.OptionalInt(first + 6));
  delivery.response = row.Text(first + 7);
  return delivery;
}

}  // namespace

std::string NewDeliveryId() {
  thread_local std::mt19937_64 random(std::random_device{}());
  std::uint64_t high = random();
  std::uint64_t low = random();
  high = (high & ~std::uint64_t{0xf000}) | 0x4000;                         // version 4
  low = (low & ~(std::uint64_t{0xc} << 60)) | (std::uint64_t{0x8} << 60);  // RFC 4122 variant
  const std::string hex = fmt::format("{:016x}{:016x}", high, low);
  return hex.substr(0, 8) + '-' + hex.substr(8, 4) + '-' + hex.substr(12, 4) + '-' +
         hex.substr(16, 4) + '-' + hex.substr(20);
}

std::string_view ToString(DeliveryState state) {
  return kDeliveryStateNames[static_cast<int>(state)];
}

std::optional<DeliveryState> ParseDeliveryState(std::string_view text) {
  for (std::size_t i = 0; i < kDeliveryStateNames.size(); ++i) {
    if (kDeliveryStateNames[i] == text) return static_cast<DeliveryState>(i);
  }
  return std::nullopt;
}

core::Result<std::int64_t> RunStore::InsertAlert(const StoredAlert& alert,
                                                 const std::vector<std::string>& channels) {
  auto insert = db_.Prepare(
      "INSERT INTO alerts (raised_at, job, rule, kind, severity, summary, body) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  if (!insert) return Unexpected(insert.error());
  insert->Bind(1, Micros(alert.raised_at))
      .Bind(2, alert.job)
      .Bind(3, alert.rule)
      .Bind(4, alert.kind)
      .Bind(5, alert.severity)
      .Bind(6, alert.summary)
      .Bind(7, alert.body);
  if (auto ok = insert->Run(); !ok) return Unexpected(ok.error());
  const std::int64_t id = db_.LastInsertId();
  auto delivery = db_.Prepare(
      "INSERT INTO alert_deliveries (alert_id, channel, delivery_id, state, next_attempt_at) "
      "VALUES (?1, ?2, ?3, 'pending', ?4)");
  if (!delivery) return Unexpected(delivery.error());
  for (const std::string& channel : channels) {
    delivery->Bind(1, id)
        .Bind(2, channel)
        .Bind(3, NewDeliveryId())
        .Bind(4, Micros(alert.raised_at));
    if (auto ok = delivery->Run(); !ok) return Unexpected(ok.error());
  }
  return id;
}

core::Result<std::vector<std::pair<StoredAlert, AlertDelivery>>> RunStore::DueDeliveries(
    std::string_view channel, core::TimePoint now, int limit) {
  auto stmt =
      db_.Prepare("SELECT " + std::string(kAlertColumns) + ", " + std::string(kDeliveryColumns) +
                  " FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id "
                  "WHERE d.channel = ?1 AND d.state = 'pending' AND d.next_attempt_at <= ?2 "
                  "ORDER BY d.next_attempt_at, d.alert_id LIMIT ?3");
  if (!stmt) return Unexpected(stmt.error());
  stmt->Bind(1, channel).Bind(2, Micros(now)).Bind(3, std::int64_t{limit});
  std::vector<std::pair<StoredAlert, AlertDelivery>> due;
  for (;;) {
    auto row = stmt->Step();
    if (!row) return Unexpected(row.error());
    if (!*row) return due;
    due.emplace_back(ReadAlert(*stmt, 0), ReadDelivery(*stmt, kAlertColumnCount));
  }
}

core::Result<std::optional<core::TimePoint>> RunStore::NextDeliveryDue(std::string_view channel) {
  auto stmt = db_.Prepare(
      "SELECT MIN(next_attempt_at) FROM alert_deliveries WHERE channel = ?1 AND state = 'pending'");
  if (!stmt) return Unexpected(stmt.error());
  stmt->Bind(1, channel);
  auto row = stmt->Step();
  if (!row) return Unexpected(row.error());
  return FromMicros(stmt->OptionalInt(0));
}

core::Result<void> RunStore::UpdateDelivery(const AlertDelivery& delivery) {
  auto stmt = db_.Prepare(
      "UPDATE alert_deliveries SET state = ?3, attempts = ?4, next_attempt_at = ?5, "
      "last_attempt_at = ?6, response = ?7 WHERE alert_id = ?1 AND channel = ?2");
  if (!stmt) return Unexpected(stmt.error());
  std::optional<std::int64_t> last;
  if (delivery.last_attempt_at) last = Micros(*delivery.last_attempt_at);
  stmt->Bind(1, delivery.alert_id)
      .Bind(2, delivery.channel)
      .Bind(3, ToString(delivery.state))
      .Bind(4, std::int64_t{delivery.attempts})
      .Bind(5, Micros(delivery.next_attempt_at))
      .Bind(6, last)
      .Bind(7, delivery.response);
  return stmt->Run();
}

core::Result<std::vector<std::pair<StoredAlert, std::vector<AlertDelivery>>>>
RunStore::RecentAlerts(std::string_view job, int limit) {
  auto alerts =
      db_.Prepare("SELECT " + std::string(kAlertColumns) + " FROM alerts a " +
                  (job.empty() ? "" : "WHERE a.job = ?2 ") + "ORDER BY a.id DESC LIMIT ?1");
  if (!alerts) return Unexpected(alerts.error());
  alerts->Bind(1, std::int64_t{limit});
  if (!job.empty()) alerts->Bind(2, job);
  std::vector<std::pair<StoredAlert, std::vector<AlertDelivery>>> out;
  for (;;) {
    auto row = alerts->Step();
    if (!row) return Unexpected(row.error());
    if (!*row) break;
    out.emplace_back(ReadAlert(*alerts, 0), std::vector<AlertDelivery>{});
  }
  auto deliveries =
      db_.Prepare("SELECT " + std::string(kDeliveryColumns) +
                  " FROM alert_deliveries d WHERE d.alert_id = ?1 ORDER BY d.channel");
  if (!deliveries) return Unexpected(deliveries.error());
  for (auto& [alert, list] : out) {
    deliveries->Bind(1, alert.id);
    for (;;) {
      auto row = deliveries->Step();
      if (!row) return Unexpected(row.error());
      if (!*row) break;
      list.push_back(ReadDelivery(*deliveries, 0));
    }
    deliveries->Reset();
  }
  return out;
}

core::Result<int> RunStore::PruneAlerts(core::TimePoint before) {
  // Deliveries first: the schema's ON DELETE CASCADE needs foreign_keys on,
  // which this connection does not turn on for the sake of the runs table.
  const std::string settled =
      "SELECT id FROM alerts WHERE raised_at < ?1 AND NOT EXISTS (SELECT 1 FROM alert_deliveries "
      "WHERE alert_id = alerts.id AND state = 'pending')";
  auto deliveries = db_.Prepare("DELETE FROM alert_deliveries WHERE alert_id IN (" + settled + ")");
  if (!deliveries) return Unexpected(deliveries.error());
  deliveries->Bind(1, Micros(before));
  if (auto ok = deliveries->Run(); !ok) return Unexpected(ok.error());
  auto alerts = db_.Prepare("DELETE FROM alerts WHERE id IN (" + settled + ")");
  if (!alerts) return Unexpected(alerts.error());
  alerts->Bind(1, Micros(before));
  if (auto ok = alerts->Run(); !ok) return Unexpected(ok.error());
  return db_.Changes();
}

core::Result<std::vector<AlertRuleState>> RunStore::AlertStates() {
  auto stmt = db_.Prepare(
      "SELECT job, rule, holding, fired, severity, last_sent_at FROM alert_state ORDER BY job, "
      "rule");
  if (!stmt) return Unexpected(stmt.error());
  std::vector<AlertRuleState> states;
  for (;;) {
    auto row = stmt->Step();
    if (!row) return Unexpected(row.error());
    if (!*row) return states;
    AlertRuleState state;
    state.job = stmt->Text(0);
    state.rule = stmt->Text(1);
    state.holding = stmt->Int(2) != 0;
    state.fired = stmt->Int(3) != 0;
    state.severity = stmt->Text(4);
    state.last_sent_at = FromMicros(stmt->OptionalInt(5));
    states.push_back(std::move(state));
  }
}

core::Result<void> RunStore::PutAlertState(const AlertRuleState& state) {
  auto stmt =
      Prepared(put_alert_state_,
               "INSERT INTO alert_state (job, rule, holding, fired, severity, last_sent_at) "
               "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (job, rule) DO UPDATE SET "
               "holding = ?3, fired = ?4, severity = ?5, last_sent_at = ?6");
  if (!stmt) return Unexpected(stmt.error());
  std::optional<std::int64_t> sent;
  if (state.last_sent_at) sent = Micros(*state.last_sent_at);
  (*stmt)
      ->Bind(1, state.job)
      .Bind(2, state.rule)
      .Bind(3, std::int64_t{state.holding ? 1 : 0})
      .Bind(4, std::int64_t{state.fired ? 1 : 0})
      .Bind(5, state.severity)
      .Bind(6, sent);
  return (*stmt)->Run();
}

}  // namespace store
