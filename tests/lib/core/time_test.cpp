#include "core/time.h"

#include <catch2/catch.hpp>

using namespace std::chrono_literals;

TEST_CASE("durations parse with units", "[core]") {
  struct Case {
    const char* text;
    core::Duration expected;
  };
  const Case cases[] = {
      {"500ms", 500ms}, {"30s", 30s},   {"5m", 5min},     {"2h", 2h}, {"1d", 24h},  {"1w", 168h},
      {"1h30m", 90min}, {"1d12h", 36h}, {"250us", 250us}, {"0s", 0s}, {"90s", 90s},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    const auto d = core::ParseDuration(c.text);
    REQUIRE(d);
    CHECK(*d == c.expected);
  }
}

TEST_CASE("bad durations say what is wrong", "[core]") {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {"", "empty duration"},
      {"30", "bad duration '30': a number needs a unit (us ms s m h d w)"},
      {"abc", "bad duration 'abc': expected a number with a unit"},
      {"-5s", "expected a number with a unit"},
      {"5 s", "a number needs a unit"},
      {"5x", "a number needs a unit"},
      {"99999999999999999999h", "expected a number with a unit"},
      {"9999999999999w", "too large"},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    const auto d = core::ParseDuration(c.text);
    REQUIRE_FALSE(d);
    CHECK_THAT(d.error().message, Catch::Contains(c.message));
  }
}

TEST_CASE("durations format back to their shortest form", "[core]") {
  CHECK(core::FormatDuration(90min) == "1h30m");
  CHECK(core::FormatDuration(0s) == "0s");
  CHECK(core::FormatDuration(1500ms) == "1s500ms");
  CHECK(core::FormatDuration(36h) == "1d12h");
  CHECK(*core::ParseDuration(core::FormatDuration(93784005006us)) == 93784005006us);
}

TEST_CASE("RFC 3339 round trip and offsets", "[core]") {
  const auto t = core::ParseRfc3339("2026-11-22T18:51:23.123456Z");
  REQUIRE(t);
  CHECK(core::FormatRfc3339(*t) == "2026-11-22T18:51:23.123456Z");
  CHECK(core::FormatRfc3339(*core::ParseRfc3339("2026-11-22T19:51:23+01:00")) ==
        "2026-11-22T18:51:23.000000Z");
  CHECK(core::FormatRfc3339(*core::ParseRfc3339("2026-11-22 13:21:23.5-05:30")) ==
        "2026-11-22T18:51:23.500000Z");
  CHECK(core::FormatRfc3339(*core::ParseRfc3339("2026-11-22")) == "2026-11-22T00:00:00.000000Z");
  for (const char* bad : {"", "2026-11-22T18:51:23", "2026-13-01T00:00:00Z", "2026-02-30",
                          "2026-11-22T25:00:00Z", "yesterday", "2026-11-22T18:51:23+1:00",
                          "2026-11-22T18:51:23Zjunk", "2026-11-22T18:51:23.Z"}) {
    INFO(bad);
    CHECK_FALSE(core::ParseRfc3339(bad));
  }
}
