#include "http/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace http {
namespace {

int StricterWindow(int a, int b) {
  if (a <= 0) return std::max(b, 0);
  if (b <= 0) return a;
  return std::min(a, b);
}

}  // namespace

RateLimit Strictest(RateLimit a, RateLimit b) {
  return RateLimit{StricterWindow(a.per_minute, b.per_minute),
                   StricterWindow(a.per_hour, b.per_hour)};
}

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

void RateLimiter::AdvanceTo(Clock::time_point now) {
  if (now > last_) {
    const double seconds = std::chrono::duration<double>(now - last_).count();
    Refill(minute_, seconds);
    Refill(hour_, seconds);
    last_ = now;
  }
}

RateLimiter::Clock::duration RateLimiter::TryAcquire(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (now < paused_until_) return paused_until_ - now;
  AdvanceTo(now);
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

void RateLimiter::Resize(Bucket& bucket, int per_window, double window_seconds) {
  if (per_window <= 0) return;
  if (bucket.per_second <= 0) {
    // A window that had no limit starts full, as a new limiter would.
    bucket = Bucket{double(per_window), double(per_window), per_window / window_seconds};
    return;
  }
  bucket.capacity = double(per_window);
  bucket.per_second = per_window / window_seconds;
  bucket.tokens = std::min(bucket.tokens, bucket.capacity);
}

void RateLimiter::Tighten(RateLimit stricter, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  const RateLimit next = Strictest(limit_, stricter);
  if (next == limit_) return;
  AdvanceTo(now);
  if (next.per_minute != limit_.per_minute) Resize(minute_, next.per_minute, 60.0);
  if (next.per_hour != limit_.per_hour) Resize(hour_, next.per_hour, 3600.0);
  limit_ = next;
}

RateLimit RateLimiter::limit() const {
  std::lock_guard lock(mutex_);
  return limit_;
}

}  // namespace http
