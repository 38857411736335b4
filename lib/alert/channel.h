// A way to reach people: Slack, email or a webhook. The outbox hands each
// channel one delivery at a time and records what came of it.
//
// Blocking: Deliver runs on the outbox's thread for that channel (never the
// event loop), so a channel that hangs delays only itself. It must return
// within its own timeout, and soon after `cancelled()` turns true.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "alert/alert.h"
#include "config/config.h"
#include "core/result.h"
#include "core/time.h"

namespace http {
class Client;
}

namespace alert {

struct DeliveryResult {
  enum class Outcome {
    kDelivered,  // the far end took it
    kRetry,      // try again later: network error, timeout, 429, 5xx
    kRejected,   // the far end refused it for good (a 4xx such as invalid_payload): never retried
  };
  Outcome outcome = Outcome::kRetry;
  // What the far end answered, for the log, `alert-test` and `history
  // --alerts`: "HTTP 200 ok", "HTTP 400 invalid_payload", "250 2.0.0 queued"
  // or the transport error. Scrubbed of secrets and at most ~500 bytes.
  std::string response;
  // When the far end said when to come back (Retry-After).
  std::optional<core::Duration> retry_after;
};

struct Delivery {
  const Alert& alert;
  // Stable across retries and restarts: the same delivery always carries the
  // same id (webhook header and body, email Message-ID).
  std::string id;
  int attempt = 1;
  std::function<bool()> cancelled;  // true once jobsd is stopping
};

class Channel {
 public:
  virtual ~Channel() = default;
  virtual DeliveryResult Deliver(const Delivery& delivery) = 0;
};

// What channels need from the daemon.
struct ChannelContext {
  http::Client& http;
  // Per attempt; the outbox retries on its own schedule.
  core::Duration timeout = std::chrono::seconds(30);
};

// Builds the channel a config entry describes.
std::unique_ptr<Channel> MakeChannel(const config::ChannelConfig& channel,
                                     const ChannelContext& context);

}  // namespace alert
