#include "alert/slack_channel.h"

#include "alert/alert_text.h"
#include "core/json_writer.h"

namespace alert {
namespace {

// Slack's limits, in characters; counting bytes stays within them.
constexpr std::size_t kHeaderMax = 150;
constexpr std::size_t kFieldMax = 1900;
constexpr std::size_t kErrorMax = 2800;

// Within Slack's limit of `max` bytes, "..." included.
std::string Cut(std::string text, std::size_t max) {
  if (text.size() <= max) return text;
  return CutUtf8(std::move(text), max - 3);
}

// Slack's mrkdwn treats &, < and > as markup; everything else is shown as is.
std::string Escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Inside <url|label> a '|' or '>' would end the URL early.
std::string LinkTarget(std::string_view url) {
  std::string out;
  for (char c : url) {
    if (c == '|') {
      out += "%7C";
    } else if (c == '>') {
      out += "%3E";
    } else if (c == '<') {
      out += "%3C";
    } else {
      out += c;
    }
  }
  return out;
}

std::string_view Emoji(const Alert& alert) {
  switch (alert.kind) {
    case AlertKind::kRecovery:
      return ":white_check_mark:";
    case AlertKind::kTest:
      return ":test_tube:";
    default:
      break;
  }
  switch (alert.severity) {
    case config::Severity::kCritical:
      return ":red_circle:";
    case config::Severity::kWarning:
      return ":warning:";
    case config::Severity::kInfo:
      break;
  }
  return ":information_source:";
}

void Text(core::JsonWriter& json, std::string_view type, std::string_view text) {
  json.BeginObject().Key("type").String(type).Key("text").String(text);
  if (type == "plain_text") json.Key("emoji").Bool(true);
  json.EndObject();
}

void Section(core::JsonWriter& json, std::string_view mrkdwn) {
  json.BeginObject().Key("type").String("section").Key("text");
  Text(json, "mrkdwn", mrkdwn);
  json.EndObject();
}

}  // namespace

std::string SlackPayload(const Alert& alert, std::string_view delivery_id) {
  const std::string title = Title(alert);
  core::JsonWriter json;
  json.Key("text").String(title);
  json.Key("blocks").BeginArray();

  json.BeginObject().Key("type").String("header").Key("text");
  Text(json, "plain_text", Cut(std::string(Emoji(alert)) + " " + title, kHeaderMax));
  json.EndObject();

  json.BeginObject().Key("type").String("section").Key("fields").BeginArray();
  for (const auto& [name, value] : Facts(alert)) {
    Text(json, "mrkdwn", "*" + name + "*\n" + Cut(Escape(value), kFieldMax));
  }
  json.EndArray().EndObject();

  if (!alert.last_error.empty()) {
    std::string error = alert.last_error;
    // Three backticks inside would close the code block early.
    for (std::size_t at = error.find("```"); at != std::string::npos; at = error.find("```", at)) {
      error.replace(at, 3, "'''");
    }
    Section(json, "*Last error*\n```" + Cut(Escape(error), kErrorMax) + "```");
  }
  if (!alert.runs_url.empty()) {
    Section(json, "<" + LinkTarget(alert.runs_url) + "|Runs of " + Escape(Subject(alert)) + ">");
  }

  std::string context = "Raised " + core::FormatRfc3339(alert.raised_at);
  if (!delivery_id.empty()) context += " · delivery " + Escape(delivery_id);
  json.BeginObject().Key("type").String("context").Key("elements").BeginArray();
  Text(json, "mrkdwn", context);
  json.EndArray().EndObject();

  json.EndArray();
  return json.Finish();
}

SlackChannel::SlackChannel(config::SlackChannel settings,
                           std::optional<std::filesystem::path> ca_file,
                           const ChannelContext& context)
    : settings_(std::move(settings)),
      ca_file_(std::move(ca_file)),
      http_(context.http),
      timeout_(context.timeout) {}

DeliveryResult SlackChannel::Deliver(const Delivery& delivery) {
  HttpPost post;
  post.url = settings_.webhook_url;
  post.headers = {{"Content-Type", "application/json; charset=utf-8"}};
  post.body = SlackPayload(delivery.alert, delivery.id);
  post.ca_file = ca_file_;
  post.timeout = timeout_;
  return SendHttpPost(http_, post, delivery.cancelled);
}

}  // namespace alert
