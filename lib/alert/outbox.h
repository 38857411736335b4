// Delivers what the RuleEvaluator wrote to the outbox: each channel has a
// thread of its own that takes the channel's due deliveries from the state
// store (through the RunRecorder, so nothing else ever waits on it), sends
// them one by one, and records each outcome in the store.
//
// A failing or hanging channel delays only itself: other channels and the
// runs go on. A delivery the far end refused for good (a 4xx such as Slack's
// invalid_payload, an SMTP 5xx) is not retried; one that failed for a
// reason that may pass (network, timeout, 429, 5xx) is retried with
// exponential backoff and full jitter from 5 s up to 10 min, honouring
// Retry-After, for up to 24 h after the alert was raised, then `expired`.
// Undelivered alerts survive a restart in the store and go out after it;
// a delivery keeps its id across attempts, so a receiver can spot a repeat
// (a crash between sending and recording sends it again: at least once).
//
// Backoffs, the 24 h limit and the channel threads' waits are read from and
// waited for on the Clock given at construction, so a test on a ManualClock
// steps them.
//
// SetChannels, Stop: loop thread (they never wait on a channel). Wake,
// Health: any thread. Stop before the recorder and the clock go.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "alert/channel.h"
#include "config/config.h"
#include "core/time.h"
#include "scheduler/clock.h"
#include "store/run_recorder.h"

namespace alert {

// How one channel is doing, for /health.
struct ChannelHealth {
  std::string name;
  int failures_in_a_row = 0;  // attempts that did not deliver, since the last that did
  std::string last_error;
  std::optional<core::TimePoint> last_delivered_at;
  std::optional<core::TimePoint> last_failed_at;
  // Three failed attempts in a row: people are likely not being told.
  bool failing() const { return failures_in_a_row >= 3; }
};

class AlertOutbox {
 public:
  using ChannelFactory = std::function<std::unique_ptr<Channel>(const config::ChannelConfig&)>;
  // Counts an outcome: result is delivered, retry, rejected or expired.
  using OutcomeCounter =
      std::function<void(const std::string& channel, config::Severity, std::string_view result)>;

  // `first_backoff` is the ceiling of the first retry's wait (tests shorten it).
  AlertOutbox(store::RunRecorder& recorder, const scheduler::Clock& clock,
              ChannelFactory make_channel, OutcomeCounter count,
              core::Duration first_backoff = std::chrono::seconds(5));
  ~AlertOutbox();  // Stop()
  AlertOutbox(const AlertOutbox&) = delete;
  AlertOutbox& operator=(const AlertOutbox&) = delete;

  // Matches the channel threads to `channels`: new ones start, removed or
  // changed ones stop (a delivery in flight is abandoned and retried), and
  // unchanged ones keep going.
  void SetChannels(const std::map<std::string, config::ChannelConfig>& channels);
  // Something may be due (an alert was just written).
  void Wake();
  // Stops every channel thread; pending deliveries stay in the store.
  void Stop();

  std::vector<ChannelHealth> Health() const;

 private:
  class Worker;
  store::RunRecorder& recorder_;
  const scheduler::Clock& clock_;
  ChannelFactory make_channel_;
  OutcomeCounter count_;
  const core::Duration first_backoff_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Worker>> workers_;  // guarded by mutex_
  std::vector<std::shared_ptr<Worker>> retired_;            // loop thread only
};

}  // namespace alert
