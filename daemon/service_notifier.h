// Tells systemd how the daemon is doing (sd_notify): READY=1 once the config
// is loaded and the store open, RELOADING=1 / READY=1 around a reload,
// STOPPING=1 on shutdown, STATUS= lines, and WATCHDOG=1 at half the unit's
// WatchdogSec, sent from the event loop so that a stuck loop stops the pings
// and systemd restarts the service.
//
// Outside systemd ($NOTIFY_SOCKET unset) every call does nothing.
// Loop thread only.
#pragma once

#include <memory>
#include <string>

namespace boost::asio {
class io_context;
}

namespace jobsd {

class ServiceNotifier {
 public:
  explicit ServiceNotifier(boost::asio::io_context& loop);
  ~ServiceNotifier();

  void Ready(const std::string& status);
  void Reloading();
  void Stopping(const std::string& status);
  void Status(const std::string& status);

  // Starts the watchdog pings when the unit asks for them (WatchdogSec=).
  void StartWatchdog();
  void StopWatchdog();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace jobsd
