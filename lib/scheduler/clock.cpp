#include "scheduler/clock.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/system_timer.hpp>

namespace scheduler {
namespace {

namespace asio = boost::asio;

// The handlers capture one pointer, so asio's recycled handler memory takes
// them: arming allocates nothing, which matters at a thousand wakes a second.
class SystemTimer final : public Timer {
 public:
  SystemTimer(asio::io_context& loop, std::function<void()> on_fire)
      : at_(loop), after_(loop), on_fire_(std::move(on_fire)) {}

  void ArmAt(core::TimePoint at) override {
    after_.cancel();  // free when it was never armed (the scheduler's wake timer)
    at_.expires_at(std::chrono::time_point_cast<std::chrono::system_clock::duration>(at));
    at_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) on_fire_();
    });
  }
  void ArmAfter(core::Duration d) override {
    at_.cancel();
    after_.expires_after(d);
    after_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) on_fire_();
    });
  }
  void Cancel() override {
    at_.cancel();
    after_.cancel();
  }

 private:
  asio::system_timer at_;
  asio::steady_timer after_;
  const std::function<void()> on_fire_;
};

}  // namespace

std::unique_ptr<Timer> SystemClock::NewTimer(asio::io_context& loop,
                                             std::function<void()> on_fire) const {
  return std::make_unique<SystemTimer>(loop, std::move(on_fire));
}

}  // namespace scheduler
