#include "alert/webhook_channel.h"

#include <algorithm>
#include <cctype>
#include <chrono>

#include "alert/alert_text.h"
#include "crypto/sha256.h"
#include "http/retry_policy.h"
#include "http/url.h"

namespace alert {
namespace {

using Outcome = DeliveryResult::Outcome;

constexpr std::size_t kBodyBytesShown = 200;

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string Trim(std::string text) {
  const auto not_space = [](unsigned char c) { return !std::isspace(c); };
  text.erase(text.begin(), std::find_if(text.begin(), text.end(), not_space));
  text.erase(std::find_if(text.rbegin(), text.rend(), not_space).base(), text.end());
  return text;
}

void ReplaceAll(std::string& text, std::string_view what, std::string_view with) {
  if (what.empty()) return;
  for (std::size_t at = text.find(what); at != std::string::npos;
       at = text.find(what, at + with.size())) {
    text.replace(at, what.size(), with);
  }
}

// The URL as it may be shown: scheme and host only. The client's errors
// carry the URL with only query secrets redacted, and a Slack webhook's
// token is its path.
std::string ShownUrl(const std::string& url) {
  const auto parsed = http::ParseUrl(url);
  if (!parsed) return "<the configured URL>";
  return parsed->scheme + "://" + parsed->Authority() + "/***";
}

}  // namespace

DeliveryResult SendHttpPost(http::Client& client, const HttpPost& post,
                            const std::function<bool()>& cancelled) {
  http::ClientRequest request;
  request.method = "POST";
  request.url = post.url;
  request.headers = post.headers;
  request.body = post.body;

  http::CallOptions options;
  options.deadline =
      std::chrono::time_point_cast<core::Duration>(std::chrono::system_clock::now()) + post.timeout;
  options.cancelled = cancelled;
  options.ca_file = post.ca_file;
  // The outbox retries on its own schedule, so the client sends once. A
  // 429 that names a wait goes back to the outbox too instead of being slept
  // through here: the client hands back any 429 whose wait exceeds
  // max_server_wait, and below zero that includes "Retry-After: 0".
  http::RetryPolicy once;
  once.max_retries = 0;
  once.max_server_wait = std::chrono::milliseconds(-1);
  options.retry = once;
  options.max_body_bytes = std::size_t(1) << 20;
  // Following a 301/302 would turn the POST into a GET and lose the alert.
  options.max_redirects = 0;

  DeliveryResult result;
  core::Result<http::ClientResponse> answer = client.Send(std::move(request), std::move(options));
  if (!answer) {
    std::string message = answer.error().message;
    const std::string shown = ShownUrl(post.url);
    ReplaceAll(message, http::RedactUrl(post.url), shown);
    ReplaceAll(message, post.url, shown);
    result.outcome = answer.error().kind == core::ErrorKind::kInvalidArgument ? Outcome::kRejected
                                                                              : Outcome::kRetry;
    result.response = CutUtf8(OneLine(message), 500);
    return result;
  }
  const int status = answer->status;
  std::string body = Trim(OneLine(answer->body));
  result.response = "HTTP " + std::to_string(status);
  if (!body.empty()) result.response += " " + CutUtf8(std::move(body), kBodyBytesShown);
  if (status >= 200 && status < 300) {
    result.outcome = Outcome::kDelivered;
  } else if (status == 408 || status == 429 || status >= 500) {
    result.outcome = Outcome::kRetry;
    if (const auto retry_after = answer->Find("retry-after")) {
      if (const auto wait = http::ParseRetryAfter(*retry_after, std::chrono::system_clock::now())) {
        result.retry_after = std::chrono::duration_cast<core::Duration>(*wait);
      }
    }
  } else {
    result.outcome = Outcome::kRejected;
    if (status >= 300 && status < 400) {
      result.response += " (alerts do not follow redirects: set the URL it redirects to)";
    }
  }
  return result;
}

WebhookChannel::WebhookChannel(config::WebhookChannel settings,
                               std::optional<std::filesystem::path> ca_file,
                               const ChannelContext& context)
    : settings_(std::move(settings)),
      ca_file_(std::move(ca_file)),
      http_(context.http),
      timeout_(context.timeout) {}

HttpPost WebhookChannel::Request(const Delivery& delivery) const {
  HttpPost post;
  post.url = settings_.url;
  post.body = AlertJson(delivery.alert, delivery.id);
  post.ca_file = ca_file_;
  post.timeout = timeout_;
  std::vector<http::Header> ours = {
      {"Content-Type", "application/json"},
      {"X-Jobsd-Delivery", delivery.id},
      {"X-Jobsd-Event", std::string(ToString(delivery.alert.kind))},
  };
  if (settings_.secret) {
    ours.push_back(
        {"X-Jobsd-Signature", "sha256=" + crypto::HmacSha256Hex(*settings_.secret, post.body)});
  }
  for (const auto& [name, value] : settings_.headers) {
    // An init-capture: clang 14 cannot capture a structured binding.
    const bool clash = std::any_of(
        ours.begin(), ours.end(),
        [&key = name](const http::Header& header) { return EqualsIgnoreCase(header.name, key); });
    if (!clash) post.headers.push_back({name, value});
  }
  post.headers.insert(post.headers.end(), ours.begin(), ours.end());
  return post;
}

DeliveryResult WebhookChannel::Deliver(const Delivery& delivery) {
  return SendHttpPost(http_, Request(delivery), delivery.cancelled);
}

}  // namespace alert
