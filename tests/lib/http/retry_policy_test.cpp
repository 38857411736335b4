#include "http/retry_policy.h"

#include <catch2/catch.hpp>

#include "http/rate_limiter.h"
#include "http/url.h"

using namespace std::chrono_literals;

TEST_CASE("retry policy: which statuses are retried", "[http]") {
  for (int s : {408, 429, 500, 502, 503, 504}) CHECK(http::IsRetryableStatus(s));
  for (int s : {200, 301, 400, 401, 403, 404, 410, 422, 501})
    CHECK_FALSE(http::IsRetryableStatus(s));
}

TEST_CASE("retry policy: full jitter stays within the exponential ceiling", "[http]") {
  http::RetryPolicy policy;
  policy.base_backoff = 100ms;
  policy.max_backoff = 1000ms;
  std::mt19937_64 random(42);
  for (int retry = 0; retry < 40; ++retry) {
    const auto ceiling = std::min<std::int64_t>(1000, 100LL << std::min(retry, 20));
    for (int i = 0; i < 50; ++i) {
      const auto wait = http::Backoff(policy, retry, random);
      CHECK(wait.count() >= 0);
      CHECK(wait.count() <= ceiling);
    }
  }
}

TEST_CASE("retry policy: Retry-After and rate-limit reset headers", "[http]") {
  const auto now = std::chrono::sys_days(std::chrono::year(2015) / 10 / 21) + 7h + 28min;
  struct Case {
    std::string_view value;
    std::optional<std::chrono::milliseconds> wait;
  };
  for (const Case& c :
       {Case{"120", 120s}, Case{" 0 ", 0s}, Case{"Wed, 21 Oct 2015 07:28:30 GMT", 30s},
        Case{"Wed, 21 Oct 2015 07:00:00 GMT", 0s}, Case{"soon", std::nullopt},
        Case{"-5", std::nullopt}, Case{"Wed, 32 Oct 2015 07:28:30 GMT", std::nullopt}}) {
    INFO(c.value);
    CHECK(http::ParseRetryAfter(c.value, now) == c.wait);
  }
  CHECK(http::ServerRequestedWait(429, std::nullopt, "17", now) == std::optional(17000ms));
  CHECK(http::ServerRequestedWait(503, std::nullopt, "17", now) == std::nullopt);
  CHECK(http::ServerRequestedWait(429, "3", "17", now) == std::optional(3000ms));
  const auto epoch =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  CHECK(http::ServerRequestedWait(429, std::nullopt, std::to_string(epoch + 5), now) ==
        std::optional(5000ms));
}

TEST_CASE("rate limiter: per-minute and per-hour buckets, pauses", "[http]") {
  using Clock = http::RateLimiter::Clock;
  const Clock::time_point t0{};
  http::RateLimiter limiter({60, 100}, t0);
  for (int i = 0; i < 60; ++i) CHECK(limiter.TryAcquire(t0) == Clock::duration::zero());
  const auto wait = limiter.TryAcquire(t0);
  CHECK(wait > 900ms);
  CHECK(wait <= 1001ms);
  CHECK(limiter.TryAcquire(t0 + 1s + 1ms) == Clock::duration::zero());
  // The minute bucket refills; the hour bucket (100, +3.3 in two minutes)
  // runs dry after about 42 more.
  auto t = t0 + 2min;
  int granted = 0;
  while (granted < 100 && limiter.TryAcquire(t) == Clock::duration::zero()) ++granted;
  CHECK(granted == 42);
  CHECK(limiter.TryAcquire(t) > 20s);  // 100 per hour: one token every 36 s
  limiter.PauseUntil(t + 1h);
  CHECK(limiter.TryAcquire(t + 30min) == 30min);

  http::RateLimiter unlimited({0, 0}, t0);
  for (int i = 0; i < 10000; ++i) REQUIRE(unlimited.TryAcquire(t0) == Clock::duration::zero());
}

TEST_CASE("url: parse, resolve, origin", "[http]") {
  auto u = http::ParseUrl("https://api.openaq.org/v3/locations/1?limit=5");
  REQUIRE(u);
  CHECK(u->host == "api.openaq.org");
  CHECK(u->port == 443);
  CHECK(u->target == "/v3/locations/1?limit=5");
  CHECK(u->ToString() == "https://api.openaq.org/v3/locations/1?limit=5");
  auto v6 = http::ParseUrl("http://[::1]:8080");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->Authority() == "[::1]:8080");
  CHECK(v6->target == "/");
  CHECK_FALSE(http::ParseUrl("ftp://x/"));
  CHECK_FALSE(http::ParseUrl("/relative"));

  auto rel = http::ResolveLocation(*u, "/v3/other?a=1");
  REQUIRE(rel);
  CHECK(rel->ToString() == "https://api.openaq.org/v3/other?a=1");
  CHECK(rel->SameOrigin(*u));
  auto away = http::ResolveLocation(*u, "http://api.openaq.org/v3");
  REQUIRE(away);
  CHECK_FALSE(away->SameOrigin(*u));
}

TEST_CASE("url: PercentEncode leaves only unreserved bytes", "[http]") {
  CHECK(http::PercentEncode("main") == "main");
  CHECK(http::PercentEncode("feature/new aq-source~1.2_x") == "feature%2Fnew%20aq-source~1.2_x");
  CHECK(http::PercentEncode("a+b&c=d?#%") == "a%2Bb%26c%3Dd%3F%23%25");
  CHECK(http::PercentEncode("\xc3\xa9") == "%C3%A9");
  CHECK(http::PercentEncode("") == "");
}

TEST_CASE("url: secrets are redacted", "[http]") {
  CHECK(http::RedactUrl("https://x.org/a?api_key=S3CRET&limit=5") ==
        "https://x.org/a?api_key=***&limit=5");
  CHECK(http::RedactUrl("https://user:pw@x.org/a?access_token=abc&X-Amz-Signature=f00") ==
        "https://x.org/a?access_token=***&X-Amz-Signature=***");
  CHECK(http::RedactUrl("https://blob.example/a.zip?se=2024-11-05&sig=S1G%3D&sp=r") ==
        "https://blob.example/a.zip?se=2024-11-05&sig=***&sp=r");
  CHECK(http::RedactUrl("https://x.org/a?design=1") == "https://x.org/a?design=1");
  CHECK(http::RedactUrl("https://x.org/v3/sensors/1?datetime_from=2024-01-01T00:00:00Z") ==
        "https://x.org/v3/sensors/1?datetime_from=2024-01-01T00:00:00Z");
  for (auto name :
       {"Authorization", "x-api-key", "Cookie", "X-Auth-Token", "Proxy-Authorization"}) {
    CHECK(http::IsCredentialHeader(name));
  }
  CHECK_FALSE(http::IsCredentialHeader("Accept"));
}

TEST_CASE("url: NO_PROXY decides which hosts bypass the proxy", "[http]") {
  http::ProxySettings proxy;
  proxy.https_proxy = *http::ParseUrl("http://proxy.local:3128");
  proxy.no_proxy = "localhost, .internal.example,10.0.0.1:8080";
  auto via = [&](const char* url) { return proxy.For(*http::ParseUrl(url)).has_value(); };
  CHECK(via("https://api.openaq.org/"));
  CHECK_FALSE(via("https://localhost/"));
  CHECK_FALSE(via("https://db.internal.example/"));
  CHECK_FALSE(via("https://internal.example/"));
  CHECK(via("https://notinternal.example/"));
  CHECK_FALSE(via("https://10.0.0.1/"));
  CHECK_FALSE(via("http://api.openaq.org/"));  // no HTTP_PROXY set
  proxy.no_proxy = "*";
  CHECK_FALSE(via("https://api.openaq.org/"));
}
