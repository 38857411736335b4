#include "alert/rule_evaluator.h"

#include <catch2/catch.hpp>

#include "store/run_recorder.h"
#include "tests/lib/config/config_test_support.h"

namespace alert {
namespace {

using namespace std::chrono_literals;
using config::testing::TempDir;
using store::RunStatus;

core::TimePoint T(int seconds) {
  return core::TimePoint(std::chrono::seconds(1'800'000'000 + seconds));
}

std::shared_ptr<const config::Config> Config(const std::string& yaml) {
  config::LoadResult loaded = config::testing::Load(yaml);
  INFO(loaded.ErrorText());
  REQUIRE(loaded.ok());
  return std::make_shared<const config::Config>(std::move(*loaded.config));
}

const std::string kChannels =
    "  channels:\n"
    "    slack: {type: slack, webhook_url: 'https://hooks.example.com/T000/B000/s3cr3tpath'}\n"
    "    mail: {type: email, smtp_url: 'smtp://mail.example.com:587', from: a@example.com, "
    "to: [b@example.com], password: hunter22}\n"
    "  route: {critical: [slack, mail], warning: [slack]}\n";

// An evaluator on a real state file, fed run ends the way the recorder would.
struct Harness {
  TempDir dir;
  store::RunStore store;
  RuleEvaluator evaluator;
  int written = 0;
  std::int64_t next_run = 1;

  explicit Harness(std::shared_ptr<const config::Config> config)
      : store(Open(dir.path() / "state.db")), evaluator(std::move(config), "box1", T(0)) {
    REQUIRE(evaluator.Load(store));
    evaluator.OnAlertWritten([this] { ++written; });
  }
  static store::RunStore Open(const std::filesystem::path& file) {
    auto s = store::RunStore::Open(file, store::Database::Mode::kReadWrite);
    REQUIRE(s);
    return std::move(*s);
  }

  void End(const std::string& job, RunStatus status, int at, int took = 1,
           const std::string& error = "", std::optional<double> quality = std::nullopt) {
    store::RunEnd end;
    end.id = next_run++;
    end.job = job;
    end.status = status;
    end.started_at = T(at - took);
    end.finished_at = T(at);
    end.error = error;
    if (quality) end.metrics.SetQuality(*quality);
    evaluator.OnRunEnd(store, end);
  }

  std::vector<std::pair<store::StoredAlert, std::vector<store::AlertDelivery>>> Alerts() {
    auto alerts = store.RecentAlerts("", 100);
    REQUIRE(alerts);
    std::reverse(alerts->begin(), alerts->end());  // oldest first
    return *alerts;
  }
  std::vector<std::string> Kinds() {
    std::vector<std::string> kinds;
    for (const auto& [alert, deliveries] : Alerts()) {
      kinds.push_back(alert.rule + ":" + alert.kind + ":" + alert.severity);
    }
    return kinds;
  }
};

TEST_CASE("an incident raises one alert when the streak reaches the threshold, one recovery",
          "[alert]") {
  Harness h(Config("alerts:\n" + kChannels +
                   "  rules: {consecutive_failures: {threshold: 3, severity: critical}}\n"
                   "jobs:\n  - {name: sync, type: sleep, every: 1m, with: {duration: 1s}}\n"));
  h.End("sync", RunStatus::kFailed, 60, 1, "exit code 1");
  h.End("sync", RunStatus::kFailed, 120, 1, "exit code 1");
  CHECK(h.Kinds().empty());
  h.End("sync", RunStatus::kFailed, 180, 1, "exit code 2");
  h.End("sync", RunStatus::kFailed, 240, 1, "exit code 2");  // still holding: no repeat
  h.End("sync", RunStatus::kTimeout, 300);
  CHECK(h.Kinds() == std::vector<std::string>{"consecutive_failures:firing:critical"});
  h.End("sync", RunStatus::kCancelled, 330);  // says nothing
  h.End("sync", RunStatus::kOk, 360);
  h.End("sync", RunStatus::kOk, 420);
  CHECK(h.Kinds() == std::vector<std::string>{"consecutive_failures:firing:critical",
                                              "consecutive_failures:recovery:critical"});
  CHECK(h.written == 2);

  const auto alerts = h.Alerts();
  const auto& [firing, deliveries] = alerts[0];
  CHECK(firing.job == "sync");
  CHECK(firing.summary == "sync failed 3 times in a row");
  CHECK(firing.raised_at == T(180));
  auto parsed = AlertFromJson(firing.body);
  REQUIRE(parsed);
  CHECK(parsed->consecutive_failures == 3);
  CHECK(parsed->last_error == "exit code 2");
  CHECK(parsed->host == "box1");
  CHECK(parsed->run_id == 3);
  // Critical goes to both channels, each with its own pending delivery.
  REQUIRE(deliveries.size() == 2);
  CHECK(deliveries[0].channel == "mail");
  CHECK(deliveries[1].channel == "slack");
  CHECK(deliveries[0].state == store::DeliveryState::kPending);
  CHECK(deliveries[0].delivery_id.size() == 36);  // a UUID
  CHECK(deliveries[0].delivery_id != deliveries[1].delivery_id);
  CHECK(alerts[1].first.summary == "sync succeeded again after 5 failures in a row");
  CHECK(alerts[1].second.size() == 2);  // routed like the alert it ends
}

TEST_CASE("a restart neither repeats an alert nor forgets the recovery", "[alert]") {
  TempDir dir;
  auto config = Config("alerts:\n" + kChannels +
                       "  rules: {consecutive_failures: {threshold: 2, severity: warning}}\n"
                       "jobs:\n  - {name: sync, type: sleep, every: 1m, with: {duration: 1s}}\n");
  auto open = [&] {
    auto s = store::RunStore::Open(dir.path() / "state.db", store::Database::Mode::kReadWrite);
    REQUIRE(s);
    return std::move(*s);
  };
  auto end = [](RuleEvaluator& evaluator, store::RunStore& s, RunStatus status, int at) {
    store::RunEnd run;
    run.id = at;
    run.job = "sync";
    run.status = status;
    run.started_at = T(at - 1);
    run.finished_at = T(at);
    // As the recorder does: the health row moves in the same transaction.
    REQUIRE(s.RecordHealth(run.job, status, run.finished_at));
    evaluator.OnRunEnd(s, run);
  };
  {
    store::RunStore s = open();
    RuleEvaluator evaluator(config, "box1", T(0));
    REQUIRE(evaluator.Load(s));
    end(evaluator, s, RunStatus::kFailed, 60);
    end(evaluator, s, RunStatus::kFailed, 120);
  }
  store::RunStore s = open();
  RuleEvaluator evaluator(config, "box1", T(130));
  REQUIRE(evaluator.Load(s));
  end(evaluator, s, RunStatus::kFailed, 180);
  evaluator.Sweep(s, T(190));
  end(evaluator, s, RunStatus::kOk, 240);
  auto alerts = s.RecentAlerts("", 10);
  REQUIRE(alerts);
  REQUIRE(alerts->size() == 2);
  CHECK((*alerts)[1].first.kind == "firing");
  CHECK((*alerts)[0].first.kind == "recovery");
  CHECK((*alerts)[0].first.summary == "sync succeeded again after 3 failures in a row");
}

TEST_CASE("cooldown: repeats wait for it, flapping is held back, a worse level escalates at once",
          "[alert]") {
  Harness h(Config("alerts:\n" + kChannels +
                   "  cooldown: 10m\n"
                   "  rules:\n"
                   "    consecutive_failures:\n"
                   "      - {threshold: 1, severity: warning}\n"
                   "      - {threshold: 4, severity: critical}\n"
                   "jobs:\n  - {name: sync, type: sleep, every: 1m, with: {duration: 1s}}\n"));
  h.End("sync", RunStatus::kFailed, 60);   // fires
  h.End("sync", RunStatus::kOk, 120);      // recovers
  h.End("sync", RunStatus::kFailed, 180);  // flaps within 10m of the last alert: held back
  h.End("sync", RunStatus::kFailed, 240);
  CHECK(h.Kinds() == std::vector<std::string>{"consecutive_failures:firing:warning",
                                              "consecutive_failures:recovery:warning"});
  h.End("sync", RunStatus::kFailed, 300);
  h.End("sync", RunStatus::kFailed, 360);  // streak 4: critical, at once
  CHECK(h.Kinds().back() == "consecutive_failures:firing:critical");
  h.End("sync", RunStatus::kFailed, 420);  // holding, within cooldown: nothing
  CHECK(h.Kinds().size() == 3);
  h.End("sync", RunStatus::kFailed, 360 + 600);  // cooldown over: one reminder
  CHECK(h.Kinds().back() == "consecutive_failures:repeat:critical");
  CHECK(h.Kinds().size() == 4);
  h.End("sync", RunStatus::kOk, 1000);
  CHECK(h.Kinds().back() == "consecutive_failures:recovery:critical");
}

TEST_CASE("an episode held back by cooldown fires once the cooldown ends, if it still holds",
          "[alert]") {
  Harness h(Config("alerts:\n" + kChannels +
                   "  cooldown: 5m\n"
                   "  rules: {consecutive_failures: {threshold: 1}}\n"
                   "jobs:\n  - {name: sync, type: sleep, every: 1m, with: {duration: 1s}}\n"));
  h.End("sync", RunStatus::kFailed, 60);
  h.End("sync", RunStatus::kOk, 70);
  h.End("sync", RunStatus::kFailed, 80);  // held back
  h.End("sync", RunStatus::kOk, 90);      // no alert went out for it: no recovery either
  h.End("sync", RunStatus::kFailed, 100);
  h.evaluator.Sweep(h.store, T(200));  // still within 5m of the first alert
  CHECK(h.Kinds().size() == 2);
  h.evaluator.Sweep(h.store, T(400));
  CHECK(h.Kinds() == std::vector<std::string>{"consecutive_failures:firing:warning",
                                              "consecutive_failures:recovery:warning",
                                              "consecutive_failures:firing:warning"});
}

TEST_CASE("duration_over and quality_below fire on the run that breaks them", "[alert]") {
  Harness h(Config("alerts:\n" + kChannels +
                   "  notify_recovery: false\n"
                   "  rules:\n"
                   "    duration_over: {threshold: 30s, severity: warning}\n"
                   "    quality_below: [{threshold: 0.9}, {threshold: 0.5, severity: critical}]\n"
                   "jobs:\n  - {name: fetch, type: sleep, every: 1m, with: {duration: 1s}}\n"));
  h.End("fetch", RunStatus::kOk, 100, 10, "", 0.95);
  h.End("fetch", RunStatus::kOk, 200, 45, "", 0.8);
  CHECK(h.Kinds() ==
        std::vector<std::string>{"duration_over:firing:warning", "quality_below:firing:warning"});
  h.End("fetch", RunStatus::kFailed, 250, 2);  // a quick failure: duration still holds
  h.End("fetch", RunStatus::kOk, 300, 50, "", 0.4);
  CHECK(h.Kinds().back() == "quality_below:escalation:critical");
  h.End("fetch", RunStatus::kOk, 400, 5, "", 1.0);
  CHECK(h.Kinds().size() == 3);  // notify_recovery off: no recovery alerts
  const auto alerts = h.Alerts();
  CHECK(alerts[0].first.summary == "fetch ran for 45s (more than 30s)");
  CHECK(alerts[1].first.summary == "fetch data quality 0.800 is below 0.900");
  CHECK(alerts[0].second.size() == 1);  // warning: slack only
  CHECK(alerts[2].second.size() == 2);  // critical: slack and mail
}

TEST_CASE("failures_within counts failures in the window, successes between them or not",
          "[alert]") {
  Harness h(Config("alerts:\n" + kChannels +
                   "  rules:\n"
                   "    failures_within: [{count: 3, window: 10m}, {count: 5, window: 10m, "
                   "severity: critical}]\n"
                   "jobs:\n  - {name: sync, type: sleep, every: 1m, with: {duration: 1s}}\n"));
  h.End("sync", RunStatus::kFailed, 0);
  h.End("sync", RunStatus::kOk, 60);
  h.End("sync", RunStatus::kFailed, 120);
  CHECK(h.Kinds().empty());
  h.End("sync", RunStatus::kTimeout, 700);  // the one at 0 has left the window
  CHECK(h.Kinds().empty());
  h.End("sync", RunStatus::kFailed, 710);  // 120, 700, 710
  CHECK(h.Kinds() == std::vector<std::string>{"failures_within:firing:warning"});
  CHECK(h.Alerts()[0].first.summary == "sync failed 3 times within 10m");
  h.End("sync", RunStatus::kOk, 715);  // still 120, 700, 710 within 10m: no recovery
  CHECK(h.Kinds().size() == 1);
  h.End("sync", RunStatus::kFailed, 730);
  h.End("sync", RunStatus::kFailed, 740);
  CHECK(h.Kinds().size() == 1);            // 4 within 10m: the warning holds
  h.End("sync", RunStatus::kFailed, 750);  // 700 .. 750: 5 within 10m
  CHECK(h.Kinds().back() == "failures_within:escalation:critical");
  h.End("sync", RunStatus::kOk, 1345);  // only 750 is within 10m now: below 3
  CHECK(h.Kinds().size() == 3);
  CHECK(h.Kinds().back() == "failures_within:recovery:critical");
  CHECK(h.Alerts().back().first.summary == "sync is below 3 failures within 10m again");
}

TEST_CASE("failures_within remembers the failures before a restart", "[alert]") {
  TempDir dir;
  auto config = Config("alerts:\n" + kChannels +
                       "  rules: {failures_within: {count: 2, window: 10m}}\n"
                       "jobs:\n  - {name: sync, type: sleep, every: 1m, with: {duration: 1s}}\n");
  auto open = [&] {
    auto s = store::RunStore::Open(dir.path() / "state.db", store::Database::Mode::kReadWrite);
    REQUIRE(s);
    return std::move(*s);
  };
  {
    // A failure recorded by the daemon before it stopped.
    store::RunStore s = open();
    store::RunRecord run;
    run.job = "sync";
    run.started_at = T(99);
    auto id = s.InsertRun(run);
    REQUIRE(id);
    store::RunEnd end;
    end.id = *id;
    end.job = "sync";
    end.status = RunStatus::kFailed;
    end.finished_at = T(100);
    REQUIRE(s.FinishRun(end));
  }
  store::RunStore s = open();
  RuleEvaluator evaluator(config, "box1", T(150));
  REQUIRE(evaluator.Load(s));
  store::RunEnd end;
  end.id = 1000;
  end.job = "sync";
  end.status = RunStatus::kFailed;
  end.started_at = T(199);
  end.finished_at = T(200);
  evaluator.OnRunEnd(s, end);
  auto alerts = s.RecentAlerts("", 10);
  REQUIRE(alerts);
  REQUIRE(alerts->size() == 1);
  CHECK((*alerts)[0].first.summary == "sync failed 2 times within 10m");
}

TEST_CASE("duration_over with average_of compares the average of the last runs", "[alert]") {
  Harness h(Config("alerts:\n" + kChannels +
                   "  notify_recovery: true\n"
                   "  rules:\n"
                   "    duration_over: {threshold: 10m, average_of: 3}\n"
                   "jobs:\n  - {name: sync, type: sleep, every: 1h, with: {duration: 1s}}\n"));
  h.End("sync", RunStatus::kOk, 1000, 900);  // one slow run: the average of one is 15m
  CHECK(h.Kinds() == std::vector<std::string>{"duration_over:firing:warning"});
  CHECK(h.Alerts()[0].first.summary ==
        "sync took 15m on average over its last 3 runs (more than 10m)");
  h.End("sync", RunStatus::kOk, 5000, 60);  // (900 + 60) / 2 = 8m: recovers
  CHECK(h.Kinds().back() == "duration_over:recovery:warning");
  h.End("sync", RunStatus::kFailed, 6000, 3000);  // a failure is not in the average
  h.End("sync", RunStatus::kOk, 9000, 1000);      // (900 + 60 + 1000) / 3 = 10m53s
  CHECK(h.Kinds().back() == "duration_over:firing:warning");
  h.End("sync", RunStatus::kOk, 12000, 100);  // (60 + 1000 + 100) / 3 = 6m26s
  CHECK(h.Kinds().back() == "duration_over:recovery:warning");
  h.End("sync", RunStatus::kTimeout, 15000, 1800);  // a timed-out run is: (1000+100+1800)/3
  CHECK(h.Kinds().back() == "duration_over:firing:warning");
}

TEST_CASE("stale fires from the sweep, recovers with the next success", "[alert]") {
  Harness h(Config("alerts:\n" + kChannels +
                   "  rules: {stale: {severity: critical}}\n"
                   "jobs:\n"
                   "  - {name: backup, type: sleep, every: 1h, max_age: 2h, with: {duration: 1s}}\n"
                   "  - {name: other, type: sleep, every: 1h, with: {duration: 1s}}\n"));
  h.evaluator.Sweep(h.store, T(3600));  // never succeeded, but jobsd started 1h ago
  CHECK(h.Kinds().empty());
  h.evaluator.Sweep(h.store, T(7201));
  h.evaluator.Sweep(h.store, T(7300));
  CHECK(h.Kinds() == std::vector<std::string>{"stale:firing:critical"});
  CHECK(
      h.Alerts()[0].first.summary.starts_with("backup has not succeeded since jobsd started at "));
  h.End("backup", RunStatus::kOk, 7400);
  CHECK(h.Kinds().back() == "stale:recovery:critical");
  CHECK(h.Alerts().back().first.summary == "backup succeeded again");
}

TEST_CASE("reload_failed is daemon-wide; secrets never reach an alert", "[alert]") {
  Harness h(Config("alerts:\n" + kChannels +
                   "  rules:\n"
                   "    reload_failed: {severity: critical}\n"
                   "    consecutive_failures: {threshold: 1}\n"
                   "jobs:\n  - {name: sync, type: sleep, every: 1m, with: {duration: 1s}}\n"));
  h.evaluator.ReloadFailed(h.store, "jobsd.yaml:3:1: bad", T(10));
  h.evaluator.ReloadFailed(h.store, "jobsd.yaml:3:1: still bad", T(20));
  h.evaluator.ReloadSucceeded(h.store, T(30));
  CHECK(h.Kinds() == std::vector<std::string>{"reload_failed:firing:critical",
                                              "reload_failed:recovery:critical"});
  CHECK(h.Alerts()[0].first.job.empty());

  const std::string long_error =
      "login with hunter22 to https://hooks.example.com/T000/B000/"
      "s3cr3tpath refused " +
      std::string(2000, 'x');
  h.End("sync", RunStatus::kFailed, 60, 1, long_error);
  auto parsed = AlertFromJson(h.Alerts().back().first.body);
  REQUIRE(parsed);
  CHECK(parsed->last_error.starts_with("login with *** to *** refused xxx"));
  CHECK(parsed->last_error.size() <= 503);
  CHECK(parsed->last_error.find("hunter22") == std::string::npos);
}

TEST_CASE("no route sends to every channel; a job's own rules replace the global ones", "[alert]") {
  Harness h(Config(
      "alerts:\n"
      "  channels:\n"
      "    a: {type: webhook, url: 'https://a.example.com/hook'}\n"
      "    b: {type: webhook, url: 'https://b.example.com/hook'}\n"
      "  rules: {consecutive_failures: {threshold: 5}}\n"
      "jobs:\n"
      "  - {name: quick, type: sleep, every: 1m, alerts: {consecutive_failures: {threshold: 1}},"
      " with: {duration: 1s}}\n"
      "  - {name: slow, type: sleep, every: 1m, with: {duration: 1s}}\n"));
  h.End("quick", RunStatus::kFailed, 60);
  h.End("slow", RunStatus::kFailed, 60);
  REQUIRE(h.Alerts().size() == 1);
  CHECK(h.Alerts()[0].first.job == "quick");
  CHECK(h.Alerts()[0].second.size() == 2);
}

}  // namespace
}  // namespace alert

namespace alert {
namespace {

TEST_CASE("a job's streak follows its name across reloads that move or remove jobs", "[alert]") {
  const std::string head = "alerts:\n" + kChannels +
                           "  rules: {consecutive_failures: {threshold: 3, severity: critical}}\n"
                           "jobs:\n";
  const std::string a = "  - {name: a, type: sleep, every: 1m, with: {duration: 1s}}\n";
  const std::string b = "  - {name: b, type: sleep, every: 1m, with: {duration: 1s}}\n";
  Harness h(Config(head + a + b));
  h.End("a", RunStatus::kFailed, 60);
  h.End("b", RunStatus::kOk, 60);
  h.evaluator.SetConfig(Config(head + b + a));  // a moves to second place
  h.End("a", RunStatus::kFailed, 120);
  h.End("b", RunStatus::kFailed, 120);
  CHECK(h.Kinds().empty());
  h.evaluator.SetConfig(Config(head + b));  // a removed while a run was going: still counted
  h.End("a", RunStatus::kFailed, 180);
  h.evaluator.SetConfig(Config(head + a + b));
  h.End("b", RunStatus::kOk, 240);
  CHECK(h.Kinds().empty());
  h.End("a", RunStatus::kFailed, 240);  // the fourth in a row
  REQUIRE(h.Kinds() == std::vector<std::string>{"consecutive_failures:firing:critical"});
  CHECK(h.Alerts()[0].first.summary == "a failed 4 times in a row");
}

}  // namespace
}  // namespace alert
