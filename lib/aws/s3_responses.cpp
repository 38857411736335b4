#include "aws/s3_responses.h"

#include <array>
#include <cctype>
#include <charconv>
#include <chrono>

#include "aws/xml.h"

namespace aws {
namespace {

std::string Snippet(std::string_view body) {
  constexpr std::size_t kMax = 120;
  std::string out;
  for (std::size_t i = 0; i < body.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(body[i]);
    out += (c >= 0x20 && c < 0x7F) ? char(c) : '?';
  }
  if (body.size() > kMax) out += "...";
  return out;
}

core::Error Malformed(std::string_view what, const core::Error& cause) {
  return core::Error{core::ErrorKind::kUpstream, "S3 " + std::string(what) + ": " + cause.message,
                     false};
}

core::Error Problem(std::string_view what, std::string message) {
  return core::Error{core::ErrorKind::kUpstream, "S3 " + std::string(what) + ": " + message, false};
}

std::optional<std::uint64_t> ParseCount(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

}  // namespace

std::optional<S3ErrorDocument> ParseS3Error(std::string_view body) {
  const core::Result<XmlElement> root = ParseXml(body);
  if (!root || root->name != "Error") return std::nullopt;
  return S3ErrorDocument{root->ChildText("Code"), root->ChildText("Message"),
                         root->ChildText("RequestId")};
}

bool IsRetryableS3Error(int status, std::string_view code) {
  if (status >= 500) return true;
  for (std::string_view retryable : {"SlowDown", "RequestTimeout", "InternalError",
                                     "ServiceUnavailable", "Throttling", "RequestTimeTooSkewed"}) {
    if (code == retryable) return true;
  }
  return false;
}

core::Error S3Failure(std::string_view operation, std::string_view target, int status,
                      std::string_view body, std::string_view request_id_header) {
  std::string message =
      "S3 " + std::string(operation) + " " + std::string(target) + ": " + std::to_string(status);
  std::string code;
  std::string request_id(request_id_header);
  if (const std::optional<S3ErrorDocument> error = ParseS3Error(body)) {
    code = error->code;
    if (!error->request_id.empty()) request_id = error->request_id;
    if (!code.empty()) message += " " + code;
    if (!error->message.empty()) message += ": " + error->message;
  } else if (body.empty()) {
    message += " (no error document)";
  } else {
    message += " (not an S3 error document: '" + Snippet(body) + "')";
  }
  if (!request_id.empty()) message += " (request id " + request_id + ")";
  const core::ErrorKind kind =
      status == 404 ? core::ErrorKind::kNotFound : core::ErrorKind::kUpstream;
  return core::Error{kind, std::move(message), IsRetryableS3Error(status, code)};
}

core::Result<ListObjectsPage> ParseListObjectsPage(std::string_view body) {
  constexpr std::string_view kWhat = "ListObjectsV2 answer";
  core::Result<XmlElement> root = ParseXml(body);
  if (!root) return core::Unexpected(Malformed(kWhat, root.error()));
  if (root->name != "ListBucketResult") {
    return core::Unexpected(
        Problem(kWhat, "expected <ListBucketResult>, got <" + root->name + ">"));
  }
  ListObjectsPage page;
  for (const XmlElement* contents : root->Children("Contents")) {
    ObjectInfo info;
    const XmlElement* key = contents->Child("Key");
    if (key == nullptr) return core::Unexpected(Problem(kWhat, "a <Contents> without <Key>"));
    info.key = key->text;
    const std::optional<std::uint64_t> size = ParseCount(contents->ChildText("Size"));
    if (!size) {
      return core::Unexpected(Problem(kWhat, "<Size> of '" + info.key + "' is not a number"));
    }
    info.size = *size;
    info.etag = UnquoteEtag(contents->ChildText("ETag"));
    if (const XmlElement* modified = contents->Child("LastModified")) {
      if (auto time = core::ParseRfc3339(modified->text)) info.last_modified = *time;
    }
    page.objects.push_back(std::move(info));
  }
  const std::string truncated = root->ChildText("IsTruncated");
  if (truncated != "true" && truncated != "false" && !truncated.empty()) {
    return core::Unexpected(Problem(kWhat, "<IsTruncated> is neither true nor false"));
  }
  page.truncated = truncated == "true";
  page.next_continuation_token = root->ChildText("NextContinuationToken");
  if (page.truncated && page.next_continuation_token.empty()) {
    return core::Unexpected(
        Problem(kWhat, "the page is truncated but has no <NextContinuationToken>"));
  }
  return page;
}

core::Result<std::string> ParseUploadId(std::string_view body) {
  constexpr std::string_view kWhat = "CreateMultipartUpload answer";
  core::Result<XmlElement> root = ParseXml(body);
  if (!root) return core::Unexpected(Malformed(kWhat, root.error()));
  if (root->name != "InitiateMultipartUploadResult") {
    return core::Unexpected(
        Problem(kWhat, "expected <InitiateMultipartUploadResult>, got <" + root->name + ">"));
  }
  std::string id = root->ChildText("UploadId");
  if (id.empty()) return core::Unexpected(Problem(kWhat, "no <UploadId>"));
  return id;
}

core::Result<std::string> ParseCompleteMultipartUpload(std::string_view operation,
                                                       std::string_view target,
                                                       std::string_view body) {
  core::Result<XmlElement> root = ParseXml(body);
  const std::string what = std::string(operation) + " " + std::string(target);
  if (!root) return core::Unexpected(Malformed(what, root.error()));
  if (root->name == "Error") return core::Unexpected(S3Failure(operation, target, 200, body));
  if (root->name != "CompleteMultipartUploadResult") {
    return core::Unexpected(
        Problem(what, "expected <CompleteMultipartUploadResult>, got <" + root->name + ">"));
  }
  return UnquoteEtag(root->ChildText("ETag"));
}

std::string CompleteMultipartUploadBody(const std::vector<std::pair<int, std::string>>& parts) {
  std::string out = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
  for (const auto& [number, etag] : parts) {
    out += "<Part><PartNumber>" + std::to_string(number) + "</PartNumber><ETag>" + XmlEscape(etag) +
           "</ETag></Part>";
  }
  return out + "</CompleteMultipartUpload>";
}

std::string UnquoteEtag(std::string_view etag) {
  if (etag.substr(0, 2) == "W/") etag.remove_prefix(2);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  return std::string(etag);
}

std::optional<core::TimePoint> ParseHttpDate(std::string_view text) {
  using namespace std::chrono;
  // "Wed, 21 Oct 2015 07:28:00 GMT"
  if (text.size() != 29 || text.substr(3, 2) != ", " || text.substr(25) != " GMT") {
    return std::nullopt;
  }
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  unsigned month_number = 0;
  for (unsigned i = 0; i < kMonths.size(); ++i) {
    if (text.substr(8, 3) == kMonths[i]) month_number = i + 1;
  }
  const auto number = [&](std::size_t at, std::size_t length) -> int {
    int value = 0;
    for (std::size_t i = at; i < at + length; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(text[i]))) return -1;
      value = value * 10 + (text[i] - '0');
    }
    return value;
  };
  const int d = number(5, 2), y = number(12, 4), h = number(17, 2), m = number(20, 2),
            s = number(23, 2);
  if (month_number == 0 || d < 0 || y < 0 || h < 0 || h > 23 || m < 0 || m > 59 || s < 0 ||
      s > 60 || text[7] != ' ' || text[11] != ' ' || text[16] != ' ' || text[19] != ':' ||
      text[22] != ':') {
    return std::nullopt;
  }
  const year_month_day ymd{year(y), month(month_number), day(unsigned(d))};
  if (!ymd.ok()) return std::nullopt;
  return time_point_cast<core::Duration>(sys_days(ymd) + hours(h) + minutes(m) +
                                         std::chrono::seconds(s));
}

}  // namespace aws
