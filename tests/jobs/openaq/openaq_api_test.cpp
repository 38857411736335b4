#include "jobs/openaq/openaq_api.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <sstream>

namespace jobs::openaq {
namespace {

std::string Sample(const std::string& name) {
  std::ifstream in(std::string(JOBSD_SOURCE_DIR) + "/tests/testdata/openaq/" + name);
  REQUIRE(in);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("openaq api: times always carry a UTC offset", "[openaq]") {
  CHECK(ParseUtcSeconds("2024-11-03T11:00:00Z") == 1730631600);
  CHECK(ParseUtcSeconds("2024-11-03T12:00:00+01:00") == 1730631600);
  CHECK(ParseUtcSeconds("2024-11-03T01:00:00-08:00") == 1730624400);
  CHECK(ParseUtcSeconds("2024-11-03T11:00:00.250Z") == 1730631600);
  CHECK_FALSE(ParseUtcSeconds("2024-11-03T11:00:00"));  // local time: refused
  CHECK_FALSE(ParseUtcSeconds("2024-13-03T11:00:00Z"));
  CHECK_FALSE(ParseUtcSeconds("yesterday"));
  CHECK(FormatUtcSeconds(1730631600) == "2024-11-03T11:00:00Z");
  CHECK(FormatUtcSeconds(0) == "1970-01-01T00:00:00Z");
  const std::string target =
      MeasurementsTarget(300101, Resolution::kRaw, 1730588400, 1730631600, 5);
  CHECK(target ==
        "/v3/sensors/300101/measurements?datetime_from=2024-11-02T23:00:00Z&datetime_to=2024-11-"
        "03T11:00:00Z&limit=5&page=1");
  CHECK_THAT(MeasurementsTarget(1, Resolution::kHours, 0, 1, 1000),
             Catch::StartsWith("/v3/sensors/1/hours?"));
}

TEST_CASE("openaq api: the documented measurement pages", "[openaq]") {
  auto p1 = ParsePage(Sample("v3_sensors_300101_measurements_page1.json"));
  REQUIRE(p1);
  CHECK(p1->found_more);
  REQUIRE(p1->records.size() == 5);
  CHECK(p1->records[0].period_end == ParseUtcSeconds("2024-11-03T00:00:00Z"));
  CHECK(p1->records[0].period_start == ParseUtcSeconds("2024-11-02T23:00:00Z"));
  CHECK(p1->records[0].value == 12.3);
  CHECK(p1->records[0].parameter == "pm25");

  auto p2 = ParsePage(Sample("v3_sensors_300101_measurements_page2.json"));
  REQUIRE(p2);
  // Page 2 repeats page 1's last row.
  CHECK(p2->records.front().period_end == p1->records.back().period_end);
  ValidationContext vc;
  const ValueRange pm25{0, 1000};
  vc.range = &pm25;
  vc.now = *ParseUtcSeconds("2024-11-04T00:00:00Z");
  int out_of_range = 0;
  for (const RawRecord& r : p2->records) out_of_range += Validate(r, vc) == Reject::kOutOfRange;
  CHECK(out_of_range == 1);  // the -999

  auto p3 = ParsePage(Sample("v3_sensors_300101_measurements_page3.json"));
  REQUIRE(p3);
  CHECK_FALSE(p3->found_more);  // found is the number of rows on this short page
  CHECK(p3->records.size() == 3);
  auto p4 = ParsePage(Sample("v3_sensors_300101_measurements_page4.json"));
  REQUIRE(p4);
  CHECK(p4->records.empty());

  auto h1 = ParsePage(Sample("v3_sensors_300201_hours_page1.json"));
  REQUIRE(h1);
  REQUIRE(h1->records.size() == 3);
  CHECK(h1->records[2].has_value);
  CHECK_FALSE(h1->records[2].value);  // value: null
  CHECK(Validate(h1->records[2], vc) == Reject::kNotFinite);
  // Across the DST change the UTC ends stay one hour apart.
  CHECK(*h1->records[1].period_end - *h1->records[0].period_end == 3600);
  auto h2 = ParsePage(Sample("v3_sensors_300201_hours_page2.json"));
  REQUIRE(h2);
  CHECK(h2->found_more);  // full page, yet the last non-empty one
}

TEST_CASE("openaq api: locations, sensors and error bodies", "[openaq]") {
  auto location = ParseLocation(Sample("v3_locations_100201.json"));
  REQUIRE(location);
  CHECK(location->id == 100201);
  CHECK(location->timezone == "Europe/Berlin");
  REQUIRE(location->sensors.size() == 3);
  CHECK(location->sensors[0].id == 300101);
  CHECK(location->sensors[0].parameter == "pm25");
  auto sensors = ParseSensors(Sample("v3_locations_100201_sensors.json"));
  REQUIRE(sensors);
  REQUIRE_FALSE(sensors->empty());
  CHECK(sensors->front().datetime_first == ParseUtcSeconds("2019-04-01T01:00:00Z"));

  CHECK(ErrorDetail(Sample("v3_error_401.json")) == "Invalid credentials");
  CHECK(ErrorDetail(Sample("v3_error_404_location.json")) == "Location not found");
  CHECK_THAT(ErrorDetail(Sample("v3_error_422.json")),
             Catch::StartsWith("1 validation error for PagedDatetimeQueries limit"));
  CHECK(ErrorDetail("<html>") == "");
  CHECK_FALSE(ParsePage("{\"meta\":{}}"));
  CHECK_FALSE(ParsePage("not json"));
}

TEST_CASE("openaq api: a malformed location or sensor names the field", "[openaq]") {
  auto no_id = ParseLocation(R"({"results":[{"id":1,"sensors":[{"parameter":{"name":"pm25"}}]}]})");
  REQUIRE_FALSE(no_id);
  CHECK(no_id.error().message ==
        "unexpected answer from OpenAQ: results[0].sensors[0].id: missing");
  CHECK(no_id.error().retryable);

  auto bad_time = ParseSensors(
      R"({"results":[{"id":7,"parameter":{"name":"o3"},"datetimeFirst":{"utc":"yesterday"}}]})");
  REQUIRE_FALSE(bad_time);
  CHECK_THAT(bad_time.error().message, Catch::Contains("results[0].datetimeFirst"));

  auto no_sensors = ParseLocation(R"({"results":[{"id":1,"sensors":"none"}]})");
  REQUIRE_FALSE(no_sensors);
  CHECK_THAT(no_sensors.error().message, Catch::Contains("results[0].sensors: expected"));

  auto not_found = ParseLocation(R"({"results":[]})");
  REQUIRE_FALSE(not_found);
  CHECK(not_found.error().kind == core::ErrorKind::kNotFound);
  CHECK_FALSE(ParseLocation("{}"));
  CHECK(ErrorDetail(R"({"detail":")" + std::string(400, 'x') + "\"}").size() == 303);
}

TEST_CASE("openaq api: validation rules", "[openaq]") {
  const ValueRange range{0, 100};
  ValidationContext vc;
  vc.range = &range;
  vc.now = 1'000'000;
  vc.skew = 600;
  vc.datetime_first = 500'000;
  auto record = [](std::optional<std::int64_t> end, std::optional<double> value, bool has = true) {
    RawRecord r;
    r.period_end = end;
    r.value = value;
    r.has_value = has;
    return r;
  };
  CHECK(Validate(record(900'000, 5.0), vc) == Reject::kNone);
  CHECK(Validate(record(std::nullopt, 5.0), vc) == Reject::kMissingField);
  CHECK(Validate(record(900'000, std::nullopt, false), vc) == Reject::kMissingField);
  CHECK(Validate(record(900'000, std::nullopt), vc) == Reject::kNotFinite);
  CHECK(Validate(record(900'000, std::nan("")), vc) == Reject::kNotFinite);
  CHECK(Validate(record(900'000, INFINITY), vc) == Reject::kNotFinite);
  CHECK(Validate(record(900'000, 100.5), vc) == Reject::kOutOfRange);
  CHECK(Validate(record(900'000, -999.0), vc) == Reject::kOutOfRange);
  CHECK(Validate(record(1'000'500, 5.0), vc) == Reject::kNone);  // within the skew
  CHECK(Validate(record(1'000'700, 5.0), vc) == Reject::kFuture);
  CHECK(Validate(record(400'000, 5.0), vc) == Reject::kBeforeFirst);
  vc.range = nullptr;
  CHECK(Validate(record(900'000, 1e9), vc) == Reject::kNone);
  CHECK(ReasonName(Reject::kOutOfRange) == "out_of_range");
}

}  // namespace jobs::openaq

namespace jobs::openaq {

TEST_CASE("openaq api: odd shapes in a page never crash the reader", "[openaq]") {
  auto odd = ParsePage(
      R"({"meta":{"found":">2"},"results":[{"value":"7","period":{"datetimeTo":{"utc":"2024-01-01T01:00:00Z"}}},)"
      R"([{"period":{"datetimeTo":{"utc":"x"}}}],{"value":{"a":1}},{"value":3,"period":[1,{"utc":"y"}]},)"
      R"({"value":null,"parameter":{"name":"pm25"}},5]})");
  REQUIRE(odd);
  CHECK(odd->found_more);
  REQUIRE(odd->records.size() == 4);
  CHECK_FALSE(odd->records[0].has_value);
  CHECK(odd->records[0].period_end == ParseUtcSeconds("2024-01-01T01:00:00Z"));
  CHECK_FALSE(odd->records[1].has_value);
  CHECK(odd->records[2].value == 3.0);
  CHECK_FALSE(odd->records[2].period_end);
  CHECK(odd->records[3].has_value);
  CHECK_FALSE(odd->records[3].value);
  CHECK(odd->records[3].parameter == "pm25");
  CHECK_FALSE(ParsePage("[1,2]"));
  CHECK_FALSE(ParsePage(R"({"results":[{"value":1})"));
}

}  // namespace jobs::openaq
