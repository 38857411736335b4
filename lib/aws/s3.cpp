#include "aws/s3.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <fstream>
#include <system_error>
#include <utility>

#include "crypto/hex.h"
#include "crypto/sha256.h"
#include "http/url.h"

namespace aws {

struct S3Client::Request {
  Request(std::string operation_name, std::string http_method, std::string_view bucket_name,
          std::string_view object_key = {}, std::string query_string = {})
      : operation(std::move(operation_name)),
        method(std::move(http_method)),
        bucket(bucket_name),
        key(object_key),
        query(std::move(query_string)) {}

  std::string operation;  // "GetObject": for errors
  std::string method;
  std::string bucket;
  std::string key;
  std::string query;
  std::vector<http::Header> headers;
  std::string body;
  std::optional<http::FileBody> body_file;
  std::string payload_hash;  // empty: the SHA-256 of `body`

  std::string Target() const { return "s3://" + bucket + "/" + key; }
};

namespace {

constexpr int kRequestTimeoutRetries = 2;

core::Error WithContext(const std::string& context, const core::Error& error) {
  return core::Error{error.kind, context + ": " + error.message, error.retryable};
}

core::Error BadCall(const std::string& context, std::string what) {
  return core::InvalidArgument(context + ": " + std::move(what));
}

// The hex SHA-256 of `length` bytes of `file` from `offset`.
core::Result<std::string> HashFileRange(const std::filesystem::path& file, std::uint64_t offset,
                                        std::uint64_t length) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return core::Unexpected(
        core::Error{core::ErrorKind::kIo, "cannot open " + file.string(), false});
  }
  in.seekg(std::streamoff(offset));
  crypto::Sha256 hash;
  std::vector<char> buffer(std::size_t(1) << 20);
  std::uint64_t left = length;
  while (left > 0 && in) {
    in.read(buffer.data(), std::streamsize(std::min<std::uint64_t>(left, buffer.size())));
    const std::streamsize got = in.gcount();
    if (got <= 0) break;
    hash.Update(buffer.data(), std::size_t(got));
    left -= std::uint64_t(got);
  }
  if (left > 0) {
    return core::Unexpected(
        core::Error{core::ErrorKind::kIo,
                    file.string() + " ended early (did it change while uploading?)", false});
  }
  return crypto::Hex(hash.Finish());
}

bool ValidBucketName(std::string_view name) {
  if (name.size() < 3 || name.size() > 63) return false;
  const auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(name.front()) || !alnum(name.back())) return false;
  if (name.find("..") != std::string_view::npos) return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return alnum(c) || c == '.' || c == '-'; });
}

// Whether the bucket can go into a path: S3Client takes any name S3 could
// answer about (old buckets have upper-case names), but never one that
// would change the path.
std::optional<std::string> BucketProblem(std::string_view bucket) {
  if (bucket.empty()) return "no bucket";
  if (bucket.find('/') != std::string_view::npos) return "a bucket name has no '/'";
  return std::nullopt;
}

std::string EncodeKey(std::string_view key) {
  std::string out;
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = key.find('/', start);
    out += http::PercentEncode(key.substr(start, slash - start));
    if (slash == std::string_view::npos) break;
    out += '/';
    start = slash + 1;
  }
  return out;
}

std::optional<std::string> ErrorCode(const http::ClientResponse& response) {
  if (auto error = ParseS3Error(response.body)) return error->code;
  return std::nullopt;
}

}  // namespace

core::Result<S3Options> S3OptionsFor(const AwsSettings& settings, const Environment& env) {
  core::Result<std::string> region = ResolveRegion(settings, env);
  if (!region) return core::Unexpected(region.error());
  core::Result<Credentials> credentials = ResolveCredentials(settings, env);
  if (!credentials) return core::Unexpected(credentials.error());
  S3Options options;
  options.region = std::move(*region);
  options.endpoint = settings.s3_endpoint;
  options.credentials = std::move(*credentials);
  options.ca_file = settings.ca_file;
  return options;
}

core::Result<S3Location> ParseS3Url(std::string_view url) {
  constexpr std::string_view kScheme = "s3://";
  const std::string quoted = "'" + std::string(url) + "'";
  if (url.substr(0, kScheme.size()) != kScheme) {
    return core::Unexpected(
        core::InvalidArgument("expected an s3:// URL like s3://bucket/prefix/, got " + quoted));
  }
  url.remove_prefix(kScheme.size());
  const std::size_t slash = url.find('/');
  S3Location out;
  out.bucket = std::string(url.substr(0, slash));
  if (slash != std::string_view::npos) out.key = std::string(url.substr(slash + 1));
  if (out.bucket.empty()) {
    return core::Unexpected(core::InvalidArgument("S3 URL " + quoted + " has no bucket"));
  }
  if (!ValidBucketName(out.bucket)) {
    return core::Unexpected(core::InvalidArgument(
        "S3 URL " + quoted + ": '" + out.bucket +
        "' is not a bucket name (3-63 characters of a-z, 0-9, '.' and '-', starting and ending "
        "with a letter or digit)"));
  }
  return out;
}

S3Client::S3Client(http::Client& http, S3Options options)
    : http_(http), options_(std::move(options)) {
  if (options_.endpoint.empty()) options_.endpoint = S3Endpoint(options_.region);
  while (!options_.endpoint.empty() && options_.endpoint.back() == '/') {
    options_.endpoint.pop_back();
  }
  options_.part_size = std::max(options_.part_size, kMinPartBytes);
  options_.parallel_parts = std::clamp(options_.parallel_parts, 1, 16);
  options_.list_page_size = std::clamp(options_.list_page_size, 1, 1000);
}

core::TimePoint S3Client::Now() const {
  if (options_.clock) return options_.clock();
  return std::chrono::time_point_cast<core::Duration>(std::chrono::system_clock::now());
}

std::string S3Endpoint(std::string_view region) {
  return "https://s3." + std::string(region) + ".amazonaws.com";
}

std::string S3ObjectUrl(std::string_view endpoint, std::string_view bucket, std::string_view key,
                        std::string_view query) {
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.remove_suffix(1);
  std::string url = std::string(endpoint) + "/" + http::PercentEncode(bucket);
  if (!key.empty()) url += "/" + EncodeKey(key);
  if (!query.empty()) url += "?" + std::string(query);
  return url;
}

std::string S3Client::ObjectUrl(std::string_view bucket, std::string_view key,
                                std::string_view query) const {
  return S3ObjectUrl(options_.endpoint, bucket, key, query);
}

http::ClientRequest S3Client::Prepare(const Request& request) const {
  http::ClientRequest out;
  out.method = request.method;
  out.url = ObjectUrl(request.bucket, request.key, request.query);
  out.headers = request.headers;
  out.body = request.body;
  out.body_file = request.body_file;
  SignRequest(out, options_.credentials, SigningScope{options_.region, "s3"}, Now(),
              request.payload_hash);
  return out;
}

http::CallOptions S3Client::CallOptionsFor(const http::CallOptions& options) const {
  http::CallOptions out = options;
  if (!out.ca_file && options_.ca_file) out.ca_file = options_.ca_file;
  return out;
}

core::Result<http::ClientResponse> S3Client::Finish(
    const Request& request, core::Result<http::ClientResponse> response) const {
  const std::string context = "S3 " + request.operation + " " + request.Target();
  if (!response) return core::Unexpected(WithContext(context, response.error()));
  if (response->status >= 200 && response->status < 300) return response;
  const std::string request_id(response->Find("x-amz-request-id").value_or(""));
  return core::Unexpected(
      S3Failure(request.operation, request.Target(), response->status, response->body, request_id));
}

core::Result<http::ClientResponse> S3Client::Send(const Request& request,
                                                  const http::CallOptions& options) const {
  for (int attempt = 0;; ++attempt) {
    core::Result<http::ClientResponse> response = http_.Send(Prepare(request), options);
    // S3 answers a body that came too slowly with 400 RequestTimeout, which
    // the HTTP client (rightly, for a 400) does not retry.
    if (response && response->status == 400 && attempt < kRequestTimeoutRetries &&
        ErrorCode(*response) == "RequestTimeout") {
      continue;
    }
    return Finish(request, std::move(response));
  }
}

core::Result<ObjectInfo> S3Client::GetObject(std::string_view bucket, std::string_view key,
                                             const std::filesystem::path& to_file,
                                             const http::CallOptions& options,
                                             std::uint64_t max_bytes) {
  Request request("GetObject", "GET", bucket, key);
  if (auto problem = BucketProblem(bucket)) {
    return core::Unexpected(BadCall("S3 GetObject " + request.Target(), *problem));
  }
  if (key.empty()) return core::Unexpected(BadCall("S3 GetObject " + request.Target(), "no key"));
  http::CallOptions call = CallOptionsFor(options);
  call.body_file = to_file;
  call.max_body_bytes = std::size_t(std::min<std::uint64_t>(max_bytes, SIZE_MAX));
  core::Result<http::ClientResponse> response = Send(request, call);
  if (!response) return core::Unexpected(response.error());
  if (!response->body_file) {
    // A 2xx without a body file (a 204) has nothing to stream: an empty object.
    std::ofstream(to_file, std::ios::binary | std::ios::trunc);
  }
  ObjectInfo info;
  info.key = std::string(key);
  info.size = response->body_bytes;
  info.etag = UnquoteEtag(response->Find("ETag").value_or(""));
  if (auto modified = response->Find("Last-Modified"))
    info.last_modified = ParseHttpDate(*modified);
  return info;
}

core::Result<ObjectInfo> S3Client::PutObject(std::string_view bucket, std::string_view key,
                                             const std::filesystem::path& from_file,
                                             const http::CallOptions& options) {
  const std::string context = "S3 PutObject s3://" + std::string(bucket) + "/" + std::string(key);
  if (auto problem = BucketProblem(bucket)) return core::Unexpected(BadCall(context, *problem));
  if (key.empty()) return core::Unexpected(BadCall(context, "no key"));
  std::error_code ec;
  const std::uint64_t size = std::filesystem::file_size(from_file, ec);
  if (ec) {
    return core::Unexpected(
        core::Error{core::ErrorKind::kIo,
                    context + ": cannot read " + from_file.string() + ": " + ec.message(), false});
  }
  if (size > 0 && (size >= options_.multipart_threshold || size > kMaxSinglePutBytes)) {
    return PutMultipart(bucket, key, from_file, size, options);
  }
  return PutSingle(bucket, key, from_file, size, options);
}

core::Result<ObjectInfo> S3Client::PutSingle(std::string_view bucket, std::string_view key,
                                             const std::filesystem::path& from_file,
                                             std::uint64_t size, const http::CallOptions& options) {
  Request request("PutObject", "PUT", bucket, key);
  request.body_file = http::FileBody{from_file, 0, size};
  if (options_.sign_payload) {
    core::Result<std::string> hash = HashFileRange(from_file, 0, size);
    if (!hash)
      return core::Unexpected(WithContext("S3 PutObject " + request.Target(), hash.error()));
    request.payload_hash = std::move(*hash);
  } else {
    request.payload_hash = kUnsignedPayload;
  }
  core::Result<http::ClientResponse> response = Send(request, CallOptionsFor(options));
  if (!response) return core::Unexpected(response.error());
  return ObjectInfo{std::string(key), size, UnquoteEtag(response->Find("ETag").value_or("")),
                    std::nullopt};
}

core::Result<ObjectInfo> S3Client::PutObject(std::string_view bucket, std::string_view key,
                                             std::string body, const http::CallOptions& options) {
  Request request("PutObject", "PUT", bucket, key);
  if (auto problem = BucketProblem(bucket)) {
    return core::Unexpected(BadCall("S3 PutObject " + request.Target(), *problem));
  }
  if (key.empty()) return core::Unexpected(BadCall("S3 PutObject " + request.Target(), "no key"));
  const std::uint64_t size = body.size();
  request.body = std::move(body);
  core::Result<http::ClientResponse> response = Send(request, CallOptionsFor(options));
  if (!response) return core::Unexpected(response.error());
  return ObjectInfo{std::string(key), size, UnquoteEtag(response->Find("ETag").value_or("")),
                    std::nullopt};
}

core::Result<ObjectInfo> S3Client::PutMultipart(std::string_view bucket, std::string_view key,
                                                const std::filesystem::path& from_file,
                                                std::uint64_t size,
                                                const http::CallOptions& options) {
  const http::CallOptions call = CallOptionsFor(options);
  Request create("CreateMultipartUpload", "POST", bucket, key, "uploads");
  core::Result<http::ClientResponse> created = Send(create, call);
  if (!created) return core::Unexpected(created.error());
  core::Result<std::string> upload_id = ParseUploadId(created->body);
  if (!upload_id) {
    return core::Unexpected(
        WithContext("S3 CreateMultipartUpload " + create.Target(), upload_id.error()));
  }

  const std::uint64_t part_size = std::max(options_.part_size, (size + kMaxParts - 1) / kMaxParts);
  const std::uint64_t part_count = (size + part_size - 1) / part_size;
  const std::string upload_query = "uploadId=" + http::PercentEncode(*upload_id);

  struct InFlight {
    int number;
    Request request;
    http::PendingResponse pending;
  };
  std::deque<InFlight> in_flight;
  std::vector<std::pair<int, std::string>> etags;
  std::optional<core::Error> failure;

  // Waits for the oldest part; false once something failed.
  const auto collect = [&]() -> bool {
    InFlight part = std::move(in_flight.front());
    in_flight.pop_front();
    core::Result<http::ClientResponse> response = part.pending.Wait();
    if (response && response->status == 400 && ErrorCode(*response) == "RequestTimeout") {
      response = Send(part.request, call);  // signed anew, with its own retries
    } else {
      response = Finish(part.request, std::move(response));
    }
    if (!response) {
      failure = response.error();
      return false;
    }
    const std::optional<std::string_view> etag = response->Find("ETag");
    if (!etag || etag->empty()) {
      failure = core::Error{core::ErrorKind::kUpstream,
                            "S3 UploadPart " + part.request.Target() + ": part " +
                                std::to_string(part.number) + " answered without an ETag",
                            true};
      return false;
    }
    etags.emplace_back(part.number, std::string(*etag));
    return true;
  };

  for (std::uint64_t index = 0; index < part_count && !failure; ++index) {
    if (call.cancelled && call.cancelled()) {
      failure = core::Error{core::ErrorKind::kCancelled,
                            "S3 PutObject " + create.Target() + ": cancelled", false};
      break;
    }
    if (int(in_flight.size()) >= options_.parallel_parts && !collect()) break;
    const int number = int(index + 1);
    const std::uint64_t offset = index * part_size;
    const std::uint64_t length = std::min(part_size, size - offset);
    Request part("UploadPart", "PUT", bucket, key,
                 "partNumber=" + std::to_string(number) + "&" + upload_query);
    part.body_file = http::FileBody{from_file, offset, length};
    if (options_.sign_payload) {
      core::Result<std::string> hash = HashFileRange(from_file, offset, length);
      if (!hash) {
        failure = WithContext("S3 UploadPart " + part.Target(), hash.error());
        break;
      }
      part.payload_hash = std::move(*hash);
    } else {
      part.payload_hash = kUnsignedPayload;
    }
    http::PendingResponse pending = http_.Start(Prepare(part), call);
    in_flight.push_back(InFlight{number, std::move(part), std::move(pending)});
  }
  while (!failure && !in_flight.empty()) collect();
  // Parts still in flight after a failure are aborted by dropping them.
  in_flight.clear();

  if (!failure) {
    std::sort(etags.begin(), etags.end());
    Request complete("CompleteMultipartUpload", "POST", bucket, key, upload_query);
    complete.headers.push_back({"Content-Type", "application/xml"});
    complete.body = CompleteMultipartUploadBody(etags);
    core::Result<http::ClientResponse> completed = Send(complete, call);
    if (completed) {
      core::Result<std::string> etag =
          ParseCompleteMultipartUpload(complete.operation, complete.Target(), completed->body);
      if (etag) return ObjectInfo{std::string(key), size, *etag, std::nullopt};
      failure = etag.error();
    } else {
      failure = completed.error();
    }
  }

  const std::string abort_problem = Abort(bucket, key, *upload_id);
  if (!abort_problem.empty()) {
    failure->message += "; AbortMultipartUpload failed too, so the parts of upload " + *upload_id +
                        " may remain until a lifecycle rule removes them: " + abort_problem;
  }
  return core::Unexpected(*failure);
}

std::string S3Client::Abort(std::string_view bucket, std::string_view key,
                            const std::string& upload_id) {
  // A fresh deadline without the run's cancellation: the abort is what
  // cleans up after a cancelled run.
  http::CallOptions call;
  call.deadline = std::chrono::time_point_cast<core::Duration>(std::chrono::system_clock::now() +
                                                               std::chrono::seconds(10));
  call.retry = http::RetryPolicy{};
  call.retry->max_retries = 1;
  call.ca_file = options_.ca_file;
  Request abort("AbortMultipartUpload", "DELETE", bucket, key,
                "uploadId=" + http::PercentEncode(upload_id));
  core::Result<http::ClientResponse> response = Send(abort, call);
  if (response) return {};
  return response.error().message;
}

core::Result<std::vector<ObjectInfo>> S3Client::ListObjectsV2(std::string_view bucket,
                                                              std::string_view prefix,
                                                              const http::CallOptions& options) {
  Request request("ListObjectsV2", "GET", bucket);
  const std::string target = "s3://" + std::string(bucket) + "/" + std::string(prefix);
  if (auto problem = BucketProblem(bucket)) {
    return core::Unexpected(BadCall("S3 ListObjectsV2 " + target, *problem));
  }
  const http::CallOptions call = CallOptionsFor(options);
  std::vector<ObjectInfo> objects;
  std::string token;
  for (int page_number = 1;; ++page_number) {
    request.query = "list-type=2&max-keys=" + std::to_string(options_.list_page_size);
    if (!prefix.empty()) request.query += "&prefix=" + http::PercentEncode(prefix);
    if (!token.empty()) request.query += "&continuation-token=" + http::PercentEncode(token);
    core::Result<http::ClientResponse> response = Send(request, call);
    if (!response) return core::Unexpected(response.error());
    core::Result<ListObjectsPage> page = ParseListObjectsPage(response->body);
    if (!page) {
      return core::Unexpected(WithContext(
          "S3 ListObjectsV2 " + target + ": page " + std::to_string(page_number), page.error()));
    }
    for (ObjectInfo& info : page->objects) objects.push_back(std::move(info));
    if (!page->truncated) return objects;
    if (page->next_continuation_token == token) {
      return core::Unexpected(core::Error{core::ErrorKind::kUpstream,
                                          "S3 ListObjectsV2 " + target + ": page " +
                                              std::to_string(page_number) +
                                              " repeats the continuation token it was asked with",
                                          false});
    }
    token = page->next_continuation_token;
  }
}

core::Result<void> S3Client::DeleteObject(std::string_view bucket, std::string_view key,
                                          const http::CallOptions& options) {
  Request request("DeleteObject", "DELETE", bucket, key);
  if (auto problem = BucketProblem(bucket)) {
    return core::Unexpected(BadCall("S3 DeleteObject " + request.Target(), *problem));
  }
  if (key.empty()) {
    return core::Unexpected(BadCall("S3 DeleteObject " + request.Target(), "no key"));
  }
  core::Result<http::ClientResponse> response = Send(request, CallOptionsFor(options));
  if (!response) return core::Unexpected(response.error());
  return {};
}

}  // namespace aws
