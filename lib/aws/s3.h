// Amazon S3 (and S3-compatible stores) over the project's HTTP client:
// objects read into files, files and strings written as objects (multipart
// above a size), listings, deletes.
//
// Addressing is always path-style, `<endpoint>/<bucket>/<key>`, the key's
// segments percent-encoded with '/' kept, so one endpoint serves every bucket
// and a test server needs no DNS. Every request is signed (SigV4, service
// "s3") when it is sent, with the time from S3Options::clock.
//
// What each call costs in memory: nothing proportional to the object.
// GetObject streams the body to a file (CallOptions::body_file: written under
// a temporary name and renamed once complete, so a failed, cancelled or
// truncated download leaves no file and an existing one untouched; the
// folder must exist). PutObject streams the file (http::FileBody), reading
// it once more first to hash it when S3Options::sign_payload is set.
// Objects stored with Content-Encoding gzip arrive decoded (the HTTP client
// decodes them).
//
// Multipart upload (file size >= multipart_threshold, or over S3's 5 GiB
// single-PUT limit): CreateMultipartUpload, then UploadPart for each range of
// the file (up to `parallel_parts` in flight), then CompleteMultipartUpload
// with the parts' ETags. When anything fails or the call is cancelled the
// upload is aborted (AbortMultipartUpload, on a fresh 10 s deadline that
// ignores the cancellation), so no half-made object appears and no parts are
// left billed; if the abort itself fails the error says so.
//
// Failure: transport problems, timeouts and cancellation come from the HTTP
// client (with its retries: connection errors, 408/429/5xx); S3's answers
// are read by s3_responses.h into "S3 GetObject s3://b/k: 404 NoSuchKey:
// ... (request id X)", retryable as that header says. RequestTimeout (a 400)
// is tried again here, up to twice, signed anew. Credentials never appear in
// an error.
//
// Blocking: worker threads only (a run's thread). One S3Client may serve
// several threads at once (it holds only its options and the client).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aws/credentials.h"
#include "aws/s3_responses.h"
#include "aws/sigv4.h"
#include "core/result.h"
#include "core/time.h"
#include "http/client.h"

namespace aws {

struct S3Options {
  std::string region;
  std::string endpoint;  // empty: https://s3.<region>.amazonaws.com
  Credentials credentials;
  std::optional<std::filesystem::path> ca_file;  // for calls whose CallOptions set none
  std::uint64_t multipart_threshold = std::uint64_t(64) << 20;
  // Raised to S3's minimum of 5 MiB, and as far as needed to stay within
  // 10,000 parts.
  std::uint64_t part_size = std::uint64_t(16) << 20;
  int parallel_parts = 4;  // UploadPart requests in flight, 1..16
  // Uploads from files sign the payload's SHA-256 (read once more to compute
  // it); false sends UNSIGNED-PAYLOAD, which S3 accepts (TLS protects the body).
  bool sign_payload = true;
  int list_page_size = 1000;  // max-keys per ListObjectsV2 page, 1..1000
  // Signing time; empty: the system clock.
  std::function<core::TimePoint()> clock;
};

// The S3Options of a job's `aws:` block: region and credentials resolved
// (ResolveRegion, ResolveCredentials: their errors as they are), the endpoint
// from s3_endpoint, the CA file; the sizes at their defaults.
core::Result<S3Options> S3OptionsFor(const AwsSettings& settings, const Environment& env);

// An s3:// URL's parts.
struct S3Location {
  std::string bucket;
  std::string key;  // may be empty or a prefix ending in '/'
  std::string ToString() const { return "s3://" + bucket + "/" + key; }
};

// "s3://bucket/some/prefix/" -> {bucket, "some/prefix/"}. The bucket must be
// a valid S3 bucket name (3-63 of a-z 0-9 . -, starting and ending with a
// letter or digit); errors (kInvalidArgument) say what is wrong.
core::Result<S3Location> ParseS3Url(std::string_view url);

// https://s3.<region>.amazonaws.com: S3's regional endpoint.
std::string S3Endpoint(std::string_view region);

// <endpoint>/<bucket>[/<key, each segment percent-encoded>][?query]: the
// path-style URL of an object (or, with an empty key, of the bucket).
std::string S3ObjectUrl(std::string_view endpoint, std::string_view bucket, std::string_view key,
                        std::string_view query = {});

class S3Client {
 public:
  static constexpr std::uint64_t kMaxObjectBytes = std::uint64_t(5) << 40;  // 5 TiB
  static constexpr std::uint64_t kMinPartBytes = std::uint64_t(5) << 20;
  static constexpr std::uint64_t kMaxSinglePutBytes = std::uint64_t(5) << 30;
  static constexpr std::uint64_t kMaxParts = 10'000;

  // `http` must outlive this object.
  S3Client(http::Client& http, S3Options options);

  // Downloads the object into `to_file`. A body larger than `max_bytes`
  // fails the call (and leaves no file).
  core::Result<ObjectInfo> GetObject(std::string_view bucket, std::string_view key,
                                     const std::filesystem::path& to_file,
                                     const http::CallOptions& options,
                                     std::uint64_t max_bytes = kMaxObjectBytes);

  // Uploads the file: one PUT below the multipart threshold, multipart from
  // it on. The file must not change while it is uploaded. The result's
  // etag is S3's (for a multipart object "<md5 of md5s>-<parts>").
  core::Result<ObjectInfo> PutObject(std::string_view bucket, std::string_view key,
                                     const std::filesystem::path& from_file,
                                     const http::CallOptions& options);
  // Uploads a small object held in memory.
  core::Result<ObjectInfo> PutObject(std::string_view bucket, std::string_view key,
                                     std::string body, const http::CallOptions& options);
  // A string literal could be either: say std::string(...) or a path.
  core::Result<ObjectInfo> PutObject(std::string_view, std::string_view, const char*,
                                     const http::CallOptions&) = delete;

  // Every object under `prefix` (all pages), in S3's order (by key).
  core::Result<std::vector<ObjectInfo>> ListObjectsV2(std::string_view bucket,
                                                      std::string_view prefix,
                                                      const http::CallOptions& options);

  // Deleting a key that does not exist succeeds, as in S3.
  core::Result<void> DeleteObject(std::string_view bucket, std::string_view key,
                                  const http::CallOptions& options);

  // S3ObjectUrl on this client's endpoint: what is sent.
  std::string ObjectUrl(std::string_view bucket, std::string_view key,
                        std::string_view query = {}) const;
  const S3Options& options() const { return options_; }

 private:
  struct Request;
  http::ClientRequest Prepare(const Request& request) const;
  http::CallOptions CallOptionsFor(const http::CallOptions& options) const;
  // Sends, retrying RequestTimeout; a non-2xx answer becomes its Error.
  core::Result<http::ClientResponse> Send(const Request& request,
                                          const http::CallOptions& options) const;
  core::Result<http::ClientResponse> Finish(const Request& request,
                                            core::Result<http::ClientResponse> response) const;
  core::Result<ObjectInfo> PutSingle(std::string_view bucket, std::string_view key,
                                     const std::filesystem::path& from_file, std::uint64_t size,
                                     const http::CallOptions& options);
  core::Result<ObjectInfo> PutMultipart(std::string_view bucket, std::string_view key,
                                        const std::filesystem::path& from_file, std::uint64_t size,
                                        const http::CallOptions& options);
  // AbortMultipartUpload; an error text to append, "" when it worked.
  std::string Abort(std::string_view bucket, std::string_view key, const std::string& upload_id);
  core::TimePoint Now() const;

  // Set once in the constructor.
  http::Client& http_;
  S3Options options_;
};

}  // namespace aws
