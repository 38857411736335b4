// The wording Slack and email share: titles per kind and severity, the
// facts, the plain-text body.
#include "alert/alert_text.h"

#include <catch2/catch.hpp>

namespace {

alert::Alert Failing() {
  alert::Alert a;
  a.kind = alert::AlertKind::kFiring;
  a.rule = "consecutive_failures";
  a.severity = config::Severity::kWarning;
  a.job = "openaq";
  a.summary = "openaq failed 3 times in a row";
  a.consecutive_failures = 3;
  a.host = "box1";
  return a;
}

}  // namespace

TEST_CASE("alert text: titles per kind and severity", "[alert][text]") {
  struct Row {
    alert::AlertKind kind;
    config::Severity severity;
    std::string title;
  };
  const std::vector<Row> rows = {
      {alert::AlertKind::kFiring, config::Severity::kWarning,
       "WARNING openaq: failed 3 times in a row"},
      {alert::AlertKind::kFiring, config::Severity::kCritical,
       "CRITICAL openaq: failed 3 times in a row"},
      {alert::AlertKind::kFiring, config::Severity::kInfo, "INFO openaq: failed 3 times in a row"},
      {alert::AlertKind::kRepeat, config::Severity::kCritical,
       "CRITICAL (repeat) openaq: failed 3 times in a row"},
      {alert::AlertKind::kEscalation, config::Severity::kCritical,
       "CRITICAL (escalated) openaq: failed 3 times in a row"},
      {alert::AlertKind::kRecovery, config::Severity::kCritical,
       "RECOVERED openaq: failed 3 times in a row"},
      {alert::AlertKind::kTest, config::Severity::kInfo, "TEST openaq: failed 3 times in a row"},
  };
  for (const Row& row : rows) {
    alert::Alert a = Failing();
    a.kind = row.kind;
    a.severity = row.severity;
    CHECK(alert::Title(a) == row.title);
  }
}

TEST_CASE("alert text: the subject and summary of a title", "[alert][text]") {
  alert::Alert a = Failing();
  a.summary = "openaq: took 75s";
  CHECK(alert::Title(a) == "WARNING openaq: took 75s");
  a.summary = "openaqx took 75s";  // another word that starts with the job's name
  CHECK(alert::Title(a) == "WARNING openaq: openaqx took 75s");
  a.summary = "";
  CHECK(alert::Title(a) == "WARNING openaq: consecutive_failures");
  a.summary = "two\nlines\r\tand a tab";
  CHECK(alert::Title(a) == "WARNING openaq: two lines  and a tab");

  alert::Alert daemon;
  daemon.kind = alert::AlertKind::kFiring;
  daemon.rule = "reload_failed";
  daemon.severity = config::Severity::kCritical;
  daemon.summary = "config reload failed: jobs.x.every: expected a duration";
  CHECK(alert::Subject(daemon) == "jobsd");
  CHECK(alert::Title(daemon) ==
        "CRITICAL jobsd: config reload failed: jobs.x.every: expected a duration");
}

TEST_CASE("alert text: facts and the plain-text body", "[alert][text]") {
  alert::Alert a = Failing();
  a.rule = "duration_over";
  a.value = 75.5;
  a.threshold = 60;
  a.consecutive_failures = 1;
  a.last_error = "line one\r\nline two";
  const auto facts = alert::Facts(a);
  REQUIRE(facts.size() == 6);
  CHECK(facts[0] == std::pair<std::string, std::string>{"Job", "openaq"});
  CHECK(facts[1] == std::pair<std::string, std::string>{"Host", "box1"});
  CHECK(facts[2] == std::pair<std::string, std::string>{"Severity", "warning"});
  CHECK(facts[3] == std::pair<std::string, std::string>{"Rule", "duration_over"});
  CHECK(facts[4] == std::pair<std::string, std::string>{"Streak", "1 failure"});
  CHECK(facts[5] == std::pair<std::string, std::string>{"Measured", "75.5s (threshold 60s)"});

  const std::string body = alert::PlainTextBody(a, "d-9");
  CHECK(body.starts_with("WARNING openaq: failed 3 times in a row\n\nJob:      openaq\n"));
  CHECK(body.find("Measured: 75.5s (threshold 60s)\n") != std::string::npos);
  CHECK(body.find("\nLast error:\n    line one\n    line two\n") != std::string::npos);
  CHECK(body.find("Runs:") == std::string::npos);
  CHECK(body.ends_with("\n-- \njobsd on box1, delivery d-9\n"));

  a.rule = "quality_below";
  a.value = 0.85;
  a.threshold = 0.9;
  CHECK(alert::Facts(a)[5].second == "0.85 (threshold 0.9)");
}

TEST_CASE("texts are cut on a UTF-8 character boundary", "[alert]") {
  CHECK(alert::CutUtf8("short", 10) == "short");
  CHECK(alert::CutUtf8("exactly10!", 10) == "exactly10!");
  CHECK(alert::CutUtf8("0123456789abc", 10) == "0123456789...");
  // "é" is two bytes: a cut in its middle backs up to before it.
  CHECK(alert::CutUtf8("abcdefghié!", 10) == "abcdefghi...");
  CHECK(alert::CutUtf8("abcdefghié!", 11, "\u2026") == "abcdefghi\u00e9\u2026");
}
