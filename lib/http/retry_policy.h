// When the HTTP client tries a request again and how long it waits first.
//
// Retried: connection errors, timeouts of one attempt, and the statuses 408,
// 429, 500, 502, 503, 504; never any other 4xx. The wait is exponential
// backoff with full jitter, unless the server named a time (Retry-After in
// seconds or as an HTTP date, or OpenAQ-style x-ratelimit-reset seconds on a
// 429), which is then honoured.
//
// Pure functions; any thread.
#pragma once

#include <chrono>
#include <optional>
#include <random>
#include <string_view>

namespace http {

struct RetryPolicy {
  int max_retries = 3;  // retries after the first attempt
  std::chrono::milliseconds base_backoff{500};
  std::chrono::milliseconds max_backoff{30'000};
  // The longest server-requested wait we honour; longer ones fail the request.
  std::chrono::milliseconds max_server_wait{std::chrono::minutes(15)};
};

bool IsRetryableStatus(int status);

// Full jitter: uniform in [0, min(max_backoff, base * 2^retry)]; retry is
// 0 for the wait before the first retry.
std::chrono::milliseconds Backoff(const RetryPolicy& policy, int retry, std::mt19937_64& random);

// A Retry-After value: delay-seconds ("120") or an HTTP date ("Wed, 21 Oct
// 2015 07:28:00 GMT"), relative to `now`. A date in the past is zero.
// nullopt when unreadable.
std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value,
                                                         std::chrono::system_clock::time_point now);

// The wait a response asks for: Retry-After, else (for 429) the rate-limit
// reset header (x-ratelimit-reset or ratelimit-reset: seconds until the window
// resets; a value that looks like an epoch time is read as one).
std::optional<std::chrono::milliseconds> ServerRequestedWait(
    int status, std::optional<std::string_view> retry_after,
    std::optional<std::string_view> ratelimit_reset, std::chrono::system_clock::time_point now);

}  // namespace http
