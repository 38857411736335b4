// What S3 answers, read: error documents turned into an Error with the
// operation, the object and S3's own code, message and request id; the pages
// of ListObjectsV2; the multipart upload results; the bodies S3Client sends.
//
// Which errors may be retried: any 5xx, and the codes SlowDown,
// RequestTimeout, InternalError, ServiceUnavailable, Throttling and
// RequestTimeTooSkewed (a clock step; the next try signs with a new time).
// Everything else (AccessDenied, NoSuchBucket, NoSuchKey,
// InvalidAccessKeyId, SignatureDoesNotMatch, ...) is not.
//
// Pure functions; any thread. Nothing here ever quotes a credential; a
// non-S3 error body (a proxy's HTML page) is quoted at most 120 bytes,
// control bytes replaced.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"
#include "core/time.h"

namespace aws {

struct ObjectInfo {
  std::string key;
  std::uint64_t size = 0;
  std::string etag;  // without the quotes S3 puts around it
  std::optional<core::TimePoint> last_modified;
};

// The fields of an <Error> document; nullopt when `body` is not one.
struct S3ErrorDocument {
  std::string code;
  std::string message;
  std::string request_id;
};
std::optional<S3ErrorDocument> ParseS3Error(std::string_view body);

bool IsRetryableS3Error(int status, std::string_view code);

// The Error for a failed answer: "S3 GetObject s3://b/k: 404 NoSuchKey: The
// specified key does not exist. (request id X)". `request_id_header` is
// x-amz-request-id, used when the body has none (a HEAD's answer has no body).
// kNotFound for 404, kUpstream otherwise.
core::Error S3Failure(std::string_view operation, std::string_view target, int status,
                      std::string_view body, std::string_view request_id_header = {});

struct ListObjectsPage {
  std::vector<ObjectInfo> objects;
  bool truncated = false;
  std::string next_continuation_token;
};
// A <ListBucketResult>; an error for anything else, a <Contents> without a
// Key or with a size that is no number, or a truncated page with no token.
core::Result<ListObjectsPage> ParseListObjectsPage(std::string_view body);

// InitiateMultipartUploadResult's UploadId.
core::Result<std::string> ParseUploadId(std::string_view body);

// CompleteMultipartUpload's answer: the new object's ETag (unquoted). S3 may
// answer 200 and still fail, with an <Error> body: that is the Error here
// (S3Failure with status 200; retryable as its code says).
core::Result<std::string> ParseCompleteMultipartUpload(std::string_view operation,
                                                       std::string_view target,
                                                       std::string_view body);

// The CompleteMultipartUpload request body for (part number, ETag as S3 sent it).
std::string CompleteMultipartUploadBody(const std::vector<std::pair<int, std::string>>& parts);

// An ETag without its quotes (and without a weak "W/" prefix).
std::string UnquoteEtag(std::string_view etag);

// An HTTP date (IMF-fixdate, "Wed, 21 Oct 2015 07:28:00 GMT"), as in Last-Modified.
std::optional<core::TimePoint> ParseHttpDate(std::string_view text);

}  // namespace aws
