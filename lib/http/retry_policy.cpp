#include "http/retry_policy.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <ctime>
#include <string>

namespace http {
namespace {

std::optional<std::int64_t> ParseInt(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0) return std::nullopt;
  return value;
}

// IMF-fixdate only ("Sun, 06 Nov 1994 08:49:37 GMT"); the obsolete forms are
// not sent by any server we talk to.
std::optional<std::chrono::system_clock::time_point> ParseHttpDate(std::string_view text) {
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (text.size() != 29 || text.substr(25) != " GMT") return std::nullopt;
  const auto day = ParseInt(text.substr(5, 2));
  const auto year = ParseInt(text.substr(12, 4));
  const auto hour = ParseInt(text.substr(17, 2));
  const auto minute = ParseInt(text.substr(20, 2));
  const auto second = ParseInt(text.substr(23, 2));
  const auto month_it = std::find(std::begin(kMonths), std::end(kMonths), text.substr(8, 3));
  if (!day || !year || !hour || !minute || !second || month_it == std::end(kMonths)) {
    return std::nullopt;
  }
  const std::chrono::year_month_day ymd{std::chrono::year(int(*year)),
                                        std::chrono::month(unsigned(month_it - kMonths) + 1),
                                        std::chrono::day(unsigned(*day))};
  if (!ymd.ok() || *hour > 23 || *minute > 59 || *second > 60) return std::nullopt;
  return std::chrono::sys_days(ymd) + std::chrono::hours(*hour) + std::chrono::minutes(*minute) +
         std::chrono::seconds(*second);
}

}  // namespace

bool IsRetryableStatus(int status) {
  switch (status) {
    case 408:
    case 429:
    case 500:
    case 502:
    case 503:
    case 504:
      return true;
    default:
      return false;
  }
}

std::chrono::milliseconds Backoff(const RetryPolicy& policy, int retry, std::mt19937_64& random) {
  const int shift = std::clamp(retry, 0, 30);
  const std::int64_t base = policy.base_backoff.count();
  const std::int64_t cap = policy.max_backoff.count();
  const std::int64_t ceiling = base > (cap >> shift) ? cap : std::min(cap, base << shift);
  if (ceiling <= 0) return std::chrono::milliseconds(0);
  std::uniform_int_distribution<std::int64_t> pick(0, ceiling);
  return std::chrono::milliseconds(pick(random));
}

std::optional<std::chrono::milliseconds> ParseRetryAfter(
    std::string_view value, std::chrono::system_clock::time_point now) {
  if (const auto seconds = ParseInt(value)) return std::chrono::seconds(*seconds);
  const auto when = ParseHttpDate(value);
  if (!when) return std::nullopt;
  if (*when <= now) return std::chrono::milliseconds(0);
  return std::chrono::ceil<std::chrono::milliseconds>(*when - now);
}

std::optional<std::chrono::milliseconds> ServerRequestedWait(
    int status, std::optional<std::string_view> retry_after,
    std::optional<std::string_view> ratelimit_reset, std::chrono::system_clock::time_point now) {
  if (retry_after) {
    if (auto wait = ParseRetryAfter(*retry_after, now)) return wait;
  }
  if (status == 429 && ratelimit_reset) {
    const auto value = ParseInt(*ratelimit_reset);
    if (!value) return std::nullopt;
    // Some APIs send the reset as an epoch time; OpenAQ sends seconds.
    constexpr std::int64_t kEpochThreshold = 1'000'000'000;
    if (*value >= kEpochThreshold) {
      const auto when = std::chrono::system_clock::time_point(std::chrono::seconds(*value));
      if (when <= now) return std::chrono::milliseconds(0);
      return std::chrono::ceil<std::chrono::milliseconds>(when - now);
    }
    return std::chrono::seconds(*value);
  }
  return std::nullopt;
}

}  // namespace http
