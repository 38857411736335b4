#include "alert/secret_scrubber.h"

#include <algorithm>
#include <variant>

#include "alert/alert_text.h"

namespace alert {

SecretScrubber::SecretScrubber(const config::Config& config) {
  for (const std::string& secret : config.secrets) Add(secret);
  // Header values of a webhook (an Authorization, an API key) are secrets
  // too, though read as plain strings.
  for (const auto& [name, channel] : config.alerts.channels) {
    if (const auto* webhook = std::get_if<config::WebhookChannel>(&channel.settings)) {
      for (const auto& [header, value] : webhook->headers) Add(value);
    }
  }
}

void SecretScrubber::Add(std::string_view secret) {
  if (secret.size() < 3) return;  // masking "ab" would mangle every message
  if (std::find(secrets_.begin(), secrets_.end(), secret) != secrets_.end()) return;
  secrets_.emplace_back(secret);
  std::stable_sort(secrets_.begin(), secrets_.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

std::string SecretScrubber::Scrub(std::string_view text, std::size_t max_bytes) const {
  std::string out(text);
  for (const std::string& secret : secrets_) {
    for (std::size_t at = out.find(secret); at != std::string::npos;
         at = out.find(secret, at + 3)) {
      out.replace(at, secret.size(), "***");
    }
  }
  return CutUtf8(std::move(out), max_bytes, "\u2026");
}

}  // namespace alert
