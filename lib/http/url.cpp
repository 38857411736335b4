#include "http/url.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

namespace http {
namespace {

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  return out;
}

bool LooksSecret(std::string_view name) {
  const std::string lower = Lower(name);
  static constexpr std::array<std::string_view, 7> kWords = {
      "key", "token", "secret", "password", "signature", "credential", "auth"};
  // "sig": the signature of an Azure SAS URL (where GitHub artifacts are
  // downloaded from), too short a word to look for inside other names.
  return lower == "sig" || std::any_of(kWords.begin(), kWords.end(), [&](std::string_view w) {
           return lower.find(w) != std::string::npos;
         });
}

core::Result<Url> FromBoost(const boost::urls::url_view& u, std::string_view text) {
  Url out;
  out.scheme = Lower(u.scheme());
  if (out.scheme != "http" && out.scheme != "https") {
    return core::Unexpected(
        core::InvalidArgument("URL '" + RedactUrl(text) + "': scheme must be http or https"));
  }
  out.host = u.host_address();
  if (out.host.empty()) {
    return core::Unexpected(core::InvalidArgument("URL '" + RedactUrl(text) + "' has no host"));
  }
  if (u.has_port()) {
    out.port = u.port_number();
    if (out.port == 0) {
      return core::Unexpected(
          core::InvalidArgument("URL '" + RedactUrl(text) + "' has an invalid port"));
    }
  } else {
    out.port = out.https() ? 443 : 80;
  }
  out.target = std::string(u.encoded_path());
  if (out.target.empty()) out.target = "/";
  if (u.has_query()) out.target += "?" + std::string(u.encoded_query());
  return out;
}

bool HostMatches(const std::string& host, std::string_view pattern) {
  while (!pattern.empty() && pattern.front() == ' ') pattern.remove_prefix(1);
  while (!pattern.empty() && pattern.back() == ' ') pattern.remove_suffix(1);
  if (pattern.empty()) return false;
  if (pattern == "*") return true;
  // A port in the pattern is ignored: NO_PROXY entries are about hosts.
  if (const auto colon = pattern.rfind(':');
      colon != std::string_view::npos && pattern.find(':') == colon) {
    pattern = pattern.substr(0, colon);
  }
  if (pattern.front() == '.') pattern.remove_prefix(1);
  const std::string p = Lower(pattern);
  if (host == p) return true;
  return host.size() > p.size() && host.compare(host.size() - p.size(), p.size(), p) == 0 &&
         host[host.size() - p.size() - 1] == '.';
}

std::optional<Url> ProxyFromEnv(const char* upper, const char* lower) {
  const char* value = std::getenv(lower);
  if (value == nullptr || *value == '\0') value = std::getenv(upper);
  if (value == nullptr || *value == '\0') return std::nullopt;
  std::string text = value;
  if (text.find("://") == std::string::npos) text = "http://" + text;
  auto parsed = ParseUrl(text);
  if (!parsed) return std::nullopt;
  return *parsed;
}

}  // namespace

std::string Url::Authority() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string Url::ToString() const {
  const bool default_port = (https() && port == 443) || (!https() && port == 80);
  const bool v6 = host.find(':') != std::string::npos;
  std::string out = scheme + "://" + (v6 ? "[" + host + "]" : host);
  if (!default_port) out += ":" + std::to_string(port);
  return out + target;
}

bool Url::SameOrigin(const Url& other) const {
  return scheme == other.scheme && Lower(host) == Lower(other.host) && port == other.port;
}

core::Result<Url> ParseUrl(std::string_view text) {
  const auto parsed = boost::urls::parse_absolute_uri(text);
  if (!parsed) {
    return core::Unexpected(
        core::InvalidArgument("'" + RedactUrl(text) + "' is not an absolute URL"));
  }
  return FromBoost(*parsed, text);
}

core::Result<Url> ResolveLocation(const Url& base, std::string_view location) {
  const auto ref = boost::urls::parse_uri_reference(location);
  if (!ref) {
    return core::Unexpected(
        core::Error{core::ErrorKind::kUpstream,
                    "redirect to an invalid Location '" + RedactUrl(location) + "'", false});
  }
  boost::urls::url base_url(base.ToString());
  boost::urls::url resolved;
  const auto ok = boost::urls::resolve(base_url, *ref, resolved);
  if (!ok) {
    return core::Unexpected(
        core::Error{core::ErrorKind::kUpstream,
                    "cannot resolve redirect Location '" + RedactUrl(location) + "'", false});
  }
  return FromBoost(resolved, resolved.buffer());
}

std::string RedactUrl(std::string_view text) {
  auto parsed = boost::urls::parse_uri_reference(text);
  if (!parsed) {
    // Not a URL we can take apart: keep only what precedes the query.
    const auto q = text.find('?');
    return std::string(text.substr(0, q)) + (q == std::string_view::npos ? "" : "?***");
  }
  boost::urls::url u(*parsed);
  if (u.has_userinfo()) u.remove_userinfo();
  if (u.has_query()) {
    auto params = u.params();
    for (auto it = params.begin(); it != params.end(); ++it) {
      const auto param = *it;
      if (param.has_value && LooksSecret(param.key)) {
        it = params.replace(it, boost::urls::param_view(param.key, "***"));
      }
    }
  }
  return std::string(u.buffer());
}

bool IsCredentialHeader(std::string_view name) {
  const std::string lower = Lower(name);
  if (lower == "authorization" || lower == "proxy-authorization" || lower == "cookie") return true;
  return lower.find("key") != std::string::npos || lower.find("token") != std::string::npos ||
         lower.find("secret") != std::string::npos || lower.find("password") != std::string::npos;
}

ProxySettings ProxySettings::FromEnvironment() {
  ProxySettings out;
  out.https_proxy = ProxyFromEnv("HTTPS_PROXY", "https_proxy");
  out.http_proxy = ProxyFromEnv("HTTP_PROXY", "http_proxy");
  const char* no_proxy = std::getenv("no_proxy");
  if (no_proxy == nullptr) no_proxy = std::getenv("NO_PROXY");
  if (no_proxy != nullptr) out.no_proxy = no_proxy;
  return out;
}

std::optional<Url> ProxySettings::For(const Url& url) const {
  const std::optional<Url>& proxy = url.https() ? https_proxy : http_proxy;
  if (!proxy) return std::nullopt;
  const std::string host = Lower(url.host);
  std::string_view rest = no_proxy;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    if (HostMatches(host, rest.substr(0, comma))) return std::nullopt;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return proxy;
}

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace http
