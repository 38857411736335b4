#include "jobs/sql_import/column_rule.h"

#include <catch2/catch.hpp>

#include <date/tz.h>

#include "config/config_loader.h"
#include "jobs/sql_import/import_window.h"
#include "jobs/sql_import/sql_import_config.h"
#include "json/json_fields.h"

namespace jobs::sql_import {
namespace {

config::LoadResult Load(const std::string& with) {
  config::LoadOptions options;
  options.job_types = {SqlImportJobSpec()};
  options.folder = "/srv/jobsd";
  options.env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "DATABASE_URL") return "postgres://u:secret@db/x";
    return std::nullopt;
  };
  return config::LoadConfigText(
      "jobs:\n  - name: sales-sync\n    type: sql_import\n    with:\n" + with, "cfg.yaml", options);
}

// One column read from `spec` (a flow mapping) by the config loader.
ColumnRule Rule(const std::string& spec) {
  const auto result = Load(
      "      source: {csv: a.csv}\n      target: {sqlite: x.db}\n      table: t\n"
      "      key: [k]\n      columns:\n        k: {type: integer, required: true}\n"
      "        c: " +
      spec + "\n");
  INFO(result.ErrorText());
  REQUIRE(result.ok());
  return result.config->jobs[0].Settings<SqlImportSettings>()->columns.at(1);
}

struct Outcome {
  bool ok = false;
  std::optional<std::string> value;
  std::string reason;
  std::string message;
};

Outcome Text(const ColumnRule& rule, std::string_view text, ConvertContext context = {}) {
  Outcome out;
  Violation why;
  out.ok = rule.Convert({SourceValue::Kind::kText, text, nullptr}, context, out.value, why);
  out.reason = why.reason;
  out.message = why.message;
  return out;
}

Outcome Json(const ColumnRule& rule, std::string_view json_text, ConvertContext context = {}) {
  auto doc = json::Parse(json_text);
  REQUIRE(doc);
  Outcome out;
  Violation why;
  out.ok = rule.Convert({SourceValue::Kind::kJson, {}, &*doc}, context, out.value, why);
  out.reason = why.reason;
  out.message = why.message;
  return out;
}

}  // namespace

TEST_CASE("decimal: exact parse, compare and print", "[sql_import]") {
  auto d = [](std::string_view t) {
    auto v = ParseDecimal(t);
    REQUIRE(v);
    return *v;
  };
  CHECK(d("19.99").ToString() == "19.99");
  CHECK(d("+007.50").ToString() == "7.50");
  CHECK(d("-0.00").ToString() == "0.00");
  CHECK(d(".5").ToString() == "0.5");
  CHECK(d("1.5e2").ToString() == "150");
  CHECK(d("5e-3").ToString() == "0.005");
  CHECK(d("12345678901234567890.123456789").ToString() == "12345678901234567890.123456789");
  CHECK(d("1.50").Compare(d("1.5")) == 0);
  CHECK(d("-1").Compare(d("0")) < 0);
  CHECK(d("-2").Compare(d("-10")) > 0);
  CHECK(d("0.1").Compare(d("0.09")) > 0);
  CHECK(d("100").Compare(d("99.999")) > 0);
  CHECK(d("0.005").Compare(d("0.05")) < 0);
  CHECK(d("0.30000000000000004").SignificantDigits() == 17);
  for (const char* bad : {"", "-", ".", "1.2.3", "1,5", "abc", "1e", "1e+", "0x10", "1 000"}) {
    INFO(bad);
    CHECK_FALSE(ParseDecimal(bad));
  }
}

TEST_CASE("column rules: integer", "[sql_import]") {
  const ColumnRule rule = Rule("{type: integer, min: 1, max: 1000, required: true}");
  CHECK(Text(rule, "42").value == "42");
  CHECK(Text(rule, "+42").value == "42");
  CHECK(Text(rule, "0").reason == "min");
  CHECK(Text(rule, "1001").reason == "max");
  CHECK(Text(rule, "1.5").reason == "type");
  CHECK(Text(rule, "abc").message == "c: expected an integer, got 'abc'");
  CHECK(Text(rule, "99999999999999999999").reason == "type");
  CHECK(Text(rule, "").reason == "required");
  CHECK(Json(rule, "7").value == "7");
  CHECK(Json(rule, "7.0").value == "7");
  CHECK(Json(rule, "\"8\"").value == "8");
  CHECK(Json(rule, "7.5").reason == "type");
  CHECK(Json(rule, "true").reason == "type");
  CHECK(Json(rule, "null").reason == "required");
}

TEST_CASE("column rules: decimal never goes through a double", "[sql_import]") {
  const ColumnRule rule = Rule("{type: decimal, min: 0, max: '99999999999999999999.99'}");
  CHECK(Text(rule, "19.99").value == "19.99");
  CHECK(Text(rule, "0.1").value == "0.1");
  CHECK(Text(rule, "-0.01").reason == "min");
  CHECK(Text(rule, "12345678901234567.89").value == "12345678901234567.89");
  CHECK(Text(rule, "12345678901234567.89", {nullptr, true}).reason == "precision");
  CHECK(Text(rule, "1,50").reason == "type");
  CHECK(Text(rule, "").ok);
  CHECK_FALSE(Text(rule, "").value);
  CHECK(Json(rule, "19.99").value == "19.99");
  CHECK(Json(rule, "0.1").value == "0.1");
  CHECK(Json(rule, "\"1234567890.123456789\"").value == "1234567890.123456789");
  CHECK(Json(rule, "1234567890.123456789").reason == "precision");

  ColumnRule money = Rule("{type: decimal}");
  money.numeric_limit = std::pair<int, int>(6, 2);
  CHECK(Text(money, "1234.56").ok);
  CHECK(Text(money, "1234.50").ok);
  CHECK(Text(money, "1234.560").ok);
  CHECK(Text(money, "1234.567").reason == "precision");
  CHECK(Text(money, "12345.6").reason == "precision");
  CHECK(Text(money, "0.01").ok);
}

TEST_CASE("column rules: text, max_length, pattern, in, encoding", "[sql_import]") {
  const ColumnRule text = Rule("{type: text, max_length: 5, pattern: '[a-zé]+'}");
  CHECK(Text(text, "abcde").value == "abcde");
  CHECK(Text(text, "été").value == "été");  // characters, not bytes
  CHECK(Text(text, "abcdef").reason == "max_length");
  CHECK(Text(text, "ab1").reason == "pattern");
  CHECK(Text(text, "\xff\xfe").reason == "encoding");
  const ColumnRule region = Rule("{type: text, in: [North America, Europe, Asia]}");
  CHECK(Text(region, "Europe").ok);
  CHECK(Text(region, "europe").reason == "in");
  CHECK(Text(region, "Mars").message == "c: 'Mars' is not one of Asia, Europe, North America");
  CHECK(Json(region, "\"Asia\"").ok);
  CHECK(Json(region, "{\"a\":1}").reason == "type");
  const ColumnRule plain = Rule("{type: text}");
  CHECK(Json(plain, "12").value == "12");
  // A value in a message is escaped: it is untrusted text.
  CHECK(Text(Rule("{type: integer}"), "\x1b[31mx").message ==
        "c: expected an integer, got '\\e[31mx'");
  const ColumnRule codes = Rule("{type: decimal, in: ['1.50', '2']}");
  CHECK(Text(codes, "1.50").ok);
  CHECK(Text(codes, "2").ok);
  CHECK(Text(codes, "3").reason == "in");
}

TEST_CASE("column rules: boolean, date, json", "[sql_import]") {
  const ColumnRule flag = Rule("{type: boolean}");
  for (const char* yes : {"true", "TRUE", "t", "yes", "Y", "1"})
    CHECK(Text(flag, yes).value == "true");
  for (const char* no : {"false", "f", "No", "n", "0"}) CHECK(Text(flag, no).value == "false");
  CHECK(Text(flag, "maybe").reason == "type");
  CHECK(Json(flag, "false").value == "false");
  CHECK(Json(flag, "1").value == "true");

  const ColumnRule day = Rule("{type: date, min: '2020-01-01'}");
  CHECK(Text(day, "2026-02-28").value == "2026-02-28");
  CHECK(Text(day, "2024-02-29").ok);
  CHECK(Text(day, "2026-02-29").reason == "type");
  CHECK(Text(day, "2026-13-01").reason == "type");
  CHECK(Text(day, "26-01-01").reason == "type");
  CHECK(Text(day, "2019-12-31").reason == "min");

  const ColumnRule doc = Rule("{type: json}");
  CHECK(Text(doc, "{\"a\": [1, 2]}").value == "{\"a\":[1,2]}");
  CHECK(Text(doc, "{not json").reason == "type");
  CHECK(Json(doc, "{\"a\": {\"b\": null}}").value == "{\"a\":{\"b\":null}}");
  CHECK(Json(doc, "\"text\"").value == "\"text\"");
}

TEST_CASE("column rules: timestamps with an offset or in the job's zone", "[sql_import]") {
  const date::time_zone* berlin = date::locate_zone("Europe/Berlin");
  const ColumnRule rule = Rule("{type: timestamp, min: '2020-01-01T00:00:00Z'}");
  CHECK(Text(rule, "2026-01-31T12:00:00Z").value == "2026-01-31T12:00:00.000000Z");
  CHECK(Text(rule, "2026-01-31T12:00:00+01:00").value == "2026-01-31T11:00:00.000000Z");
  CHECK(Text(rule, "2026-01-31 12:00:00.25-0230").value == "2026-01-31T14:30:00.250000Z");
  // Naive: the job's zone (UTC without one).
  CHECK(Text(rule, "2026-01-31 12:00").value == "2026-01-31T12:00:00.000000Z");
  CHECK(Text(rule, "2026-01-31 12:00", {berlin, false}).value == "2026-01-31T11:00:00.000000Z");
  CHECK(Text(rule, "2026-07-01T12:00:00", {berlin, false}).value == "2026-07-01T10:00:00.000000Z");
  // The hour the clocks skip does not exist; a repeated hour is its first.
  CHECK(Text(rule, "2026-03-29T02:30:00", {berlin, false}).reason == "type");
  CHECK(Text(rule, "2026-10-25T02:30:00", {berlin, false}).value == "2026-10-25T00:30:00.000000Z");
  CHECK(Text(rule, "2026-01-31T25:00:00").reason == "type");
  CHECK(Text(rule, "yesterday").reason == "type");
  CHECK(Text(rule, "2019-12-31T23:59:59Z").reason == "min");
}

TEST_CASE("windows: the day before the slot, DST days included", "[sql_import]") {
  const date::time_zone* berlin = date::locate_zone("Europe/Berlin");
  auto at = [](const char* text) { return *core::ParseRfc3339(text); };
  const auto day = std::chrono::duration_cast<core::Duration>(std::chrono::hours(24));
  auto w = WindowBefore(at("2026-06-10T00:00:00Z"), day, berlin);  // 02:00 in Berlin
  REQUIRE(w);
  CHECK(w->start_text == "2026-06-09T00:00:00+02:00");
  CHECK(w->end_text == "2026-06-10T00:00:00+02:00");
  CHECK(w->start_date == "2026-06-09");
  // The night the clocks go forward: a day of 23 hours.
  w = WindowBefore(at("2026-03-30T00:00:00Z"), day, berlin);
  REQUIRE(w);
  CHECK(w->start_text == "2026-03-29T00:00:00+01:00");
  CHECK(w->end_text == "2026-03-30T00:00:00+02:00");
  CHECK(w->end - w->start == std::chrono::hours(23));
  // And back: 25 hours.
  w = WindowBefore(at("2026-10-26T01:00:00Z"), day, berlin);
  REQUIRE(w);
  CHECK(w->end - w->start == std::chrono::hours(25));
  // Hourly windows, and UTC.
  w = WindowBefore(at("2026-06-10T13:07:00Z"), std::chrono::hours(1), nullptr);
  REQUIRE(w);
  CHECK(w->start_text == "2026-06-10T12:00:00Z");
  CHECK(w->end_text == "2026-06-10T13:00:00Z");
  // A backfill names both ends.
  w = WindowBetween("2026-01-01", "2026-02-01", berlin);
  REQUIRE(w);
  CHECK(w->start_text == "2026-01-01T00:00:00+01:00");
  CHECK(w->end_text == "2026-02-01T00:00:00+01:00");
  CHECK_FALSE(WindowBetween("2026-02-01", "2026-01-01", berlin));
  CHECK(FillWindow("from={window_start}&day={window_end_date}&x={other}", *w) ==
        "from=2026-01-01T00:00:00+01:00&day=2026-02-01&x={other}");
}

TEST_CASE("sql_import config: every key", "[sql_import][config]") {
  const auto result = Load(
      "      source:\n"
      "        http:\n"
      "          url: https://erp.example.com/api/sales\n"
      "          headers: {Authorization: 'Bearer k'}\n"
      "          params: {from: '{window_start}', to: '{window_end}'}\n"
      "          records: data.items\n"
      "          next: links.next\n"
      "      window: 1d\n"
      "      target: {postgres: '${DATABASE_URL}'}\n"
      "      table: analytics.sales\n"
      "      key: [sale_date, user_id]\n"
      "      columns:\n"
      "        sale_date: {type: date, from: date, required: true}\n"
      "        user_id: {type: integer, required: true}\n"
      "        amount: {type: decimal, min: 0}\n"
      "      checks: ['amount < 1000000']\n"
      "      min_rows: 1\n"
      "      on_invalid: fail\n"
      "      upsert: ignore\n"
      "      create: true\n"
      "      password: {column: password_hash, from: initial_password, memory: 64MiB, iterations: "
      "3}\n"
      "      keep_on_update: [password_hash]\n"
      "      dry_run: true\n");
  INFO(result.ErrorText());
  REQUIRE(result.ok());
  const auto* s = result.config->jobs[0].Settings<SqlImportSettings>();
  REQUIRE(s);
  REQUIRE(s->http);
  CHECK(s->http->records == "data.items");
  CHECK(s->http->params.size() == 2);
  CHECK(s->target == TargetKind::kPostgres);
  CHECK(s->postgres == "postgres://u:secret@db/x");
  REQUIRE(s->columns.size() == 4);
  CHECK(s->columns[0].from == "date");
  CHECK(s->columns[3].name == "password_hash");
  CHECK(s->columns[3].password);
  CHECK(s->password->cost.memory_kib == 65536);
  CHECK(s->password->cost.iterations == 3);
  CHECK(s->on_invalid == OnInvalid::kFail);
  CHECK(s->upsert == Upsert::kIgnore);
  CHECK(s->create);
  CHECK(s->dry_run);
}

TEST_CASE("sql_import config: mistakes are named", "[sql_import][config]") {
  auto error = [](const std::string& with) {
    const auto result = Load(with);
    REQUIRE_FALSE(result.ok());
    return result.ErrorText();
  };
  const std::string base =
      "      source: {csv: a.csv}\n      target: {sqlite: x.db}\n      table: t\n";
  CHECK_THAT(
      error(base + "      key: [id]\n      columns:\n        id: {type: integr, required: true}\n"),
      Catch::Contains("expected one of text, integer"));
  CHECK_THAT(
      error(base +
            "      key: [nope]\n      columns:\n        id: {type: integer, required: true}\n"),
      Catch::Contains("names 'nope', which is not under columns"));
  CHECK_THAT(error(base + "      key: [id]\n      columns:\n        id: {type: integer}\n"),
             Catch::Contains("must be required: true"));
  CHECK_THAT(
      error(base +
            "      key: [id]\n      columns:\n        id: {type: text, required: true, min: 3}\n"),
      Catch::Contains("applies to integer, decimal, date and timestamp"));
  CHECK_THAT(error(base + "      key: [id]\n      columns:\n        id: {type: text, required: "
                          "true, pattern: '(['}\n"),
             Catch::Contains("is not a regular expression"));
  CHECK_THAT(error(base + "      key: [id]\n      columns:\n        id: {type: integer, required: "
                          "true, in: [1, x]}\n"),
             Catch::Contains("'x' is not a integer value"));
  CHECK_THAT(error(base + "      key: [id]\n      window: 1d\n      columns:\n        id: {type: "
                          "integer, required: true}\n"),
             Catch::Contains("applies to http sources"));
  CHECK_THAT(error(base + "      key: [id]\n      checks: ['a; DROP TABLE t']\n      columns:\n    "
                          "    id: {type: integer, required: true}\n"),
             Catch::Contains("without ';'"));
  CHECK_THAT(
      error(
          "      source: {http: {url: 'https://x/{window_start}'}}\n      target: {sqlite: x.db}\n"
          "      table: t\n      key: [id]\n      columns:\n        id: {type: integer, required: "
          "true}\n"),
      Catch::Contains("window is needed"));
  CHECK_THAT(
      error("      source: {csv: a.csv, http: {url: 'https://x'}}\n      target: {sqlite: x.db}\n"
            "      table: t\n      key: [id]\n      columns:\n        id: {type: integer, "
            "required: true}\n"),
      Catch::Contains("expected one of csv"));
  CHECK_THAT(error(base + "      key: [id]\n      window_start: 2026-01-01\n      columns:\n       "
                          " id: {type: integer, required: true}\n"),
             Catch::Contains("window_end"));
  const std::string http =
      "      source: {http: {url: 'https://x/api', params: {from: '{window_start}'}}}\n"
      "      target: {sqlite: x.db}\n      table: t\n      key: [id]\n"
      "      columns:\n        id: {type: integer, required: true}\n";
  CHECK_THAT(error(http + "      window_start: yesterday\n      window_end: 2026-01-01\n"),
             Catch::Contains("window_start 'yesterday'"));
  CHECK_THAT(error(http + "      window_start: 2026-02-01\n      window_end: 2026-01-01\n"),
             Catch::Contains("is not after window_start"));
  CHECK_THAT(error(http + "      window: 0s\n"), Catch::Contains("longer than 0s"));
  CHECK_THAT(error(http + "      window: 1d\n      source_typo: 1\n"),
             Catch::Contains("unknown key 'source_typo'"));
  CHECK_THAT(error(base + "      key: [id]\n      password: {column: id, from: pw}\n      "
                          "columns:\n        id: {type: integer, required: true}\n"),
             Catch::Contains("is also under columns"));
  CHECK_THAT(
      error(
          base +
          "      key: [id]\n      columns:\n        id: {type: integer, required: true, mni: 1}\n"),
      Catch::Contains("did you mean 'min'"));
}

}  // namespace jobs::sql_import
