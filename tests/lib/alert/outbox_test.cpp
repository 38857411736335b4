#include "alert/outbox.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <optional>
#include <set>
#include <thread>

#include "tests/lib/config/config_test_support.h"

namespace alert {
namespace {

using namespace std::chrono_literals;
using config::testing::TempDir;
using Outcome = DeliveryResult::Outcome;

// A channel for the outbox's own tests: answers from a script and records
// what it was asked. The real channels have tests of their own against
// real peers.
struct ScriptedChannel : Channel {
  struct Log {
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<std::pair<std::string, int>> deliveries;  // (delivery id, attempt)
    std::vector<std::string> summaries;
  };
  std::shared_ptr<Log> log;
  std::deque<DeliveryResult> script;
  bool hang = false;  // wait until cancelled once the script is done

  DeliveryResult Deliver(const Delivery& delivery) override {
    if (hang && script.empty()) {
      while (!delivery.cancelled()) std::this_thread::sleep_for(5ms);
      return DeliveryResult{Outcome::kRetry, "cancelled", {}};
    }
    {
      std::lock_guard lock(log->mutex);
      log->deliveries.emplace_back(delivery.id, delivery.attempt);
      log->summaries.push_back(delivery.alert.summary);
    }
    log->changed.notify_all();
    if (script.empty()) return DeliveryResult{Outcome::kDelivered, "HTTP 200 ok", {}};
    DeliveryResult next = script.front();
    script.pop_front();
    return next;
  }
};

struct Harness {
  TempDir dir;
  std::unique_ptr<store::RunRecorder> recorder;
  std::map<std::string, std::shared_ptr<ScriptedChannel::Log>> logs;
  std::map<std::string, std::deque<DeliveryResult>> scripts;
  std::set<std::string> hanging;
  std::mutex counts_mutex;
  std::map<std::string, int> counts;  // "channel/result"

  Harness() {
    auto s = store::RunStore::Open(dir.path() / "state.db", store::Database::Mode::kReadWrite);
    REQUIRE(s);
    auto r = store::RunRecorder::Start(
        std::move(*s), 100, [](const core::Error&) {}, 100);
    REQUIRE(r);
    recorder = std::move(*r);
  }

  std::unique_ptr<AlertOutbox> Outbox() {
    return std::make_unique<AlertOutbox>(
        *recorder,
        [this](const config::ChannelConfig& config) {
          auto channel = std::make_unique<ScriptedChannel>();
          channel->log = logs[config.name];
          if (!channel->log)
            channel->log = logs[config.name] = std::make_shared<ScriptedChannel::Log>();
          channel->script = scripts[config.name];
          channel->hang = hanging.count(config.name) != 0;
          return channel;
        },
        [this](const std::string& channel, config::Severity, std::string_view result) {
          std::lock_guard lock(counts_mutex);
          ++counts[channel + "/" + std::string(result)];
        },
        20ms);
  }

  static std::map<std::string, config::ChannelConfig> Channels(std::vector<std::string> names) {
    std::map<std::string, config::ChannelConfig> channels;
    for (const std::string& name : names) {
      config::ChannelConfig channel;
      channel.name = name;
      channel.settings = config::WebhookChannel{"https://example.com/" + name, {}, {}};
      channels.emplace(name, channel);
    }
    return channels;
  }

  void Raise(const std::string& summary, std::vector<std::string> channels,
             core::TimePoint at = core::TimePoint(std::chrono::duration_cast<core::Duration>(
                 std::chrono::system_clock::now().time_since_epoch())),
             std::optional<std::string> body = std::nullopt) {
    Alert alert;
    alert.rule = "consecutive_failures";
    alert.job = "sync";
    alert.summary = summary;
    alert.raised_at = at;
    store::StoredAlert stored;
    stored.raised_at = at;
    stored.job = alert.job;
    stored.rule = alert.rule;
    stored.kind = "firing";
    stored.severity = "warning";
    stored.summary = summary;
    stored.body = body.value_or(AlertJson(alert));
    recorder->Write(
        [stored, channels](store::RunStore& s) { REQUIRE(s.InsertAlert(stored, channels)); });
  }

  int Count(const std::string& key) {
    std::lock_guard lock(counts_mutex);
    return counts[key];
  }

  // Waits until `channel` saw `n` delivery attempts.
  bool WaitFor(const std::string& channel, std::size_t n, std::chrono::milliseconds limit = 5s) {
    if (!logs[channel]) logs[channel] = std::make_shared<ScriptedChannel::Log>();
    auto& log = *logs[channel];
    std::unique_lock lock(log.mutex);
    return log.changed.wait_for(lock, limit, [&] { return log.deliveries.size() >= n; });
  }

  std::vector<store::AlertDelivery> Deliveries() {
    std::vector<store::AlertDelivery> all;
    recorder->Flush();
    std::promise<void> done;
    recorder->Query([&](store::RunStore& s) {
      auto alerts = s.RecentAlerts("", 100);
      REQUIRE(alerts);
      for (auto& [alert, list] : *alerts) all.insert(all.end(), list.begin(), list.end());
      done.set_value();
    });
    done.get_future().wait();
    return all;
  }
};

TEST_CASE("the outbox delivers what was written, retries what may pass, never what was refused",
          "[alert]") {
  Harness h;
  h.logs["slack"] = std::make_shared<ScriptedChannel::Log>();
  h.logs["hook"] = std::make_shared<ScriptedChannel::Log>();
  h.scripts["slack"] = {DeliveryResult{Outcome::kRetry, "HTTP 500", {}},
                        DeliveryResult{Outcome::kRetry, "HTTP 429", 50ms}};
  h.scripts["hook"] = {DeliveryResult{Outcome::kRejected, "HTTP 400 invalid_payload", {}}};
  auto outbox = h.Outbox();
  outbox->SetChannels(Harness::Channels({"slack", "hook"}));
  h.Raise("sync failed 3 times in a row", {"slack", "hook"});
  outbox->Wake();
  REQUIRE(h.WaitFor("slack", 3));
  REQUIRE(h.WaitFor("hook", 1));
  std::this_thread::sleep_for(200ms);
  {
    std::lock_guard lock(h.logs["slack"]->mutex);
    const auto& tries = h.logs["slack"]->deliveries;
    REQUIRE(tries.size() == 3);               // 500, 429, then delivered: no more
    CHECK(tries[0].first == tries[2].first);  // one delivery id across attempts
    CHECK(tries[2].second == 3);
  }
  CHECK(h.logs["hook"]->deliveries.size() == 1);  // refused: never again
  outbox->Stop();

  const auto deliveries = h.Deliveries();
  REQUIRE(deliveries.size() == 2);
  CHECK(deliveries[0].channel == "hook");
  CHECK(deliveries[0].state == store::DeliveryState::kRejected);
  CHECK(deliveries[0].response == "HTTP 400 invalid_payload");
  CHECK(deliveries[1].state == store::DeliveryState::kDelivered);
  CHECK(deliveries[1].attempts == 3);
  CHECK(h.Count("slack/retry") == 2);
  CHECK(h.Count("slack/delivered") == 1);
  CHECK(h.Count("hook/rejected") == 1);
}

TEST_CASE("a hanging channel holds up neither the other channels nor a stop", "[alert]") {
  Harness h;
  h.hanging.insert("stuck");
  auto outbox = h.Outbox();
  outbox->SetChannels(Harness::Channels({"stuck", "slack"}));
  for (int i = 0; i < 5; ++i) h.Raise("alert " + std::to_string(i), {"stuck", "slack"});
  outbox->Wake();
  REQUIRE(h.WaitFor("slack", 5, 3s));
  const auto started = std::chrono::steady_clock::now();
  outbox->Stop();
  CHECK(std::chrono::steady_clock::now() - started < 1s);
  // The stuck channel's deliveries are still pending, for the next start.
  int pending = 0;
  for (const auto& d : h.Deliveries()) {
    if (d.channel == "stuck") {
      CHECK(d.state == store::DeliveryState::kPending);
      ++pending;
    }
  }
  CHECK(pending == 5);
}

TEST_CASE("undelivered alerts go out after a restart, once each", "[alert]") {
  Harness h;
  h.Raise("before the crash", {"slack"});
  h.recorder->Flush();
  auto outbox = h.Outbox();  // a new daemon: nothing woke it, it looks at start
  outbox->SetChannels(Harness::Channels({"slack"}));
  REQUIRE(h.WaitFor("slack", 1));
  std::this_thread::sleep_for(100ms);
  outbox->Stop();
  outbox = h.Outbox();
  outbox->SetChannels(Harness::Channels({"slack"}));
  std::this_thread::sleep_for(200ms);
  outbox->Stop();
  CHECK(h.logs["slack"]->deliveries.size() == 1);
  CHECK(h.logs["slack"]->summaries[0] == "before the crash");
}

TEST_CASE("an alert not delivered within a day expires", "[alert]") {
  Harness h;
  h.Raise("old news", {"slack"},
          core::TimePoint(std::chrono::duration_cast<core::Duration>(
              std::chrono::system_clock::now().time_since_epoch() - std::chrono::hours(25))));
  auto outbox = h.Outbox();
  outbox->SetChannels(Harness::Channels({"slack"}));
  for (int i = 0; i < 100 && h.Count("slack/expired") == 0; ++i) {
    std::this_thread::sleep_for(20ms);
  }
  outbox->Stop();
  CHECK(h.logs["slack"]->deliveries.empty());
  const auto deliveries = h.Deliveries();
  REQUIRE(deliveries.size() == 1);
  CHECK(deliveries[0].state == store::DeliveryState::kExpired);
}

TEST_CASE("an unreadable alert in the outbox is refused, not sent and not retried", "[alert]") {
  Harness h;
  h.Raise("garbled", {"slack"},
          core::TimePoint(std::chrono::duration_cast<core::Duration>(
              std::chrono::system_clock::now().time_since_epoch())),
          "{not json");
  auto outbox = h.Outbox();
  outbox->SetChannels(Harness::Channels({"slack"}));
  for (int i = 0; i < 100 && h.Count("slack/rejected") == 0; ++i) {
    std::this_thread::sleep_for(20ms);
  }
  outbox->Stop();
  CHECK(h.logs["slack"]->deliveries.empty());
  const auto deliveries = h.Deliveries();
  REQUIRE(deliveries.size() == 1);
  CHECK(deliveries[0].state == store::DeliveryState::kRejected);
  CHECK(deliveries[0].response.starts_with("unreadable alert in the outbox"));
}

TEST_CASE("channel health counts failed attempts in a row", "[alert]") {
  Harness h;
  h.scripts["slack"] = {DeliveryResult{Outcome::kRetry, "HTTP 503", {}},
                        DeliveryResult{Outcome::kRetry, "HTTP 503", {}},
                        DeliveryResult{Outcome::kRetry, "HTTP 502", {}}};
  h.hanging.insert("slack");  // after those three
  auto outbox = h.Outbox();
  outbox->SetChannels(Harness::Channels({"slack"}));
  h.Raise("x", {"slack"});
  outbox->Wake();
  REQUIRE(h.WaitFor("slack", 3));
  std::vector<ChannelHealth> health;
  for (int i = 0; i < 200; ++i) {
    health = outbox->Health();
    if (health.size() == 1 && health[0].failures_in_a_row == 3) break;
    std::this_thread::sleep_for(10ms);
  }
  REQUIRE(health.size() == 1);
  CHECK(health[0].failures_in_a_row == 3);
  CHECK(health[0].failing());
  CHECK(health[0].last_error == "HTTP 502");
  CHECK_FALSE(health[0].last_delivered_at);
  outbox->Stop();
}

}  // namespace
}  // namespace alert
