// One rate limiter per upstream, shared by every job: when jobs ask for
// different limits the strictest stays in force, tightened in place.
#include <catch2/catch.hpp>
#include <chrono>

#include "http/client.h"
#include "http/rate_limiter.h"
#include "tests/fakes/loopback_server.h"

namespace {

using namespace std::chrono_literals;
using Clock = http::RateLimiter::Clock;

}  // namespace

TEST_CASE("rate limit: the strictest of two limits, window by window", "[http][rate_limit]") {
  struct Case {
    http::RateLimit a, b, want;
  };
  const Case cases[] = {
      {{60, 2000}, {60, 2000}, {60, 2000}},
      {{60, 2000}, {30, 0}, {30, 2000}},
      {{0, 0}, {60, 0}, {60, 0}},
      {{0, 100}, {10, 1000}, {10, 100}},
      {{0, 0}, {0, 0}, {0, 0}},
  };
  for (const Case& c : cases) {
    CHECK(http::Strictest(c.a, c.b) == c.want);
    CHECK(http::Strictest(c.b, c.a) == c.want);
  }
}

TEST_CASE("rate limit: Tighten keeps what was spent and never refills", "[http][rate_limit]") {
  const auto t0 = Clock::time_point{} + 1h;
  http::RateLimiter limiter({60, 0}, t0);
  for (int i = 0; i < 50; ++i) REQUIRE(limiter.TryAcquire(t0) == Clock::duration::zero());
  // 10 tokens left; a limit of 30/min caps them at 10, it does not hand out 30.
  limiter.Tighten({30, 0}, t0);
  CHECK(limiter.limit() == http::RateLimit{30, 0});
  for (int i = 0; i < 10; ++i) REQUIRE(limiter.TryAcquire(t0) == Clock::duration::zero());
  const auto wait = limiter.TryAcquire(t0);
  CHECK(wait > 1900ms);  // one token per 2 s now
  CHECK(wait < 2100ms);
  // A looser limit changes nothing.
  limiter.Tighten({120, 0}, t0);
  CHECK(limiter.limit() == http::RateLimit{30, 0});
  // A window that had no limit gets one.
  limiter.Tighten({0, 100}, t0 + 2s);
  CHECK(limiter.limit() == http::RateLimit{30, 100});
  CHECK(limiter.TryAcquire(t0 + 2s) == Clock::duration::zero());
}

TEST_CASE("rate limit: two jobs, two limits, one limiter at the strictest", "[http][rate_limit]") {
  fakes::LoopbackServer server;
  server.http().Get("/x", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok", "text/plain");
  });
  server.Start();
  http::Client client;

  SECTION("the first limit set stays until a stricter one comes") {
    // An hourly window refills slowly (one token per 36 s at 100/h), so an
    // empty bucket stays empty for the length of the test.
    auto first = client.SetRateLimit("api", {0, 100});
    CHECK(first.in_force == http::RateLimit{0, 100});
    CHECK_FALSE(first.first_disagreement);
    CHECK_FALSE(client.SetRateLimit("api", {0, 100}).first_disagreement);
    for (int i = 0; i < 100; ++i) {
      auto r = client.Send({"GET", server.base_url() + "/x", {}, "", "api"});
      REQUIRE(r);
      REQUIRE(r->rate_limit_waits == 0);
    }
    // Another job asks for a looser limit, then the first job runs again: a
    // limiter swapped back and forth would start with a fresh burst each time.
    auto looser = client.SetRateLimit("api", {0, 600});
    CHECK(looser.first_disagreement);
    CHECK(looser.in_force == http::RateLimit{0, 100});
    auto again = client.SetRateLimit("api", {0, 100});
    CHECK_FALSE(again.first_disagreement);  // said once
    CHECK(again.in_force == http::RateLimit{0, 100});
    http::CallOptions call;
    call.deadline =
        std::chrono::time_point_cast<core::Duration>(std::chrono::system_clock::now() + 1s);
    auto r = client.Send({"GET", server.base_url() + "/x", {}, "", "api"}, call);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("rate limit"));
  }
  SECTION("a stricter limit tightens the limiter in place") {
    // Hourly windows refill slowly (one token per 18 s at 200/h), so what
    // is left is exact.
    client.SetRateLimit("api", {0, 200});
    for (int i = 0; i < 195; ++i) {
      REQUIRE(client.Send({"GET", server.base_url() + "/x", {}, "", "api"}));
    }
    // 5 tokens left; 100/h keeps those 5 instead of granting a fresh 100.
    auto stricter = client.SetRateLimit("api", {0, 100});
    CHECK(stricter.first_disagreement);
    CHECK(stricter.in_force == http::RateLimit{0, 100});
    http::CallOptions call;
    call.deadline =
        std::chrono::time_point_cast<core::Duration>(std::chrono::system_clock::now() + 2s);
    int refused = 0;
    for (int i = 0; i < 7; ++i) {
      if (!client.Send({"GET", server.base_url() + "/x", {}, "", "api"}, call)) ++refused;
    }
    CHECK(refused == 2);
  }
  SECTION("no limit first, then a limit: the limit applies to both") {
    auto none = client.SetRateLimit("api", {0, 0});
    CHECK(none.in_force.unlimited());
    auto some = client.SetRateLimit("api", {0, 5});
    CHECK(some.first_disagreement);
    CHECK(some.in_force == http::RateLimit{0, 5});
    CHECK(client.SetRateLimit("api", {0, 0}).in_force == http::RateLimit{0, 5});
    int waits = 0;
    http::CallOptions call;
    call.deadline =
        std::chrono::time_point_cast<core::Duration>(std::chrono::system_clock::now() + 200ms);
    for (int i = 0; i < 6; ++i) {
      auto r = client.Send({"GET", server.base_url() + "/x", {}, "", "api"}, call);
      if (!r) {
        CHECK_THAT(r.error().message, Catch::Contains("rate limit"));
        ++waits;
        continue;
      }
    }
    CHECK(waits == 1);  // the 6th finds no token before its deadline
  }
}
