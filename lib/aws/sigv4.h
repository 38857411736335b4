// AWS Signature Version 4 (header-based), written out by hand: the canonical
// request, the string to sign, the derived signing key and the Authorization
// header, plus SignRequest() for an http::ClientRequest and VerifySignature()
// for the test fakes that play an AWS service.
//
// The rules, as AWS's test suite (tests/testdata/sigv4) and botocore apply them:
//   - Canonical URI: for every service but S3 the path is normalised (dot
//     segments removed, runs of '/' collapsed, as botocore does) and then
//     percent-encoded again, so a '%' on the wire becomes %25; for "s3" the
//     path is signed exactly as sent (an object key "a//b/../c" is a key, not
//     a path to clean up).
//   - Canonical query: each parameter's key and value percent-decoded and
//     re-encoded with RFC 3986's unreserved set, sorted by encoded key then
//     value; a parameter without '=' has an empty value. Callers build their
//     URLs with http::PercentEncode, so what is sent and what is signed agree.
//   - Headers: names lower-cased, values trimmed with every run of white space
//     (spaces, tabs, folded line breaks) collapsed to one space, several
//     headers of one name joined with ',' in the order they came.
//   - Payload: the hex SHA-256 of the body, or "UNSIGNED-PAYLOAD" (S3 only).
//
// Pure functions except SignRequest's reading of a body file; any thread.
// Secrets never appear in anything returned except the derived signature.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/time.h"
#include "http/client.h"

namespace aws {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty: none
};

struct SigningScope {
  std::string region;   // us-east-2
  std::string service;  // "s3", "athena"
};

// A request as signed: method, the path as sent on the wire (already
// percent-encoded), the raw query string (no '?'), headers as sent, and the
// payload's hex SHA-256 or "UNSIGNED-PAYLOAD" (empty: the SHA-256 of an
// empty body).
struct SignableRequest {
  std::string method;
  std::string path;
  std::string query;
  std::vector<http::Header> headers;
  std::string payload_hash;
};

inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
// The hex SHA-256 of nothing: the payload hash of a request without a body.
inline constexpr std::string_view kEmptyPayloadHash =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// How the canonical URI is made from the path as sent.
enum class UriRule {
  kNormalize,  // every service but S3: normalised, then encoded once more
  kAsSent,     // S3: the path exactly as sent
};
UriRule UriRuleFor(std::string_view service);

// The canonical request over `signed_headers` (lower-case, sorted; a signed
// header the request lacks is signed with an empty value). The two-argument
// form applies the general rule (UriRule::kNormalize).
std::string CanonicalRequest(const SignableRequest& request,
                             const std::vector<std::string>& signed_headers);
std::string CanonicalRequest(const SignableRequest& request,
                             const std::vector<std::string>& signed_headers, UriRule uri_rule);

std::string StringToSign(std::string_view amz_date /*20150830T123600Z*/, const SigningScope& scope,
                         std::string_view canonical_request);

// The hex signature of `string_to_sign` with the key derived from the secret,
// the date part of `amz_date` and the scope.
std::string Signature(std::string_view secret_access_key, std::string_view amz_date,
                      const SigningScope& scope, std::string_view string_to_sign);

// The Authorization header value for `request` signed with every header it
// carries (the URI rule chosen by scope.service).
std::string AuthorizationHeader(const SignableRequest& request, const Credentials& credentials,
                                const SigningScope& scope, std::string_view amz_date);

// Signs an http::ClientRequest in place. It sets (replacing any earlier
// value, so a request may be signed again) X-Amz-Date, X-Amz-Security-Token
// when there is a session token, x-amz-content-sha256 for service "s3", and
// Host when the request has none: host[:port] from the URL with the port only
// when it is not the scheme's default, the value the HTTP client sends. Then
// Authorization, over every header of the request.
// `payload_hash` empty: the SHA-256 of request.body; with a body_file,
// "UNSIGNED-PAYLOAD" for s3 and otherwise the SHA-256 of the file range, read
// here (pass the hash when it is known). A URL the HTTP client cannot parse
// is left unsigned: sending it fails with the client's own error.
void SignRequest(http::ClientRequest& request, const Credentials& credentials,
                 const SigningScope& scope, core::TimePoint now,
                 std::string_view payload_hash = {});

// For servers that check signatures (a test fake): recomputes the signature
// of a received request from its Authorization header's SignedHeaders and
// compares, in constant time. `received.payload_hash` is the SHA-256 of the
// body as received (empty: not computed); for "s3" the canonical request uses
// the x-amz-content-sha256 header, which must be present and, unless
// UNSIGNED-PAYLOAD, equal the received body's hash. Returns an empty string
// when it matches, else what is wrong ("signature mismatch", "missing header
// x", "wrong credential scope ..."); never a secret.
std::string VerifySignature(const SignableRequest& received, const Credentials& credentials,
                            std::string_view region, std::string_view service);

// The distinct lower-cased header names of `headers`, sorted: what
// AuthorizationHeader signs.
std::vector<std::string> SignedHeaderNames(const std::vector<http::Header>& headers);

// "20150830T123600Z" (UTC, whole seconds) and back; nullopt when malformed.
std::string FormatAmzDate(core::TimePoint time);
std::optional<core::TimePoint> ParseAmzDate(std::string_view text);

// RFC 3986 percent-encoding with the unreserved set (upper-case hex); with
// `keep_slash`, '/' stays as it is (a path).
std::string UriEncode(std::string_view text, bool keep_slash);
// %XX sequences decoded ('+' stays '+'); a '%' not followed by two hex
// digits is kept as it is.
std::string UriDecode(std::string_view text);

}  // namespace aws
