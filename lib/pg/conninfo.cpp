#include "pg/conninfo.h"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <utility>

namespace pg {
namespace {

constexpr std::string_view kMask = "***";

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool IsSecretKey(std::string_view key) { return key == "password" || key == "sslpassword"; }

bool IsUrl(std::string_view text) {
  return text.starts_with("postgresql://") || text.starts_with("postgres://");
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// libpq's conninfo_uri_decode; nullopt for a bad %XX (libpq refuses those).
std::optional<std::string> PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    const int hi = i + 1 < text.size() ? HexValue(text[i + 1]) : -1;
    const int lo = i + 2 < text.size() ? HexValue(text[i + 2]) : -1;
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

struct Scan {
  std::string redacted;
  std::vector<std::string> secrets;

  void AddSecret(std::string_view raw) {
    if (raw.empty()) return;
    secrets.emplace_back(raw);
    // A password with a delimiter in it may be quoted in pieces by a parser
    // that split it (a '/' in a URL's password reads as the path).
    std::size_t start = 0;
    for (std::size_t i = 0; i <= raw.size(); ++i) {
      if (i == raw.size() ||
          std::string_view("/?@:&=, \t\n'\\").find(raw[i]) != std::string_view::npos) {
        if (i > start && i - start >= 2 && i - start < raw.size()) {
          secrets.emplace_back(raw.substr(start, i - start));
        }
        start = i + 1;
      }
    }
  }
  void AddEncodedSecret(std::string_view raw) {
    AddSecret(raw);
    if (auto decoded = PercentDecode(raw); decoded && *decoded != raw) AddSecret(*decoded);
  }
};

Scan ScanConninfo(std::string_view text);

// A dbname value may itself be a connection string (libpq expands the
// first one); its secrets are secrets too.
bool HoldsConninfo(std::string_view value) {
  return IsUrl(value) || value.find('=') != std::string_view::npos;
}

// key=value form, after libpq's conninfo_parse: keywords end at '=' or
// white space; values are single-quoted (with backslash escapes) or run to
// the next white space (backslash escapes too).
Scan ScanKeyValues(std::string_view text) {
  Scan scan;
  std::size_t i = 0;
  std::size_t copied = 0;  // text[copied, i) not yet in scan.redacted
  auto fail_from = [&](std::size_t start) {
    scan.redacted.append(text.substr(copied, start - copied));
    scan.redacted += kMask;
    const std::string_view rest = text.substr(start);
    scan.AddSecret(rest);
    std::size_t t = 0;
    while (t < rest.size()) {
      while (t < rest.size() && IsSpace(rest[t])) ++t;
      std::size_t e = t;
      while (e < rest.size() && !IsSpace(rest[e])) ++e;
      if (e > t) scan.AddSecret(rest.substr(t, e - t));
      t = e;
    }
    copied = text.size();
  };
  while (true) {
    while (i < text.size() && IsSpace(text[i])) ++i;
    if (i >= text.size()) break;
    const std::size_t token_start = i;
    const std::size_t key_start = i;
    while (i < text.size() && text[i] != '=' && !IsSpace(text[i])) ++i;
    const std::string_view key = text.substr(key_start, i - key_start);
    while (i < text.size() && IsSpace(text[i])) ++i;
    if (i >= text.size() || text[i] != '=') {
      fail_from(token_start);
      return scan;
    }
    ++i;
    while (i < text.size() && IsSpace(text[i])) ++i;
    const std::size_t value_start = i;
    std::string value;
    bool terminated = true;
    if (i < text.size() && text[i] == '\'') {
      ++i;
      terminated = false;
      while (i < text.size()) {
        if (text[i] == '\'') {
          ++i;
          terminated = true;
          break;
        }
        if (text[i] == '\\') {
          ++i;
          if (i < text.size()) value += text[i++];
        } else {
          value += text[i++];
        }
      }
    } else {
      while (i < text.size() && !IsSpace(text[i])) {
        if (text[i] == '\\') {
          ++i;
          if (i < text.size()) value += text[i++];
        } else {
          value += text[i++];
        }
      }
    }
    if (!terminated) {
      fail_from(IsSecretKey(key) ? value_start : token_start);
      if (IsSecretKey(key)) scan.AddSecret(value);
      return scan;
    }
    const std::string_view raw = text.substr(value_start, i - value_start);
    if (IsSecretKey(key)) {
      scan.redacted.append(text.substr(copied, value_start - copied));
      scan.redacted += kMask;
      copied = i;
      scan.AddSecret(raw);
      scan.AddSecret(value);
    } else if (key == "dbname" && HoldsConninfo(value)) {
      Scan inner = ScanConninfo(value);
      if (!inner.secrets.empty()) {
        scan.redacted.append(text.substr(copied, value_start - copied));
        scan.redacted += '\'';
        for (char c : inner.redacted) {
          if (c == '\'' || c == '\\') scan.redacted += '\\';
          scan.redacted += c;
        }
        scan.redacted += '\'';
        copied = i;
        for (auto& s : inner.secrets) scan.secrets.push_back(std::move(s));
        scan.AddSecret(raw);
      }
    }
  }
  scan.redacted.append(text.substr(copied));
  return scan;
}

// URL form, after libpq's conninfo_uri_parse_options:
//   scheme://[userinfo@][hosts][/dbname][?key=value&...]
Scan ScanUrl(std::string_view text) {
  Scan scan;
  const std::size_t scheme_end = text.find("://") + 3;
  const std::string_view rest = text.substr(scheme_end);
  const std::size_t first_slash = rest.find('/');
  const std::string_view before_slash = rest.substr(0, first_slash);
  std::size_t at = before_slash.rfind('@');
  if (at == std::string_view::npos && first_slash != std::string_view::npos) {
    // libpq finds no userinfo here, but an '@' before the query says that
    // the password had a '/' in it.
    const std::size_t query = rest.find('?', first_slash);
    const std::size_t later = rest.substr(0, query).rfind('@');
    if (later != std::string_view::npos && later > first_slash) at = later;
  }
  std::size_t hosts_start = 0;
  scan.redacted.append(text.substr(0, scheme_end));
  if (at != std::string_view::npos) {
    const std::string_view userinfo = rest.substr(0, at);
    const std::size_t colon = userinfo.find(':');
    if (colon != std::string_view::npos) {
      scan.redacted.append(userinfo.substr(0, colon + 1));
      scan.redacted += kMask;
      scan.AddEncodedSecret(userinfo.substr(colon + 1));
    } else {
      scan.redacted.append(userinfo);
    }
    scan.redacted += '@';
    hosts_start = at + 1;
  }
  const std::size_t query = rest.find('?', hosts_start);
  scan.redacted.append(rest.substr(hosts_start, query - hosts_start));
  if (query == std::string_view::npos) return scan;
  scan.redacted += '?';
  std::string_view params = rest.substr(query + 1);
  bool first = true;
  while (true) {
    const std::size_t amp = params.find('&');
    const std::string_view param = params.substr(0, amp);
    if (!first) scan.redacted += '&';
    first = false;
    const std::size_t eq = param.find('=');
    const std::string_view raw_key = param.substr(0, eq);
    const std::string key = PercentDecode(raw_key).value_or(std::string(raw_key));
    if (eq != std::string_view::npos && IsSecretKey(key)) {
      scan.redacted.append(param.substr(0, eq + 1));
      scan.redacted += kMask;
      scan.AddEncodedSecret(param.substr(eq + 1));
    } else if (eq != std::string_view::npos && key == "dbname") {
      const std::string_view raw_value = param.substr(eq + 1);
      const std::string value = PercentDecode(raw_value).value_or(std::string(raw_value));
      Scan inner = HoldsConninfo(value) ? ScanConninfo(value) : Scan{};
      if (inner.secrets.empty()) {
        scan.redacted.append(param);
      } else {
        scan.redacted.append(param.substr(0, eq + 1));
        scan.redacted += kMask;
        for (auto& s : inner.secrets) scan.secrets.push_back(std::move(s));
        scan.AddSecret(raw_value);
      }
    } else {
      scan.redacted.append(param);
    }
    if (amp == std::string_view::npos) break;
    params.remove_prefix(amp + 1);
  }
  return scan;
}

Scan ScanConninfo(std::string_view text) {
  if (IsUrl(text)) return ScanUrl(text);
  if (text.find('=') != std::string_view::npos) return ScanKeyValues(text);
  return Scan{std::string(text), {}};
}

}  // namespace

std::string RedactConninfo(std::string_view conninfo) { return ScanConninfo(conninfo).redacted; }

std::vector<std::string> ConninfoSecrets(std::string_view conninfo) {
  std::vector<std::string> secrets = ScanConninfo(conninfo).secrets;
  std::sort(secrets.begin(), secrets.end());
  secrets.erase(std::unique(secrets.begin(), secrets.end()), secrets.end());
  return secrets;
}

std::string MaskSecrets(std::string_view text, const std::vector<std::string>& secrets) {
  std::vector<std::string_view> ordered(secrets.begin(), secrets.end());
  std::erase_if(ordered, [](std::string_view s) { return s.empty(); });
  std::sort(ordered.begin(), ordered.end(),
            [](std::string_view a, std::string_view b) { return a.size() > b.size(); });
  std::string out(text);
  for (std::string_view secret : ordered) {
    std::size_t at = 0;
    while ((at = out.find(secret, at)) != std::string::npos) {
      out.replace(at, secret.size(), kMask);
      at += kMask.size();
    }
  }
  return out;
}

}  // namespace pg
