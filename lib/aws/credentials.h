// Where a job's AWS settings come from: the job's `aws:` block, then the
// environment and the shared credentials file, in the AWS CLI's order.
//
// The block, read with ReadAwsSettings (every key optional):
//
//   aws:
//     region: us-east-2                        # else AWS_REGION, else AWS_DEFAULT_REGION
//     access_key_id: ${AWS_KEY_ID}             # both keys or neither
//     secret_access_key_file: /run/secrets/aws # or secret_access_key: ...
//     session_token: ...                       # optional, with the keys (or session_token_file)
//     profile: backup                          # a profile of the shared credentials file
//     endpoint: http://127.0.0.1:9000          # the service's endpoint (Athena's); tests
//     s3_endpoint: http://127.0.0.1:4568       # S3's endpoint; tests, S3-compatible stores
//     ca_file: /etc/ssl/private-ca.pem         # trust this CA instead of the system's
//
// Credentials, first found wins (ResolveCredentials):
//   1. the block's access_key_id + secret_access_key (+ session_token);
//   2. AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN), unless
//      the block names a profile: as with the CLI's --profile, an explicit
//      profile is never overridden by keys in the environment;
//   3. the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, else
//      $HOME/.aws/credentials), profile = the block's `profile`, else
//      AWS_PROFILE, else `default`.
// Not supported: ~/.aws/config profiles, role assumption, SSO,
// credential_process and instance metadata.
//
// Failure: a problem in the block is a config diagnostic (ReadAwsSettings);
// no credentials anywhere, a missing profile or a half-set pair is a
// non-retryable kInvalidArgument naming where it looked, never a secret.
//
// Pure except for reading the credentials file; any thread.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "aws/sigv4.h"
#include "config/map_reader.h"
#include "core/result.h"

namespace aws {

struct AwsSettings {
  std::string region;  // empty: from the environment
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;
  std::string profile;      // empty: AWS_PROFILE, else "default"
  std::string endpoint;     // empty: the service's own
  std::string s3_endpoint;  // empty: https://s3.<region>.amazonaws.com
  std::optional<std::filesystem::path> ca_file;
};

// Reads the `aws:` block; each problem is reported on `aws` (keys given
// alone, a malformed endpoint or region) and the rest still read.
AwsSettings ReadAwsSettings(config::MapReader& aws);

// The process environment, or a stand-in for tests. A variable set to the
// empty string counts as unset (as the AWS CLI treats AWS_PROFILE="").
class Environment {
 public:
  using Lookup = std::function<std::optional<std::string>(std::string_view name)>;

  explicit Environment(Lookup lookup) : lookup_(std::move(lookup)) {}
  static Environment FromProcess();
  static Environment FromMap(std::map<std::string, std::string, std::less<>> variables);

  std::optional<std::string> Get(std::string_view name) const;

 private:
  Lookup lookup_;
};

core::Result<Credentials> ResolveCredentials(const AwsSettings& settings, const Environment& env);

// settings.region, else AWS_REGION, else AWS_DEFAULT_REGION.
core::Result<std::string> ResolveRegion(const AwsSettings& settings, const Environment& env);

// One profile's keys as the shared credentials file holds them.
struct CredentialsProfile {
  std::map<std::string, std::string, std::less<>> values;  // key -> value, keys lower-cased
};

// The INI text of a shared credentials file: `[name]` sections of `key =
// value` (or `key: value`) lines; lines starting with `#` or `;` are comments
// (as in the CLI's parser, a `#` later in a line is part of the value); blank
// lines and white space around names and values are ignored; key names are
// case-insensitive. A later section or key of the same name overrides. Lines
// outside any section and lines without '=' are errors (with their line
// number, never their content: it may hold a secret).
core::Result<std::map<std::string, CredentialsProfile, std::less<>>> ParseCredentialsFile(
    std::string_view text);

}  // namespace aws
