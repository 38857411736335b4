#include "config/alerts_reader.h"

#include <algorithm>

#include "config/spelling.h"

namespace config {
namespace {

const std::initializer_list<std::pair<std::string_view, Severity>> kSeverities = {
    {"info", Severity::kInfo}, {"warning", Severity::kWarning}, {"critical", Severity::kCritical}};

Severity ReadSeverity(MapReader& rule) {
  return rule.Enum<Severity>("severity", kSeverities).value_or(Severity::kWarning);
}

bool HasScheme(std::string_view url, std::initializer_list<std::string_view> schemes) {
  return std::any_of(schemes.begin(), schemes.end(), [&](std::string_view scheme) {
    return url.size() > scheme.size() && url.substr(0, scheme.size()) == scheme;
  });
}

// Only the scheme is checked; the alert sink reports anything else when it
// first sends. A secret URL is not echoed back.
std::string ReadUrl(MapReader& channel, std::string_view key,
                    std::initializer_list<std::string_view> schemes, bool secret) {
  const std::optional<std::string> url =
      secret ? channel.Secret(key, Need::kRequired) : channel.String(key, Need::kRequired);
  if (!url) return "";
  if (!HasScheme(*url, schemes)) {
    std::string message = "expected a URL starting with ";
    for (std::string_view scheme : schemes) {
      if (scheme != *schemes.begin()) message += " or ";
      message += scheme;
    }
    if (!secret) message += ", got '" + *url + "'";
    const std::string set_key = channel.Has(key) ? std::string(key) : std::string(key) + "_file";
    channel.Report(set_key, message);
  }
  return *url;
}

std::optional<ChannelConfig> ReadChannel(const std::string& name, MapReader& channel) {
  enum class Type { kSlack, kEmail, kWebhook };
  const std::optional<Type> type = channel.Enum<Type>(
      "type", {{"slack", Type::kSlack}, {"email", Type::kEmail}, {"webhook", Type::kWebhook}},
      Need::kRequired);
  ChannelConfig out;
  out.name = name;
  out.line = channel.mark().line + 1;
  if (!type) {
    // The other keys depend on the type; without one, checking them would
    // only add noise.
    for (auto entry : channel.node()) {
      if (entry.first.IsScalar()) channel.Allow(entry.first.Scalar());
    }
    return std::nullopt;
  }
  switch (*type) {
    case Type::kSlack:
      out.settings = SlackChannel{ReadUrl(channel, "webhook_url", {"https://", "http://"}, true)};
      break;
    case Type::kEmail: {
      EmailChannel email;
      email.smtp_url = ReadUrl(channel, "smtp_url", {"smtp://", "smtps://"}, false);
      email.from = channel.String("from", Need::kRequired).value_or("");
      std::optional<std::vector<std::string>> to = channel.StringList("to", Need::kRequired);
      if (to && to->empty()) channel.Report("to", "expected at least one address");
      email.to = std::move(to).value_or(std::vector<std::string>{});
      email.username = channel.String("username");
      email.password = channel.Secret("password");
      email.tls =
          channel.Enum<SmtpTls>("tls", {{"starttls", SmtpTls::kStartTls}, {"none", SmtpTls::kNone}})
              .value_or(SmtpTls::kStartTls);
      if (email.tls == SmtpTls::kNone && email.smtp_url.starts_with("smtps://")) {
        channel.Report("tls", "smtps:// always uses TLS; use smtp:// for a server without TLS");
      }
      out.settings = std::move(email);
      break;
    }
    case Type::kWebhook: {
      WebhookChannel webhook;
      webhook.url = ReadUrl(channel, "url", {"https://", "http://"}, true);
      webhook.headers = channel.StringMap("headers").value_or(std::map<std::string, std::string>{});
      webhook.secret = channel.Secret("secret");
      out.settings = std::move(webhook);
      break;
    }
  }
  out.ca_file = channel.Path("ca_file");
  out.timeout = channel.Duration("timeout");
  if (out.timeout &&
      (*out.timeout < std::chrono::seconds(1) || *out.timeout > std::chrono::minutes(10))) {
    channel.Report("timeout",
                   "expected a timeout from 1s to 10m, got " + core::FormatDuration(*out.timeout));
    out.timeout.reset();
  }
  return out;
}

// Whether level `b` comes after level `a`: a worse condition (a longer streak
// or run, a lower quality).
bool Worse(const ConsecutiveFailuresRule& a, const ConsecutiveFailuresRule& b) {
  return b.threshold > a.threshold;
}
bool Worse(const DurationOverRule& a, const DurationOverRule& b) {
  return b.threshold > a.threshold;
}
bool Worse(const QualityBelowRule& a, const QualityBelowRule& b) {
  return b.threshold < a.threshold;
}
bool Worse(const FailuresWithinRule& a, const FailuresWithinRule& b) { return b.count > a.count; }

// A rule written as one mapping (one level) or a list of them (levels that
// escalate): each level must be worse than the one before and at least as
// severe, or escalation would run backwards.
template <typename Rule, typename ReadOne>
std::vector<Rule> ReadLevels(MapReader& rules, std::string_view key, ReadOne read_one) {
  std::vector<Rule> levels;
  const std::optional<YamlNode> node = rules.Node(key);
  if (!node || node->IsNull()) return levels;
  if (!node->IsSequence()) {
    if (std::optional<MapReader> rule = rules.Map(key)) {
      levels.push_back(read_one(*rule));
      rule->Finish();
    }
    return levels;
  }
  std::optional<std::vector<MapReader>> items = rules.MapList(key);
  if (!items) return levels;
  for (std::size_t i = 0; i < items->size(); ++i) {
    MapReader& item = (*items)[i];
    Rule level = read_one(item);
    if (!levels.empty()) {
      if (!Worse(levels.back(), level)) {
        item.Report("threshold", "each level must be worse than the one before it");
      } else if (level.severity < levels.back().severity) {
        item.Report("severity", "each level must be at least as severe as the one before it");
      }
    }
    levels.push_back(level);
    item.Finish();
  }
  if (levels.empty()) rules.Report(key, "expected at least one level");
  return levels;
}

}  // namespace

AlertRules ReadAlertRules(MapReader& rules, bool job_level) {
  AlertRules out;
  out.consecutive_failures =
      ReadLevels<ConsecutiveFailuresRule>(rules, "consecutive_failures", [](MapReader& rule) {
        return ConsecutiveFailuresRule{
            static_cast<int>(rule.Int("threshold", 1, 1'000'000, Need::kRequired).value_or(1)),
            ReadSeverity(rule)};
      });
  out.duration_over = ReadLevels<DurationOverRule>(rules, "duration_over", [](MapReader& rule) {
    return DurationOverRule{rule.Duration("threshold", Need::kRequired).value_or(core::Duration{}),
                            ReadSeverity(rule),
                            static_cast<int>(rule.Int("average_of", 1, 1000).value_or(1))};
  });
  out.failures_within =
      ReadLevels<FailuresWithinRule>(rules, "failures_within", [](MapReader& rule) {
        FailuresWithinRule level;
        level.count = static_cast<int>(rule.Int("count", 1, 1000, Need::kRequired).value_or(1));
        level.window = rule.Duration("window", Need::kRequired).value_or(core::Duration{});
        if (rule.Has("window") && level.window <= core::Duration::zero()) {
          rule.Report("window", "must be positive");
        }
        level.severity = ReadSeverity(rule);
        return level;
      });
  out.quality_below = ReadLevels<QualityBelowRule>(rules, "quality_below", [](MapReader& rule) {
    return QualityBelowRule{rule.Double("threshold", 0, 1, Need::kRequired).value_or(0),
                            ReadSeverity(rule)};
  });
  if (std::optional<MapReader> rule = rules.Map("stale")) {
    out.stale = SeverityRule{ReadSeverity(*rule)};
  }
  if (!job_level) {
    if (std::optional<MapReader> rule = rules.Map("reload_failed")) {
      out.reload_failed = SeverityRule{ReadSeverity(*rule)};
    }
  } else if (rules.Has("reload_failed")) {
    rules.Report("reload_failed", "reload_failed is a daemon-wide rule; set it in alerts.rules");
  }
  return out;
}

AlertsConfig ReadAlerts(MapReader& alerts) {
  AlertsConfig out;
  if (auto channels = alerts.NamedMaps("channels")) {
    for (auto& [name, reader] : *channels) {
      if (std::optional<ChannelConfig> channel = ReadChannel(name, reader)) {
        out.channels.emplace(name, std::move(*channel));
      }
      reader.Finish();
    }
  }
  // Names of channels that exist, even if invalid, so a route to a channel
  // with a typo inside is not reported a second time as undefined.
  std::vector<std::string> defined;
  if (std::optional<YamlNode> channels = alerts.Node("channels"); channels && channels->IsMap()) {
    for (auto entry : *channels) {
      if (entry.first.IsScalar()) defined.push_back(entry.first.Scalar());
    }
  }

  MapReader rules = alerts.MapOrEmpty("rules");
  out.rules = ReadAlertRules(rules, false);
  rules.Finish();

  if (std::optional<MapReader> route = alerts.Map("route")) {
    for (const auto& [word, severity] : kSeverities) {
      std::optional<std::vector<std::string>> names = route->StringList(word);
      if (!names) continue;
      const YamlNode list = *route->Node(word);
      for (std::size_t i = 0; i < names->size(); ++i) {
        const std::string& name = (*names)[i];
        if (std::find(defined.begin(), defined.end(), name) != defined.end()) continue;
        std::string message = "no channel named '" + name + "' in alerts.channels";
        if (std::optional<std::string> guess = ClosestMatch(name, defined)) {
          message += " (did you mean '" + *guess + "'?)";
        }
        route->ReportAt(list[i],
                        route->path() + "." + std::string(word) + "[" + std::to_string(i) + "]",
                        message);
      }
      out.route[severity] = std::move(*names);
    }
    route->Finish();
  }
  out.cooldown = alerts.Duration("cooldown").value_or(out.cooldown);
  out.notify_recovery = alerts.Bool("notify_recovery").value_or(out.notify_recovery);
  return out;
}

}  // namespace config
