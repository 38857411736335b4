// The `slack` channel: a POST to a Slack incoming webhook. The message has
// a `text` fallback (the title line, shown in notifications) and `blocks`:
//
//   header   ":red_circle: CRITICAL openaq: failed 3 times in a row"
//   section  fields Job, Host, Severity, Rule, Streak (and Measured)
//   section  "Last error" in a code block, when the run had one
//   section  a link to the job's runs, when http.public_url is set
//   context  raised at, delivery id
//
// Slack answers 200 "ok", or an error as plain text: 400 invalid_payload,
// 403 action_prohibited, 404 no_service / channel_not_found, 410
// channel_is_archived are rejected for good; 429 (with its Retry-After),
// 408, 5xx and network failures are retried by the outbox (SendHttpPost in
// webhook_channel.h). The webhook URL is a secret and appears in no result.
//
// Blocking: the outbox's channel thread (or `jobsd alert-test`).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "alert/channel.h"
#include "alert/webhook_channel.h"

namespace alert {

// The JSON Slack receives for this delivery.
std::string SlackPayload(const Alert& alert, std::string_view delivery_id);

class SlackChannel final : public Channel {
 public:
  // `context.http` must outlive the channel.
  SlackChannel(config::SlackChannel settings, std::optional<std::filesystem::path> ca_file,
               const ChannelContext& context);

  DeliveryResult Deliver(const Delivery& delivery) override;

 private:
  // Set once in the constructor.
  const config::SlackChannel settings_;
  const std::optional<std::filesystem::path> ca_file_;
  http::Client& http_;
  const core::Duration timeout_;
};

}  // namespace alert
