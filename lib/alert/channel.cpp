#include "alert/channel.h"

#include <variant>

#include "alert/email_channel.h"
#include "alert/slack_channel.h"
#include "alert/webhook_channel.h"

namespace alert {

std::unique_ptr<Channel> MakeChannel(const config::ChannelConfig& channel,
                                     const ChannelContext& context) {
  ChannelContext own = context;
  if (channel.timeout) own.timeout = *channel.timeout;
  if (const auto* slack = std::get_if<config::SlackChannel>(&channel.settings)) {
    return std::make_unique<SlackChannel>(*slack, channel.ca_file, own);
  }
  if (const auto* email = std::get_if<config::EmailChannel>(&channel.settings)) {
    return std::make_unique<EmailChannel>(*email, channel.ca_file, own.timeout);
  }
  return std::make_unique<WebhookChannel>(std::get<config::WebhookChannel>(channel.settings),
                                          channel.ca_file, own);
}

}  // namespace alert
