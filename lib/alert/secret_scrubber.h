// Keeps secrets out of alerts, logs and the store: every configured secret
// value (channel URLs and passwords, the API token, job keys) found in a
// text is replaced with "***", and the text is cut to a length a person will
// read.
//
// Immutable once built; any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace alert {

class SecretScrubber {
 public:
  SecretScrubber() = default;
  // The secrets of `config`: webhook and Slack URLs (their paths carry the
  // token), webhook secrets and header values, SMTP usernames' passwords,
  // http.token, and each job's `with:` values under keys that name a secret
  // (*key, *token, *password, *secret).
  explicit SecretScrubber(const config::Config& config);

  void Add(std::string_view secret);

  // `text` with every secret masked and cut to `max_bytes` (on a UTF-8
  // character boundary, marked with "…").
  std::string Scrub(std::string_view text, std::size_t max_bytes = 500) const;

 private:
  std::vector<std::string> secrets_;  // longest first, so a secret inside another is masked whole
};

}  // namespace alert
