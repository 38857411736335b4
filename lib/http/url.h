// URLs as the HTTP client needs them: split into the parts a connection is
// keyed by, redirect targets resolved, secrets masked for logs, and the
// HTTPS_PROXY / NO_PROXY decision.
//
// Pure functions; any thread.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace http {

struct Url {
  std::string scheme;  // "http" or "https"
  std::string host;    // without brackets for IPv6
  int port = 0;        // explicit or the scheme's default
  std::string target;  // path and query, "/" at least

  bool https() const { return scheme == "https"; }
  // "host:port" (brackets for IPv6), the Host header value and pool key part.
  std::string Authority() const;
  std::string ToString() const;
  // Same scheme, host and port: credentials may follow a redirect.
  bool SameOrigin(const Url& other) const;
};

// Absolute http(s) URLs only; errors say what is wrong with the text.
core::Result<Url> ParseUrl(std::string_view text);

// A redirect's Location, absolute or relative to `base`.
core::Result<Url> ResolveLocation(const Url& base, std::string_view location);

// The URL with the values of secret-looking query parameters (key, token,
// secret, password, signature, api_key, access_token ... any name containing
// one of those) replaced by "***", and userinfo dropped. For logs and errors.
std::string RedactUrl(std::string_view url);

// Header names whose values never go into logs and are dropped when a
// redirect leaves the origin: Authorization, Proxy-Authorization, Cookie, and
// any name containing "key", "token", "secret" or "password" (X-API-Key).
bool IsCredentialHeader(std::string_view name);

// `text` with every byte but the unreserved ones (RFC 3986: letters, digits,
// '-', '.', '_', '~') written as %XX (upper-case hex): a query value or one
// path segment ("feature/x" -> "feature%2Fx"). UTF-8 is encoded byte by byte.
std::string PercentEncode(std::string_view text);

// Proxy settings as read from the environment (HTTPS_PROXY / https_proxy,
// HTTP_PROXY / http_proxy, NO_PROXY / no_proxy).
struct ProxySettings {
  std::optional<Url> https_proxy;
  std::optional<Url> http_proxy;
  std::string no_proxy;  // comma-separated hosts, domain suffixes, "*"

  static ProxySettings FromEnvironment();
  // The proxy to use for `url`, or nullopt for a direct connection.
  std::optional<Url> For(const Url& url) const;
};

}  // namespace http
