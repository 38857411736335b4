// Athena's documented answers (tests/testdata/athena), its CSV results, and
// the life of a query against the fake Athena (tests/fakes/fake_athena.py,
// which checks every signature with botocore): the tests tagged [.athena_fake]
// need it and run through tests/support/with_services.py.
#include "aws/athena.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <thread>

#include <boost/json.hpp>

namespace aws {
namespace {

using namespace std::chrono_literals;

std::string Testdata(const std::string& name) {
  std::ifstream in(std::string(JOBSD_SOURCE_DIR) + "/tests/testdata/athena/" + name);
  REQUIRE(in);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::filesystem::path WriteFile(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("jobsd-athena-" + std::to_string(::getpid()) + "-" + name);
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

std::vector<ResultRow> ReadAll(QueryResultRows& rows) {
  std::vector<ResultRow> out;
  ResultRow row;
  for (;;) {
    auto more = rows.Next(row);
    INFO((more ? "" : more.error().message));
    REQUIRE(more);
    if (!*more) return out;
    out.push_back(row);
  }
}

std::optional<std::string> S(const char* s) { return std::string(s); }
const std::optional<std::string> kNull;

}  // namespace

TEST_CASE("athena: GetQueryExecution answers as documented", "[athena]") {
  auto queued = ParseQueryExecution(Testdata("get_query_execution.queued.json"));
  REQUIRE(queued);
  CHECK(queued->state == QueryState::kQueued);
  auto running = ParseQueryExecution(Testdata("get_query_execution.running.json"));
  REQUIRE(running);
  CHECK(running->state == QueryState::kRunning);

  auto done = ParseQueryExecution(Testdata("get_query_execution.succeeded.json"));
  REQUIRE(done);
  CHECK(done->state == QueryState::kSucceeded);
  CHECK(done->id == "a3b1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d");
  CHECK(done->output_location ==
        "s3://acme-athena-results/aq-scheduler/a3b1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d.csv");
  CHECK(done->data_scanned_bytes == 18874368);
  CHECK(done->engine_execution_ms == 4102);
  CHECK(done->total_execution_ms == 4761);

  auto failed = ParseQueryExecution(Testdata("get_query_execution.failed.json"));
  REQUIRE(failed);
  CHECK(failed->state == QueryState::kFailed);
  CHECK_FALSE(failed->retryable);
  CHECK(failed->state_change_reason.rfind("COLUMN_NOT_FOUND: line 1:46", 0) == 0);

  auto cancelled = ParseQueryExecution(Testdata("get_query_execution.cancelled.json"));
  REQUIRE(cancelled);
  CHECK(cancelled->state == QueryState::kCancelled);

  auto unknown = ParseQueryExecution(R"({"QueryExecution": {"QueryExecutionId": "x",
                                        "Status": {"State": "EXPLODED"}}})");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().message.find("EXPLODED") != std::string::npos);
  CHECK_FALSE(ParseQueryExecution(R"({"QueryExecution": {"Status": {}}})"));
  CHECK_FALSE(ParseQueryExecution("{\"QueryExecution\": {"));  // truncated
}

TEST_CASE("athena: GetQueryResults pages, the header only on the first", "[athena]") {
  auto page1 = ParseQueryResults(Testdata("get_query_results.page1.json"), true);
  INFO((page1 ? "" : page1.error().message));
  REQUIRE(page1);
  REQUIRE(page1->columns.size() == 7);
  CHECK(page1->columns[0].name == "location_id");
  CHECK(page1->columns[0].type == "integer");
  CHECK(page1->columns[4].type == "double");
  CHECK(page1->columns[3].type == "date");
  REQUIRE(page1->rows.size() == 3);  // the header row is not data
  CHECK(page1->rows[0] == ResultRow{S("100201"), S("300101"), S("pm25"), S("2024-11-01"), S("9.87"),
                                    S("24"), S("ok")});
  CHECK(page1->rows[1][6] == S(""));  // {"VarCharValue": ""} is the empty string
  REQUIRE(page1->next_token);

  auto page2 = ParseQueryResults(Testdata("get_query_results.page2.json"), false);
  REQUIRE(page2);
  CHECK_FALSE(page2->next_token);
  REQUIRE_FALSE(page2->rows.empty());
  bool saw_null = false;
  for (const auto& row : page2->rows) {
    for (const auto& value : row) saw_null = saw_null || !value;  // {} is NULL
  }
  CHECK(saw_null);
  // The same first row read as a later page is data, not a header.
  auto as_later = ParseQueryResults(Testdata("get_query_results.page1.json"), false);
  REQUIRE(as_later);
  CHECK(as_later->rows.size() == 4);
  CHECK(as_later->rows[0][0] == S("location_id"));

  // A result of no rows: only the header, which is no row.
  auto empty = ParseQueryResults(R"({"ResultSet": {"Rows": [{"Data": [{"VarCharValue": "a"}]}],
      "ResultSetMetadata": {"ColumnInfo": [{"Name": "a", "Type": "varchar"}]}}})",
                                 true);
  REQUIRE(empty);
  CHECK(empty->rows.empty());
  auto ragged = ParseQueryResults(R"({"ResultSet": {"Rows": [{"Data": []}, {"Data": [{}, {}]}],
      "ResultSetMetadata": {"ColumnInfo": [{"Name": "a", "Type": "varchar"}]}}})",
                                  true);
  REQUIRE_FALSE(ragged);
  CHECK(ragged.error().message.find("2 values for 1 columns") != std::string::npos);
}

TEST_CASE("athena: the CSV result as Athena writes it to S3", "[athena]") {
  const std::vector<ResultColumn> columns = {{"location_id", "integer"}, {"sensor_id", "bigint"},
                                             {"parameter", "varchar"},   {"day", "date"},
                                             {"avg_value", "double"},    {"n_hours", "integer"},
                                             {"note", "varchar"}};
  const auto file = WriteFile("doc.csv", Testdata("s3/a3b1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d.csv"));
  auto reader = CsvResultRows(file, columns);
  const auto rows = ReadAll(*reader);
  REQUIRE(rows.size() == 5);
  CHECK(rows[0] == ResultRow{S("100201"), S("300101"), S("pm25"), S("2024-11-01"), S("9.87"),
                             S("24"), S("ok")});
  CHECK(rows[1][6] == S(""));  // "" is the empty string
  CHECK(rows[3][6] == kNull);  // an empty unquoted field is NULL
  CHECK(rows[4][4] == kNull);
  CHECK(rows[4][5] == S("0"));
  CHECK(reader->bytes_read() == std::filesystem::file_size(file));
  std::filesystem::remove(file);
}

TEST_CASE("athena: CSV quoting, line breaks, empty results and damage", "[athena]") {
  const std::vector<ResultColumn> ab = {{"a", "varchar"}, {"b", "varchar"}};
  SECTION("quotes, commas and line breaks inside values; a row equal to the header") {
    const auto file = WriteFile(
        "q.csv",
        "\"a\",\"b\"\n\"say \"\"hi\"\"\",\"x,y\"\n\"line\nbreak\",\"\"\n\"a\",\"b\"\n,\"\"\n");
    auto reader = CsvResultRows(file, ab);
    const auto rows = ReadAll(*reader);
    REQUIRE(rows.size() == 4);
    CHECK(rows[0] == ResultRow{S("say \"hi\""), S("x,y")});
    CHECK(rows[1] == ResultRow{S("line\nbreak"), S("")});
    CHECK(rows[2] == ResultRow{S("a"), S("b")});  // data, though it looks like the header
    CHECK(rows[3] == ResultRow{kNull, S("")});
    std::filesystem::remove(file);
  }
  SECTION("no rows: only the header, or an empty file") {
    for (const std::string text : {"\"a\",\"b\"\n", ""}) {
      const auto file = WriteFile("e.csv", text);
      auto reader = CsvResultRows(file, ab);
      CHECK(ReadAll(*reader).empty());
      std::filesystem::remove(file);
    }
  }
  SECTION("CRLF line ends and a last line without one") {
    const auto file = WriteFile("crlf.csv", "\"a\",\"b\"\r\n\"1\",\"2\"\r\n\"3\",");
    auto reader = CsvResultRows(file, ab);
    const auto rows = ReadAll(*reader);
    REQUIRE(rows.size() == 2);
    CHECK(rows[1] == ResultRow{S("3"), kNull});
    std::filesystem::remove(file);
  }
  SECTION("damage is an error naming the line") {
    struct Case {
      std::string text;
      std::string says;
    };
    for (const Case& c :
         {Case{"\"a\",\"b\"\n\"1\",\"2\"\n\"3\"\n", "line 3: 1 fields, expected 2"},
          Case{"\"a\",\"b\"\n\"1\",\"unterminated\n", "line 2: a quoted field opened here is never closed"},
          Case{"\"a\",\"b\"\n\"1\"x,\"2\"\n", "line 2: text after a closing quote"},
          Case{"\"b\",\"a\"\n", "line 1: the header"}}) {
      const auto file = WriteFile("bad.csv", c.text);
      auto reader = CsvResultRows(file, ab);
      ResultRow row;
      core::Result<bool> more = true;
      while (more && *more) more = reader->Next(row);
      REQUIRE_FALSE(more);
      CHECK(more.error().message.find(c.says) != std::string::npos);
      CHECK(more.error().message.find("bad.csv") != std::string::npos);
      std::filesystem::remove(file);
    }
  }
}

TEST_CASE("athena: a query's token is stable and tied to the query", "[athena]") {
  const auto token = QueryToken("forecast-sync/run 7", "SELECT 1");
  CHECK(token.size() == 64);  // within Athena's 32..128
  CHECK(token == QueryToken("forecast-sync/run 7", "SELECT 1"));
  CHECK(token != QueryToken("forecast-sync/run 8", "SELECT 1"));
  CHECK(token != QueryToken("forecast-sync/run 7", "SELECT 2"));
}

// --- against the fake Athena ----------------------------------------------

namespace {

struct FakeAthena {
  std::string endpoint;
  http::Client http;

  FakeAthena() {
    const char* url = std::getenv("JOBSD_TEST_ATHENA_ENDPOINT");
    INFO("run these through tests/support/with_services.py, which starts the fake Athena");
    REQUIRE(url != nullptr);
    endpoint = url;
  }

  // The stack's credentials (s3rver knows only these).
  AthenaOptions Options(std::string secret = "S3RVER") const {
    AthenaOptions options;
    options.region = "us-east-2";
    options.endpoint = endpoint;
    options.credentials = {"S3RVER", std::move(secret), ""};
    options.throttle_base_backoff = 5ms;
    options.throttle_max_backoff = 50ms;
    return options;
  }

  void Scenario(const std::string& json) {
    http::ClientRequest request;
    request.method = "POST";
    request.url = endpoint + "/_fake/scenario";
    request.body = json;
    auto answer = http.Send(std::move(request));
    REQUIRE(answer);
    REQUIRE(answer->status == 200);
  }

  boost::json::object Stats() {
    http::ClientRequest request;
    request.url = endpoint + "/_fake/stats";
    auto answer = http.Send(std::move(request));
    REQUIRE(answer);
    return boost::json::parse(answer->body).as_object();
  }

  static std::int64_t Calls(const boost::json::object& stats, const char* op) {
    const auto& calls = stats.at("calls").as_object();
    return calls.contains(op) ? calls.at(op).as_int64() : 0;
  }
};

QueryRequest Query(std::string text, std::string token) {
  QueryRequest request;
  request.query = std::move(text);
  request.database = "forecasts";
  request.workgroup = "primary";
  request.output_location = "s3://athena-results/jobsd/";
  request.client_request_token = std::move(token);
  return request;
}

http::CallOptions Within(std::chrono::seconds seconds) {
  http::CallOptions call;
  call.deadline =
      std::chrono::time_point_cast<core::Duration>(std::chrono::system_clock::now()) + seconds;
  return call;
}

const AthenaClient::PollOptions kQuickPolls{5ms, 20ms, 2};

std::string Unique(const char* what) {
  return QueryToken(what,
                    std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
}

}  // namespace

TEST_CASE("athena fake: a query through QUEUED, RUNNING, QUEUED again, to its rows",
          "[.athena_fake]") {
  FakeAthena fake;
  fake.Scenario(R"({"states": ["QUEUED", "RUNNING", "QUEUED", "RUNNING"]})");
  AthenaClient client(fake.http, fake.Options());
  auto done = client.RunQuery(Query("SELECT * FROM forecast_data", Unique("states")), kQuickPolls,
                              Within(30s));
  INFO((done ? "" : done.error().message));
  REQUIRE(done);
  CHECK(done->state == QueryState::kSucceeded);
  CHECK(client.polls() == 5);
  CHECK(done->output_location.find(done->id + ".csv") != std::string::npos);
  CHECK(done->data_scanned_bytes > 0);

  // The rows through GetQueryResults pages: the header only once.
  auto first = client.GetQueryResults(done->id, std::nullopt, 1000, true, Within(30s));
  REQUIRE(first);
  const auto columns = first->columns;
  auto rows = PagedResultRows(client, done->id, std::move(*first), Within(30s));
  const auto all = ReadAll(*rows);
  CHECK_FALSE(all.empty());
  for (const auto& row : all) {
    REQUIRE(row.size() == columns.size());
    CHECK(row[0] != std::optional<std::string>(columns[0].name));
  }
  CHECK(fake.Stats().at("bad_signatures").as_int64() == 0);
}

TEST_CASE("athena fake: throttling of both shapes and 500s are waited out", "[.athena_fake]") {
  FakeAthena fake;
  fake.Scenario(R"({"throttle": {"StartQueryExecution": 2, "GetQueryExecution": 3},
                    "internal_errors": {"GetQueryExecution": 1}})");
  AthenaClient client(fake.http, fake.Options());
  auto done = client.RunQuery(Query("SELECT * FROM forecast_data", Unique("throttle")), kQuickPolls,
                              Within(30s));
  INFO((done ? "" : done.error().message));
  REQUIRE(done);
  CHECK(client.throttled() == 5);
  const auto stats = fake.Stats();
  CHECK(stats.at("executions").as_int64() >= 1);
}

TEST_CASE("athena fake: endless throttling fails retryable once the retries are spent",
          "[.athena_fake]") {
  FakeAthena fake;
  fake.Scenario(R"({"throttle": {"StartQueryExecution": 100}})");
  auto options = fake.Options();
  options.max_throttle_retries = 3;
  AthenaClient client(fake.http, options);
  auto done = client.RunQuery(Query("SELECT * FROM forecast_data", Unique("endless")), kQuickPolls,
                              Within(30s));
  REQUIRE_FALSE(done);
  CHECK(done.error().retryable);
  CHECK(done.error().message.find("StartQueryExecution") != std::string::npos);
  CHECK((done.error().message.find("ThrottlingException") != std::string::npos ||
         done.error().message.find("TooManyRequestsException") != std::string::npos));
}

TEST_CASE("athena fake: a retryable FAILED is resubmitted, a final one is not", "[.athena_fake]") {
  FakeAthena fake;
  const auto before = fake.Stats().at("executions").as_int64();
  fake.Scenario(R"({"fail_retryable": 100000})");  // every submission of this test fails
  {
    AthenaClient client(fake.http, fake.Options());
    auto done = client.RunQuery(Query("SELECT * FROM forecast_data", Unique("resubmit")),
                                kQuickPolls, Within(30s));
    REQUIRE_FALSE(done);
    CHECK(done.error().retryable);  // resubmits spent; the run's retries may try later
    CHECK(done.error().message.find("GENERIC_INTERNAL_ERROR") != std::string::npos);
    CHECK(client.submissions() == 3);  // the first and two resubmits
    const auto stats = fake.Stats();
    CHECK(stats.at("executions").as_int64() - before == 3);
    // Each resubmission carried a token of its own.
    const auto& tokens = stats.at("tokens").as_array();
    REQUIRE(tokens.size() >= 3);
    CHECK(tokens[tokens.size() - 1] != tokens[tokens.size() - 2]);
  }
  fake.Scenario(R"({"fail_final": "HIVE_BAD_DATA: Error parsing field value"})");
  AthenaClient client(fake.http, fake.Options());
  auto done = client.RunQuery(Query("SELECT * FROM forecast_data", Unique("final")), kQuickPolls,
                              Within(30s));
  REQUIRE_FALSE(done);
  CHECK_FALSE(done.error().retryable);
  CHECK(done.error().message.find("HIVE_BAD_DATA: Error parsing field value") != std::string::npos);
  CHECK(client.submissions() == 1);

  fake.Scenario("{}");
  auto unknown = client.RunQuery(Query("SELECT nope FROM forecast_data", Unique("column")),
                                 kQuickPolls, Within(30s));
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().message.find("COLUMN_NOT_FOUND") != std::string::npos);
  CHECK_FALSE(unknown.error().retryable);
}

TEST_CASE("athena fake: CANCELLED fails the run", "[.athena_fake]") {
  FakeAthena fake;
  fake.Scenario(R"({"cancel": true})");
  AthenaClient client(fake.http, fake.Options());
  auto done = client.RunQuery(Query("SELECT * FROM forecast_data", Unique("cancelled")),
                              kQuickPolls, Within(30s));
  REQUIRE_FALSE(done);
  CHECK(done.error().message.find("was cancelled") != std::string::npos);
}

TEST_CASE("athena fake: a lost answer to StartQueryExecution starts no second query",
          "[.athena_fake]") {
  FakeAthena fake;
  fake.Scenario(R"({"lose_answers": {"StartQueryExecution": 1}})");
  const auto before = fake.Stats();
  AthenaClient client(fake.http, fake.Options());
  auto done = client.RunQuery(Query("SELECT * FROM forecast_data", Unique("lost")), kQuickPolls,
                              Within(30s));
  INFO((done ? "" : done.error().message));
  REQUIRE(done);
  const auto after = fake.Stats();
  // The HTTP client sent the start twice (the first answer never came) ...
  CHECK(FakeAthena::Calls(after, "StartQueryExecution") -
            FakeAthena::Calls(before, "StartQueryExecution") ==
        2);
  // ... with the same token, so Athena made one query.
  CHECK(after.at("executions").as_int64() - before.at("executions").as_int64() == 1);
}

TEST_CASE("athena fake: a cancelled or timed-out run stops its query", "[.athena_fake]") {
  FakeAthena fake;
  fake.Scenario(R"({"states": ["QUEUED", "RUNNING"], "running_seconds": 60})");
  AthenaClient client(fake.http, fake.Options());
  std::atomic<bool> cancel{false};
  http::CallOptions call = Within(30s);
  call.cancelled = [&] { return cancel.load(); };
  std::thread canceller([&] {
    std::this_thread::sleep_for(300ms);
    cancel = true;
  });
  const auto start = std::chrono::steady_clock::now();
  auto done =
      client.RunQuery(Query("SELECT * FROM forecast_data", Unique("cancel")), {5ms, 20ms, 2}, call);
  canceller.join();
  REQUIRE_FALSE(done);
  CHECK(done.error().kind == core::ErrorKind::kCancelled);
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  CHECK(done.error().message.find("stopped") != std::string::npos);
  auto stopped = fake.Stats().at("stopped").as_array();
  REQUIRE_FALSE(stopped.empty());

  auto timed_out = client.RunQuery(Query("SELECT * FROM forecast_data", Unique("timeout")),
                                   {5ms, 20ms, 2}, Within(1s));
  REQUIRE_FALSE(timed_out);
  CHECK(timed_out.error().kind == core::ErrorKind::kTimeout);
  CHECK(fake.Stats().at("stopped").as_array().size() == stopped.size() + 1);
  fake.Scenario("{}");
}

TEST_CASE("athena fake: a wrong secret is refused, and said clearly", "[.athena_fake]") {
  FakeAthena fake;
  fake.Scenario("{}");
  AthenaClient client(fake.http, fake.Options("not-the-secret"));
  auto done = client.RunQuery(Query("SELECT * FROM forecast_data", Unique("secret")), kQuickPolls,
                              Within(30s));
  REQUIRE_FALSE(done);
  CHECK_FALSE(done.error().retryable);
  CHECK(done.error().message.find("403 InvalidSignatureException") != std::string::npos);
  CHECK(done.error().message.find("not-the-secret") == std::string::npos);
}

}  // namespace aws
