#include "daemon/service_notifier.h"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

namespace jobsd {

struct ServiceNotifier::Impl {
  explicit Impl(boost::asio::io_context& loop) : timer(loop) {}

  void Send(const std::string& message) {
    const int rc = sd_notify(0, message.c_str());
    if (rc < 0) spdlog::warn("sd_notify failed: {}", rc);
  }

  void Ping() {
    Send("WATCHDOG=1");
    timer.expires_after(interval);
    timer.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) Ping();
    });
  }

  boost::asio::steady_timer timer;
  std::chrono::microseconds interval{};
};

ServiceNotifier::ServiceNotifier(boost::asio::io_context& loop)
    : impl_(std::make_unique<Impl>(loop)) {}

ServiceNotifier::~ServiceNotifier() = default;

void ServiceNotifier::Ready(const std::string& status) { impl_->Send("READY=1\nSTATUS=" + status); }

void ServiceNotifier::Reloading() {
  // systemd wants the monotonic time with RELOADING=1 (Type=notify-reload).
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  const long long usec = static_cast<long long>(now.tv_sec) * 1000000 + now.tv_nsec / 1000;
  impl_->Send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec) +
              "\nSTATUS=Reloading configuration");
}

void ServiceNotifier::Stopping(const std::string& status) {
  impl_->Send("STOPPING=1\nSTATUS=" + status);
}

void ServiceNotifier::Status(const std::string& status) { impl_->Send("STATUS=" + status); }

void ServiceNotifier::StartWatchdog() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return;
  // Half the period, as sd_watchdog_enabled(3) recommends.
  impl_->interval = std::chrono::microseconds(usec / 2);
  spdlog::info("systemd watchdog: pinging every {} ms", usec / 2000);
  impl_->Ping();
}

void ServiceNotifier::StopWatchdog() { impl_->timer.cancel(); }

}  // namespace jobsd
