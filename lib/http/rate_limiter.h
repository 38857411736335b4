// A token-bucket limiter for one upstream: at most N requests per minute and
// M per hour, shared by every request (every run of every job) that goes to
// that upstream, and pausable when the upstream itself says "wait" (a 429
// with a reset time).
//
// Thread-safe: any thread may call any method. Time is passed in, so tests
// drive it without sleeping.
#pragma once

#include <chrono>
#include <mutex>

namespace http {

// Requests per window; 0 means no limit for that window.
struct RateLimit {
  int per_minute = 0;
  int per_hour = 0;
  bool unlimited() const { return per_minute <= 0 && per_hour <= 0; }
  bool operator==(const RateLimit&) const = default;
};

// The stricter of the two, window by window (a limit beats no limit).
RateLimit Strictest(RateLimit a, RateLimit b);

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  explicit RateLimiter(RateLimit limit, Clock::time_point now = Clock::now());

  // Takes one token when one is available and returns zero; otherwise takes
  // nothing and returns how long to wait before asking again.
  Clock::duration TryAcquire(Clock::time_point now = Clock::now());
  // No token is handed out before `until` (the upstream asked us to wait).
  void PauseUntil(Clock::time_point until);
  // Lowers the limit to Strictest(limit(), stricter) in place: the buckets
  // keep what has been spent (tokens are capped at the new size, never
  // refilled), so tightening never hands out a fresh burst.
  void Tighten(RateLimit stricter, Clock::time_point now = Clock::now());
  RateLimit limit() const;

 private:
  struct Bucket {
    double capacity = 0;  // tokens; also the burst size
    double tokens = 0;
    double per_second = 0;  // refill rate
  };
  static void Refill(Bucket& bucket, double seconds);
  static Clock::duration WaitFor(const Bucket& bucket);
  static void Resize(Bucket& bucket, int per_window, double window_seconds);
  void AdvanceTo(Clock::time_point now);

  mutable std::mutex mutex_;
  // Guarded by mutex_.
  RateLimit limit_;
  Bucket minute_;
  Bucket hour_;
  Clock::time_point last_;
  Clock::time_point paused_until_{};
};

}  // namespace http
