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
#include "tests/lib/scheduler/manual_clock.h"

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
    std::vector<core::TimePoint> attempted_at;
  };
  std::shared_ptr<Log> log;
  const scheduler::Clock* clock = nullptr;
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
      log->attempted_at.push_back(clock->Now());
    }
    log->changed.notify_all();
    if (script.empty()) return DeliveryResult{Outcome::kDelivered, "HTTP 200 ok", {}};
    DeliveryResult next = script.front();
    script.pop_front();
    return next;
  }
};

// An outbox on a manual clock: time moves only in Step, which stops at every
// instant a channel thread waits for and lets the threads that are not
// hanging go back to sleep there before moving on.
struct Harness {
  TempDir dir;
  scheduler::testing::ManualClock clock;
  const core::TimePoint t0 = clock.Now();
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
        *recorder, clock,
        [this](const config::ChannelConfig& config) {
          auto channel = std::make_unique<ScriptedChannel>();
          channel->clock = &clock;
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
             std::optional<core::TimePoint> raised_at = std::nullopt,
             std::optional<std::string> body = std::nullopt) {
    const core::TimePoint at = raised_at.value_or(clock.Now());
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

  // Moves the clock by `d`; at each stop waits until `sleepers` channel
  // threads have looked at the time and gone back to sleep.
  void Step(core::Duration d, int sleepers = 1) {
    clock.Advance(d, [&] { REQUIRE(clock.AwaitSleepers(sleepers)); });
  }
  void StepTo(core::TimePoint t, int sleepers = 1) { Step(t - clock.Now(), sleepers); }
  // Lets the channel threads catch up with what they were woken for.
  void Settle(int sleepers = 1) { Step(0s, sleepers); }

  // An outbox on the channel "slack" and one alert for it, attempted once.
  std::unique_ptr<AlertOutbox> OutboxWithOneAttempt() {
    auto outbox = Outbox();
    outbox->SetChannels(Channels({"slack"}));
    Settle();
    Raise("x", {"slack"});
    outbox->Wake();
    REQUIRE(WaitFor("slack", 1));
    Settle();
    return outbox;
  }

  std::size_t Attempts(const std::string& channel) {
    std::lock_guard lock(logs[channel]->mutex);
    return logs[channel]->deliveries.size();
  }
  core::TimePoint AttemptedAt(const std::string& channel, std::size_t i) {
    std::lock_guard lock(logs[channel]->mutex);
    return logs[channel]->attempted_at.at(i);
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
  h.Settle(2);
  h.Raise("sync failed 3 times in a row", {"slack", "hook"});
  outbox->Wake();
  REQUIRE(h.WaitFor("slack", 1));
  REQUIRE(h.WaitFor("hook", 1));
  h.Settle(2);
  CHECK(h.AttemptedAt("slack", 0) == h.t0);
  // The first backoff is a random wait between a tenth of 20 ms and 20 ms.
  h.Step(2ms - 1us, 2);
  CHECK(h.Attempts("slack") == 1);
  h.StepTo(h.t0 + 20ms, 2);
  REQUIRE(h.Attempts("slack") == 2);
  const core::TimePoint second = h.AttemptedAt("slack", 1);
  CHECK(second >= h.t0 + 2ms);
  // Retry-After 50 ms outlasts the second backoff (at most 40 ms): not before it, at it.
  h.StepTo(second + 50ms - 1us, 2);
  CHECK(h.Attempts("slack") == 2);
  h.StepTo(second + 50ms, 2);
  REQUIRE(h.Attempts("slack") == 3);
  CHECK(h.AttemptedAt("slack", 2) == second + 50ms);
  // Delivered and refused deliveries are not tried again, through several idle polls.
  h.Step(10min, 2);
  {
    std::lock_guard lock(h.logs["slack"]->mutex);
    const auto& tries = h.logs["slack"]->deliveries;
    REQUIRE(tries.size() == 3);               // 500, 429, then delivered: no more
    CHECK(tries[0].first == tries[2].first);  // one delivery id across attempts
    CHECK(tries[2].second == 3);
  }
  CHECK(h.Attempts("hook") == 1);  // refused: never again
  outbox->Stop();

  const auto deliveries = h.Deliveries();
  REQUIRE(deliveries.size() == 2);
  CHECK(deliveries[0].channel == "hook");
  CHECK(deliveries[0].state == store::DeliveryState::kRejected);
  CHECK(deliveries[0].response == "HTTP 400 invalid_payload");
  CHECK(deliveries[1].state == store::DeliveryState::kDelivered);
  CHECK(deliveries[1].attempts == 3);
  CHECK(deliveries[1].last_attempt_at == second + 50ms);
  CHECK(h.Count("slack/retry") == 2);
  CHECK(h.Count("slack/delivered") == 1);
  CHECK(h.Count("hook/rejected") == 1);
}

TEST_CASE("a delivery due in 1 min is not attempted at 59 s and is at 60 s", "[alert]") {
  Harness h;
  h.scripts["slack"] = {DeliveryResult{Outcome::kRetry, "HTTP 503", 1min}};
  auto outbox = h.OutboxWithOneAttempt();
  h.Step(59s);
  CHECK(h.Attempts("slack") == 1);
  CHECK(h.Count("slack/delivered") == 0);
  h.Step(1s);
  REQUIRE(h.Attempts("slack") == 2);
  CHECK(h.AttemptedAt("slack", 1) == h.t0 + 60s);
  CHECK(h.Count("slack/delivered") == 1);
  outbox->Stop();
  const auto deliveries = h.Deliveries();
  REQUIRE(deliveries.size() == 1);
  CHECK(deliveries[0].state == store::DeliveryState::kDelivered);
  CHECK(deliveries[0].attempts == 2);
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
  h.Settle();
  h.Step(2min);  // two idle polls: nothing to send again
  CHECK(h.Attempts("slack") == 1);
  outbox->Stop();
  outbox = h.Outbox();
  outbox->SetChannels(Harness::Channels({"slack"}));
  h.Settle();  // its look at start
  h.Step(2min);
  outbox->Stop();
  CHECK(h.logs["slack"]->deliveries.size() == 1);
  CHECK(h.logs["slack"]->summaries[0] == "before the crash");
}

TEST_CASE("an alert not delivered within a day expires", "[alert]") {
  Harness h;
  h.Raise("old news", {"slack"}, h.t0 - std::chrono::hours(25));
  auto outbox = h.Outbox();
  outbox->SetChannels(Harness::Channels({"slack"}));
  h.Settle();  // its look at start
  CHECK(h.Count("slack/expired") == 1);
  outbox->Stop();
  CHECK(h.logs["slack"]->deliveries.empty());
  const auto deliveries = h.Deliveries();
  REQUIRE(deliveries.size() == 1);
  CHECK(deliveries[0].state == store::DeliveryState::kExpired);
}

TEST_CASE("an unreadable alert in the outbox is refused, not sent and not retried", "[alert]") {
  Harness h;
  h.Raise("garbled", {"slack"}, std::nullopt, "{not json");
  auto outbox = h.Outbox();
  outbox->SetChannels(Harness::Channels({"slack"}));
  h.Settle();  // its look at start
  CHECK(h.Count("slack/rejected") == 1);
  h.Step(2min);
  CHECK(h.Count("slack/rejected") == 1);
  outbox->Stop();
  CHECK(h.logs["slack"]->deliveries.empty());
  const auto deliveries = h.Deliveries();
  REQUIRE(deliveries.size() == 1);
  CHECK(deliveries[0].state == store::DeliveryState::kRejected);
  CHECK(deliveries[0].response.starts_with("unreadable alert in the outbox"));
}

TEST_CASE("channel health counts failed attempts in a row", "[alert]") {
  Harness h;
  h.scripts["slack"] = {DeliveryResult{Outcome::kRetry, "HTTP 503", 1min},
                        DeliveryResult{Outcome::kRetry, "HTTP 503", 1min},
                        DeliveryResult{Outcome::kRetry, "HTTP 502", 1min}};
  h.hanging.insert("slack");  // after those three
  auto outbox = h.OutboxWithOneAttempt();
  h.Step(1min);
  std::vector<ChannelHealth> health = outbox->Health();
  REQUIRE(health.size() == 1);
  CHECK(health[0].failures_in_a_row == 2);
  CHECK_FALSE(health[0].failing());
  h.Step(1min);
  health = outbox->Health();
  REQUIRE(health.size() == 1);
  CHECK(health[0].failures_in_a_row == 3);
  CHECK(health[0].failing());
  CHECK(health[0].last_error == "HTTP 502");
  CHECK(health[0].last_failed_at == h.t0 + 2min);
  CHECK_FALSE(health[0].last_delivered_at);
  outbox->Stop();
}

}  // namespace
}  // namespace alert
