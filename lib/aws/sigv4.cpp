#include "aws/sigv4.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <utility>

#include "crypto/hex.h"
#include "crypto/sha256.h"
#include "http/url.h"

namespace aws {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsUnreserved(unsigned char c) {
  return std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Trimall: no white space at either end, every inner run one space.
std::string CanonicalHeaderValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  bool pending_space = false;
  for (char c : value) {
    if (IsSpace(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += c;
  }
  return out;
}

// Dot segments removed and empty segments dropped; a trailing '/' kept when
// the path had one and anything is left (botocore's remove_dot_segments).
std::string NormalizePath(std::string_view path) {
  if (path.empty()) return "/";
  std::vector<std::string_view> kept;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view segment = path.substr(start, end - start);
    if (segment == "..") {
      if (!kept.empty()) kept.pop_back();
    } else if (!segment.empty() && segment != ".") {
      kept.push_back(segment);
    }
    start = end + 1;
  }
  std::string out = path.front() == '/' ? "/" : "";
  for (std::size_t i = 0; i < kept.size(); ++i) {
    if (i > 0) out += '/';
    out += kept[i];
  }
  if (path.back() == '/' && !kept.empty()) out += '/';
  return out.empty() ? "/" : out;
}

std::string CanonicalUri(std::string_view path, UriRule rule) {
  if (rule == UriRule::kAsSent) return path.empty() ? "/" : std::string(path);
  return UriEncode(NormalizePath(path), /*keep_slash=*/true);
}

std::string CanonicalQuery(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> params;
  std::size_t start = 0;
  while (start <= query.size()) {
    std::size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view pair = query.substr(start, end - start);
    if (!pair.empty()) {
      const std::size_t eq = pair.find('=');
      const std::string_view key = pair.substr(0, eq);
      const std::string_view value =
          eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
      params.emplace_back(UriEncode(UriDecode(key), false), UriEncode(UriDecode(value), false));
    }
    start = end + 1;
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [key, value] : params) {
    if (!out.empty()) out += '&';
    out += key + "=" + value;
  }
  return out;
}

std::string CredentialScope(std::string_view amz_date, const SigningScope& scope) {
  return std::string(amz_date.substr(0, 8)) + "/" + scope.region + "/" + scope.service +
         "/aws4_request";
}

std::string Join(const std::vector<std::string>& names, char separator) {
  std::string out;
  for (const std::string& name : names) {
    if (!out.empty()) out += separator;
    out += name;
  }
  return out;
}

std::string DigestBytes(const crypto::Digest& digest) {
  return std::string(reinterpret_cast<const char*>(digest.data()), digest.size());
}

const http::Header* FindHeader(const std::vector<http::Header>& headers, std::string_view name) {
  for (const http::Header& h : headers) {
    if (Lower(h.name) == name) return &h;
  }
  return nullptr;
}

void RemoveHeader(std::vector<http::Header>& headers, std::string_view lower_name) {
  headers.erase(std::remove_if(headers.begin(), headers.end(),
                               [&](const http::Header& h) { return Lower(h.name) == lower_name; }),
                headers.end());
}

// The SHA-256 of a body file's range, or nullopt when it cannot be read.
std::optional<std::string> FileRangeHash(const http::FileBody& body) {
  std::ifstream in(body.path, std::ios::binary);
  if (!in) return std::nullopt;
  in.seekg(std::streamoff(body.offset));
  if (!in) return std::nullopt;
  crypto::Sha256 hash;
  std::array<char, 1 << 16> buffer{};
  std::uint64_t left = body.length.value_or(UINT64_MAX);
  while (left > 0) {
    in.read(buffer.data(), std::streamsize(std::min<std::uint64_t>(left, buffer.size())));
    const std::streamsize got = in.gcount();
    if (got <= 0) break;
    hash.Update(buffer.data(), std::size_t(got));
    left -= std::uint64_t(got);
  }
  if (body.length && left > 0) return std::nullopt;  // the range runs past the end
  return crypto::Hex(hash.Finish());
}

// The parts of an Authorization header value.
struct ParsedAuthorization {
  std::string access_key_id;
  std::string scope;  // date/region/service/aws4_request
  std::vector<std::string> signed_headers;
  std::string signature;
};

std::optional<ParsedAuthorization> ParseAuthorization(std::string_view value) {
  if (value.substr(0, kAlgorithm.size()) != kAlgorithm) return std::nullopt;
  value.remove_prefix(kAlgorithm.size());
  ParsedAuthorization out;
  bool have_credential = false, have_signed = false, have_signature = false;
  while (!value.empty()) {
    while (!value.empty() && (value.front() == ' ' || value.front() == ',')) value.remove_prefix(1);
    if (value.empty()) break;
    std::size_t end = value.find(',');
    if (end == std::string_view::npos) end = value.size();
    std::string_view part = value.substr(0, end);
    value.remove_prefix(end);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    const std::size_t eq = part.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    const std::string_view name = part.substr(0, eq);
    const std::string_view content = part.substr(eq + 1);
    if (name == "Credential") {
      const std::size_t slash = content.find('/');
      if (slash == std::string_view::npos) return std::nullopt;
      out.access_key_id = std::string(content.substr(0, slash));
      out.scope = std::string(content.substr(slash + 1));
      have_credential = true;
    } else if (name == "SignedHeaders") {
      std::size_t start = 0;
      while (start <= content.size()) {
        std::size_t semi = content.find(';', start);
        if (semi == std::string_view::npos) semi = content.size();
        if (semi > start) out.signed_headers.emplace_back(content.substr(start, semi - start));
        start = semi + 1;
      }
      have_signed = true;
    } else if (name == "Signature") {
      out.signature = std::string(content);
      have_signature = true;
    }
  }
  if (!have_credential || !have_signed || !have_signature) return std::nullopt;
  return out;
}

}  // namespace

UriRule UriRuleFor(std::string_view service) {
  return service == "s3" ? UriRule::kAsSent : UriRule::kNormalize;
}

std::string UriEncode(std::string_view text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (IsUnreserved(c) || (keep_slash && c == '/')) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string UriDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && HexValue(text[i + 1]) >= 0 &&
        HexValue(text[i + 2]) >= 0) {
      out += char(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::vector<std::string> SignedHeaderNames(const std::vector<http::Header>& headers) {
  std::vector<std::string> names;
  for (const http::Header& h : headers) names.push_back(Lower(h.name));
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

std::string CanonicalRequest(const SignableRequest& request,
                             const std::vector<std::string>& signed_headers) {
  return CanonicalRequest(request, signed_headers, UriRule::kNormalize);
}

std::string CanonicalRequest(const SignableRequest& request,
                             const std::vector<std::string>& signed_headers, UriRule uri_rule) {
  std::string out = request.method + "\n";
  out += CanonicalUri(request.path, uri_rule) + "\n";
  out += CanonicalQuery(request.query) + "\n";
  for (const std::string& name : signed_headers) {
    std::string joined;
    bool first = true;
    for (const http::Header& h : request.headers) {
      if (Lower(h.name) != name) continue;
      if (!first) joined += ',';
      joined += CanonicalHeaderValue(h.value);
      first = false;
    }
    out += name + ":" + joined + "\n";
  }
  out += "\n" + Join(signed_headers, ';') + "\n";
  out += request.payload_hash.empty() ? std::string(kEmptyPayloadHash) : request.payload_hash;
  return out;
}

std::string StringToSign(std::string_view amz_date, const SigningScope& scope,
                         std::string_view canonical_request) {
  return std::string(kAlgorithm) + "\n" + std::string(amz_date) + "\n" +
         CredentialScope(amz_date, scope) + "\n" + crypto::Sha256Hex(canonical_request);
}

std::string Signature(std::string_view secret_access_key, std::string_view amz_date,
                      const SigningScope& scope, std::string_view string_to_sign) {
  const std::string date_key = DigestBytes(
      crypto::HmacSha256("AWS4" + std::string(secret_access_key), amz_date.substr(0, 8)));
  const std::string region_key = DigestBytes(crypto::HmacSha256(date_key, scope.region));
  const std::string service_key = DigestBytes(crypto::HmacSha256(region_key, scope.service));
  const std::string signing_key = DigestBytes(crypto::HmacSha256(service_key, "aws4_request"));
  return crypto::HmacSha256Hex(signing_key, string_to_sign);
}

std::string AuthorizationHeader(const SignableRequest& request, const Credentials& credentials,
                                const SigningScope& scope, std::string_view amz_date) {
  const std::vector<std::string> names = SignedHeaderNames(request.headers);
  const std::string canonical = CanonicalRequest(request, names, UriRuleFor(scope.service));
  const std::string signature = Signature(credentials.secret_access_key, amz_date, scope,
                                          StringToSign(amz_date, scope, canonical));
  return std::string(kAlgorithm) + " Credential=" + credentials.access_key_id + "/" +
         CredentialScope(amz_date, scope) + ", SignedHeaders=" + Join(names, ';') +
         ", Signature=" + signature;
}

void SignRequest(http::ClientRequest& request, const Credentials& credentials,
                 const SigningScope& scope, core::TimePoint now, std::string_view payload_hash) {
  const core::Result<http::Url> url = http::ParseUrl(request.url);
  if (!url) return;
  const bool s3 = scope.service == "s3";

  std::string hash(payload_hash);
  if (hash.empty()) {
    if (!request.body_file) {
      hash = crypto::Sha256Hex(request.body);
    } else if (s3) {
      hash = kUnsignedPayload;
    } else {
      // Unreadable: the HTTP client fails the call on the same file anyway.
      hash = FileRangeHash(*request.body_file).value_or(std::string(kUnsignedPayload));
    }
  }

  for (std::string_view name :
       {"authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"}) {
    RemoveHeader(request.headers, name);
  }
  if (FindHeader(request.headers, "host") == nullptr) {
    const bool default_port =
        (url->https() && url->port == 443) || (!url->https() && url->port == 80);
    request.headers.push_back({"Host", default_port ? url->host : url->Authority()});
  }
  const std::string amz_date = FormatAmzDate(now);
  request.headers.push_back({"X-Amz-Date", amz_date});
  if (!credentials.session_token.empty()) {
    request.headers.push_back({"X-Amz-Security-Token", credentials.session_token});
  }
  if (s3) request.headers.push_back({"x-amz-content-sha256", hash});

  SignableRequest signable;
  signable.method = request.method;
  const std::size_t question = url->target.find('?');
  signable.path = url->target.substr(0, question);
  if (question != std::string::npos) signable.query = url->target.substr(question + 1);
  signable.headers = request.headers;
  signable.payload_hash = hash;
  request.headers.push_back(
      {"Authorization", AuthorizationHeader(signable, credentials, scope, amz_date)});
}

std::string VerifySignature(const SignableRequest& received, const Credentials& credentials,
                            std::string_view region, std::string_view service) {
  const http::Header* authorization = FindHeader(received.headers, "authorization");
  if (authorization == nullptr) return "missing header authorization";
  const std::optional<ParsedAuthorization> parsed = ParseAuthorization(authorization->value);
  if (!parsed) return "malformed authorization header";
  if (parsed->access_key_id != credentials.access_key_id) {
    return "unknown access key id " + parsed->access_key_id;
  }
  const http::Header* date = FindHeader(received.headers, "x-amz-date");
  if (date == nullptr) return "missing header x-amz-date";
  if (!ParseAmzDate(date->value)) return "malformed x-amz-date " + date->value;
  const SigningScope scope{std::string(region), std::string(service)};
  const std::string expected_scope = CredentialScope(date->value, scope);
  if (parsed->scope != expected_scope) {
    return "wrong credential scope " + parsed->scope + ", expected " + expected_scope;
  }
  if (!std::is_sorted(parsed->signed_headers.begin(), parsed->signed_headers.end())) {
    return "SignedHeaders not sorted";
  }
  for (std::string_view required : {"host", "x-amz-date"}) {
    if (std::find(parsed->signed_headers.begin(), parsed->signed_headers.end(), required) ==
        parsed->signed_headers.end()) {
      return "header " + std::string(required) + " is not signed";
    }
  }
  for (const std::string& name : parsed->signed_headers) {
    if (Lower(name) != name) return "SignedHeaders name not lower-case: " + name;
    if (FindHeader(received.headers, name) == nullptr) return "missing header " + name;
  }
  if (!credentials.session_token.empty()) {
    const http::Header* token = FindHeader(received.headers, "x-amz-security-token");
    if (token == nullptr) return "missing header x-amz-security-token";
    if (!crypto::SameSecret(token->value, credentials.session_token)) {
      return "wrong session token";
    }
  }

  SignableRequest canonical = received;
  if (service == "s3") {
    const http::Header* content = FindHeader(received.headers, "x-amz-content-sha256");
    if (content == nullptr) return "missing header x-amz-content-sha256";
    if (content->value != kUnsignedPayload && !received.payload_hash.empty() &&
        content->value != received.payload_hash) {
      return "x-amz-content-sha256 does not match the body";
    }
    canonical.payload_hash = content->value;
  }
  const std::string creq = CanonicalRequest(canonical, parsed->signed_headers, UriRuleFor(service));
  const std::string expected = Signature(credentials.secret_access_key, date->value, scope,
                                         StringToSign(date->value, scope, creq));
  if (!crypto::SameSecret(parsed->signature, expected)) return "signature mismatch";
  return {};
}

std::string FormatAmzDate(core::TimePoint time) {
  using namespace std::chrono;
  const sys_seconds seconds = floor<std::chrono::seconds>(time);
  const sys_days day = floor<days>(seconds);
  const year_month_day ymd(day);
  const hh_mm_ss<std::chrono::seconds> hms(seconds - day);
  char text[32];
  std::snprintf(text, sizeof text, "%04d%02u%02uT%02d%02d%02dZ", int(ymd.year()),
                unsigned(ymd.month()), unsigned(ymd.day()), int(hms.hours().count()),
                int(hms.minutes().count()), int(hms.seconds().count()));
  return text;
}

std::optional<core::TimePoint> ParseAmzDate(std::string_view text) {
  using namespace std::chrono;
  if (text.size() != 16 || text[8] != 'T' || text[15] != 'Z') return std::nullopt;
  for (std::size_t i : {0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14}) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return std::nullopt;
  }
  const auto number = [&](std::size_t at, std::size_t length) {
    int value = 0;
    for (std::size_t i = at; i < at + length; ++i) value = value * 10 + (text[i] - '0');
    return value;
  };
  const year_month_day ymd{year(number(0, 4)), month(unsigned(number(4, 2))),
                           day(unsigned(number(6, 2)))};
  const int h = number(9, 2), m = number(11, 2), s = number(13, 2);
  if (!ymd.ok() || h > 23 || m > 59 || s > 60) return std::nullopt;
  return time_point_cast<core::Duration>(sys_days(ymd) + hours(h) + minutes(m) +
                                         std::chrono::seconds(s));
}

}  // namespace aws
