#include "aws/credentials.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <system_error>
#include <utility>

#include "http/url.h"

namespace aws {
namespace {

std::string_view Trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

core::Error Problem(std::string message) { return core::InvalidArgument(std::move(message)); }

bool ValidRegion(std::string_view region) {
  return !region.empty() && std::all_of(region.begin(), region.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

// An endpoint URL without a trailing '/', or nullopt after reporting.
std::optional<std::string> ReadEndpoint(config::MapReader& aws, std::string_view key) {
  std::optional<std::string> text = aws.String(key);
  if (!text) return std::nullopt;
  const core::Result<http::Url> url = http::ParseUrl(*text);
  if (!url) {
    aws.Report(key, "expected an http:// or https:// URL, got '" + *text + "'");
    return std::nullopt;
  }
  if (url->target.find('?') != std::string::npos) {
    aws.Report(key, "an endpoint has no query string, got '" + *text + "'");
    return std::nullopt;
  }
  while (!text->empty() && text->back() == '/') text->pop_back();
  return text;
}

std::string ExpandHome(const std::string& path, const Environment& env) {
  if (path == "~" || path.rfind("~/", 0) == 0) {
    if (const auto home = env.Get("HOME")) return *home + path.substr(1);
  }
  return path;
}

// Where the shared credentials file is, or nullopt when neither
// AWS_SHARED_CREDENTIALS_FILE nor HOME says.
std::optional<std::string> CredentialsFilePath(const Environment& env) {
  if (auto file = env.Get("AWS_SHARED_CREDENTIALS_FILE")) return ExpandHome(*file, env);
  if (auto home = env.Get("HOME")) return *home + "/.aws/credentials";
  return std::nullopt;
}

std::optional<std::string> ReadSmallFile(const std::string& path, std::string& why) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    why = "does not exist";
    return std::nullopt;
  }
  if (std::filesystem::file_size(path, ec) > (std::uintmax_t(1) << 20) || ec) {
    why = ec ? "cannot be read: " + ec.message() : "is larger than 1 MiB";
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    why = "cannot be read";
    return std::nullopt;
  }
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

const std::string* Value(const CredentialsProfile& profile, std::string_view key) {
  const auto found = profile.values.find(key);
  if (found == profile.values.end() || found->second.empty()) return nullptr;
  return &found->second;
}

constexpr std::string_view kNothingFound = "no AWS credentials found";

}  // namespace

AwsSettings ReadAwsSettings(config::MapReader& aws) {
  AwsSettings out;
  if (std::optional<std::string> region = aws.String("region")) {
    if (ValidRegion(*region)) {
      out.region = *region;
    } else {
      aws.Report("region", "expected a region like us-east-2, got '" + *region + "'");
    }
  }
  // Present at all (even when its value turned out wrong): decides which
  // combination problems are worth a report.
  const auto given = [&](std::string_view key) {
    return aws.Has(key) || aws.Has(std::string(key) + "_file");
  };
  const bool has_id = given("access_key_id");
  const bool has_secret = given("secret_access_key");
  const bool has_token = given("session_token");
  const auto secret = [&](std::string_view key, std::string& into) {
    if (std::optional<std::string> value = aws.Secret(key)) {
      if (value->empty()) {
        aws.Report(key, "is empty (is the environment variable set?)");
      } else {
        into = std::move(*value);
      }
    }
  };
  secret("access_key_id", out.access_key_id);
  secret("secret_access_key", out.secret_access_key);
  secret("session_token", out.session_token);
  if (has_id != has_secret) {
    aws.Report(has_id ? "access_key_id" : "secret_access_key",
               "access_key_id and secret_access_key go together: " +
                   std::string(has_id ? "secret_access_key" : "access_key_id") + " is missing");
  } else if (has_token && !has_id) {
    aws.Report("session_token", "needs access_key_id and secret_access_key");
  }
  if (std::optional<std::string> profile = aws.String("profile")) {
    if (Trim(*profile).empty()) {
      aws.Report("profile", "is empty");
    } else if (has_id || has_secret) {
      aws.Report("profile", "set either profile or access_key_id/secret_access_key, not both");
    } else {
      out.profile = std::string(Trim(*profile));
    }
  }
  out.endpoint = ReadEndpoint(aws, "endpoint").value_or("");
  out.s3_endpoint = ReadEndpoint(aws, "s3_endpoint").value_or("");
  out.ca_file = aws.Path("ca_file");
  return out;
}

Environment Environment::FromProcess() {
  return Environment([](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  });
}

Environment Environment::FromMap(std::map<std::string, std::string, std::less<>> variables) {
  return Environment(
      [variables = std::move(variables)](std::string_view name) -> std::optional<std::string> {
        const auto found = variables.find(name);
        if (found == variables.end()) return std::nullopt;
        return found->second;
      });
}

std::optional<std::string> Environment::Get(std::string_view name) const {
  if (!lookup_) return std::nullopt;
  std::optional<std::string> value = lookup_(name);
  if (value && value->empty()) return std::nullopt;
  return value;
}

core::Result<std::map<std::string, CredentialsProfile, std::less<>>> ParseCredentialsFile(
    std::string_view text) {
  std::map<std::string, CredentialsProfile, std::less<>> profiles;
  CredentialsProfile* current = nullptr;
  int number = 0;
  // A byte-order mark, as an editor on Windows may write.
  if (text.substr(0, 3) == "\xef\xbb\xbf") text.remove_prefix(3);
  while (!text.empty()) {
    ++number;
    std::size_t end = text.find('\n');
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = Trim(text.substr(0, end));
    text.remove_prefix(std::min(end + 1, text.size()));
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    const std::string where = "line " + std::to_string(number) + ": ";
    if (line.front() == '[') {
      if (line.back() != ']') return core::Unexpected(Problem(where + "a section needs a ']'"));
      const std::string name(Trim(line.substr(1, line.size() - 2)));
      if (name.empty()) return core::Unexpected(Problem(where + "a section needs a name"));
      current = &profiles[name];
      continue;
    }
    const std::size_t separator = line.find_first_of("=:");
    if (separator == std::string_view::npos) {
      return core::Unexpected(Problem(where + "expected 'key = value' or a [section]"));
    }
    if (current == nullptr) {
      return core::Unexpected(Problem(where + "a key before any [section]"));
    }
    const std::string key = Lower(Trim(line.substr(0, separator)));
    if (key.empty()) return core::Unexpected(Problem(where + "a value without a key"));
    current->values[key] = std::string(Trim(line.substr(separator + 1)));
  }
  return profiles;
}

core::Result<Credentials> ResolveCredentials(const AwsSettings& settings, const Environment& env) {
  if (!settings.access_key_id.empty() || !settings.secret_access_key.empty()) {
    if (settings.access_key_id.empty() || settings.secret_access_key.empty()) {
      return core::Unexpected(
          Problem("aws: access_key_id and secret_access_key go together; only one is set"));
    }
    return Credentials{settings.access_key_id, settings.secret_access_key, settings.session_token};
  }

  if (settings.profile.empty()) {
    const std::optional<std::string> id = env.Get("AWS_ACCESS_KEY_ID");
    const std::optional<std::string> secret = env.Get("AWS_SECRET_ACCESS_KEY");
    if (id && secret) {
      return Credentials{*id, *secret, env.Get("AWS_SESSION_TOKEN").value_or("")};
    }
    if (id || secret) {
      return core::Unexpected(
          Problem(std::string(id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY") + " is set but " +
                  (id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID") + " is not"));
    }
  }

  const std::optional<std::string> env_profile = env.Get("AWS_PROFILE");
  const bool explicit_profile = !settings.profile.empty() || env_profile.has_value();
  const std::string profile =
      !settings.profile.empty() ? settings.profile : env_profile.value_or("default");
  const std::string source = !settings.profile.empty() ? "the job's aws.profile"
                             : env_profile             ? "AWS_PROFILE"
                                                       : "the default profile";
  const std::string searched =
      settings.profile.empty()
          ? "not in the job's aws block, not in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
          : "";

  const std::optional<std::string> file = CredentialsFilePath(env);
  if (!file) {
    return core::Unexpected(Problem(
        explicit_profile
            ? "AWS profile '" + profile + "' (" + source +
                  "): no credentials file to look in (neither AWS_SHARED_CREDENTIALS_FILE nor "
                  "HOME is set)"
            : std::string(kNothingFound) + ": " + searched +
                  "and no credentials file to look in (neither AWS_SHARED_CREDENTIALS_FILE nor "
                  "HOME is set)"));
  }
  std::string why;
  const std::optional<std::string> text = ReadSmallFile(*file, why);
  if (!text) {
    return core::Unexpected(
        Problem(explicit_profile
                    ? "AWS profile '" + profile + "' (" + source + "): " + *file + " " + why
                    : std::string(kNothingFound) + ": " + searched + "and " + *file + " " + why));
  }
  auto profiles = ParseCredentialsFile(*text);
  if (!profiles) {
    return core::Unexpected(Problem(*file + ": " + profiles.error().message));
  }
  const auto found = profiles->find(profile);
  if (found == profiles->end()) {
    if (!explicit_profile) {
      return core::Unexpected(Problem(std::string(kNothingFound) + ": " + searched + "and " +
                                      *file + " has no [default] profile"));
    }
    std::string names;
    for (const auto& [name, unused] : *profiles) names += (names.empty() ? "" : ", ") + name;
    return core::Unexpected(
        Problem("AWS profile '" + profile + "' (" + source + ") is not in " + *file +
                (names.empty() ? " (it has no profiles)" : " (it has: " + names + ")")));
  }
  const std::string* id = Value(found->second, "aws_access_key_id");
  const std::string* secret = Value(found->second, "aws_secret_access_key");
  if (id == nullptr || secret == nullptr) {
    return core::Unexpected(
        Problem("AWS profile '" + profile + "' in " + *file + " has no " +
                (id == nullptr ? "aws_access_key_id" : "aws_secret_access_key")));
  }
  const std::string* token = Value(found->second, "aws_session_token");
  if (token == nullptr) token = Value(found->second, "aws_security_token");
  return Credentials{*id, *secret, token ? *token : std::string()};
}

core::Result<std::string> ResolveRegion(const AwsSettings& settings, const Environment& env) {
  if (!settings.region.empty()) return settings.region;
  for (std::string_view name : {"AWS_REGION", "AWS_DEFAULT_REGION"}) {
    if (std::optional<std::string> region = env.Get(name)) {
      if (!ValidRegion(*region)) {
        return core::Unexpected(
            Problem(std::string(name) + " is not a region like us-east-2: '" + *region + "'"));
      }
      return *region;
    }
  }
  return core::Unexpected(
      Problem("no AWS region: set aws.region in the job, or AWS_REGION or AWS_DEFAULT_REGION"));
}

}  // namespace aws
