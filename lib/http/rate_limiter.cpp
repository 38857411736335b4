#include "http/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace http {

RateLimiter::RateLimiter(RateLimit limit, Clock::time_point now) : limit_(limit), last_(now) {
  if (limit_.per_minute > 0) {
    minute_ =
        Bucket{double(limit_.per_minute), double(limit_.per_minute), limit_.per_minute / 60.0};
  }
  if (limit_.per_hour > 0) {
    hour_ = Bucket{double(limit_.per_hour), double(limit_.per_hour), limit_.per_hour / 3600.0};
  }
}

void RateLimiter::Refill(Bucket& bucket, double seconds) {
  if (bucket.per_second <= 0) return;
  bucket.tokens = std::min(bucket.capacity, bucket.tokens + seconds * bucket.per_second);
}

RateLimiter::Clock::duration RateLimiter::WaitFor(const Bucket& bucket) {
  if (bucket.per_second <= 0 || bucket.tokens >= 1.0) return Clock::duration::zero();
  const double seconds = (1.0 - bucket.tokens) / bucket.per_second;
  // Rounded up so that the caller, asking again after the wait, finds a token.
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds)) +
         std::chrono::microseconds(1);
}

RateLimiter::Clock::duration RateLimiter::TryAcquire(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (now < paused_until_) return paused_until_ - now;
  if (now > last_) {
    const double seconds = std::chrono::duration<double>(now - last_).count();
    Refill(minute_, seconds);
    Refill(hour_, seconds);
    last_ = now;
  }
  const Clock::duration wait = std::max(WaitFor(minute_), WaitFor(hour_));
  if (wait > Clock::duration::zero()) return wait;
  if (minute_.per_second > 0) minute_.tokens -= 1.0;
  if (hour_.per_second > 0) hour_.tokens -= 1.0;
  return Clock::duration::zero();
}

void RateLimiter::PauseUntil(Clock::time_point until) {
  std::lock_guard lock(mutex_);
  paused_until_ = std::max(paused_until_, until);
}

}  // namespace http
