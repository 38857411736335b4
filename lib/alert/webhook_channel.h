// The `webhook` channel: each delivery is one JSON POST of the alert
// (AlertJson, with `delivery_id`) to the configured URL, with
//
//   Content-Type: application/json
//   X-Jobsd-Delivery: <delivery id>      the same on every retry
//   X-Jobsd-Event: <kind>                firing, repeat, escalation, recovery, test
//   X-Jobsd-Signature: sha256=<hex>      when `secret:` is set: HMAC-SHA256 of
//                                        the exact body bytes, lowercase hex
//
// plus the configured `headers:` (ours win on a clash).
//
// Also here, because Slack posts the same way: SendHttpPost, which sends one
// POST without retries of its own (the outbox retries) and judges the
// answer: 2xx delivered; 408, 429, 5xx and transport failures retry (with the
// Retry-After the far end gave); any other status is rejected for good.
//
// Blocking: the outbox's channel thread (or `jobsd alert-test`). Failure is a
// DeliveryResult, never an exception.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "alert/channel.h"
#include "http/client.h"

namespace alert {

struct HttpPost {
  std::string url;  // a secret (Slack's token is in its path): never in a result
  std::vector<http::Header> headers;
  std::string body;
  std::optional<std::filesystem::path> ca_file;
  core::Duration timeout = std::chrono::seconds(30);  // the whole attempt
};

// Sends `post` once through `client` and classifies the answer. `response`
// is "HTTP <status> <first 200 bytes of the body on one line>" or the
// transport error with the URL reduced to its scheme and host.
DeliveryResult SendHttpPost(http::Client& client, const HttpPost& post,
                            const std::function<bool()>& cancelled);

class WebhookChannel final : public Channel {
 public:
  // `context.http` must outlive the channel.
  WebhookChannel(config::WebhookChannel settings, std::optional<std::filesystem::path> ca_file,
                 const ChannelContext& context);

  DeliveryResult Deliver(const Delivery& delivery) override;

  // The request Deliver sends (for tests).
  HttpPost Request(const Delivery& delivery) const;

 private:
  // Set once in the constructor.
  const config::WebhookChannel settings_;
  const std::optional<std::filesystem::path> ca_file_;
  http::Client& http_;
  const core::Duration timeout_;
};

}  // namespace alert
