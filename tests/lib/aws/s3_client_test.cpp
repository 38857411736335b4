// S3Client against a fake S3 on loopback that checks every request's SigV4
// signature (VerifySignature) and the payload hash, and can misbehave on
// cue: a 500 before the answer, a body cut short, a refused part, a 200 that
// carries an error, a listing that never ends.
#include "aws/s3.h"

#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "crypto/sha256.h"
#include "tests/fakes/loopback_server.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const aws::Credentials kCredentials{"AKIDFAKE", "fake/secret+key", ""};

std::string ErrorXml(const std::string& code, const std::string& message) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" + code + "</Code><Message>" +
         message + "</Message><RequestId>REQ123</RequestId></Error>";
}

// A fake S3: objects in memory, path-style, every request's signature checked.
class FakeS3 {
 public:
  // Handles a request before the fake does when it returns true.
  using Fault = std::function<bool(const httplib::Request&, httplib::Response&)>;

  FakeS3() {
    const auto handler = [this](const httplib::Request& req, httplib::Response& res) {
      Handle(req, res);
    };
    server_.http().Get(".*", handler);
    server_.http().Put(".*", handler);
    server_.http().Post(".*", handler);
    server_.http().Delete(".*", handler);
    server_.Start();
  }

  // The server first: its threads may still be in a handler (a request the
  // client gave up on) that uses the members below.
  ~FakeS3() { server_.Stop(); }
  FakeS3(const FakeS3&) = delete;
  FakeS3& operator=(const FakeS3&) = delete;

  std::string endpoint() const { return server_.base_url(); }

  void SetFault(Fault fault) {
    std::lock_guard lock(mutex_);
    fault_ = std::move(fault);
  }
  void Put(const std::string& bucket, const std::string& key, std::string bytes) {
    std::lock_guard lock(mutex_);
    objects_[bucket + "/" + key] = std::move(bytes);
  }
  std::optional<std::string> Object(const std::string& bucket, const std::string& key) {
    std::lock_guard lock(mutex_);
    const auto found = objects_.find(bucket + "/" + key);
    if (found == objects_.end()) return std::nullopt;
    return found->second;
  }
  std::vector<std::string> Log() {
    std::lock_guard lock(mutex_);
    return log_;
  }
  std::vector<std::string> SignatureProblems() {
    std::lock_guard lock(mutex_);
    return signature_problems_;
  }
  int Aborts() {
    std::lock_guard lock(mutex_);
    return aborts_;
  }
  std::vector<std::string> PayloadHashes() {
    std::lock_guard lock(mutex_);
    return payload_hashes_;
  }
  std::vector<std::string> Dates() {
    std::lock_guard lock(mutex_);
    return dates_;
  }

 private:
  static std::string Etag(const std::string& bytes) {
    return "\"" + crypto::Sha256Hex(bytes).substr(0, 32) + "\"";
  }

  void Handle(const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mutex_);
    log_.push_back(req.method + " " + req.target);
    const std::size_t question = req.target.find('?');
    aws::SignableRequest received;
    received.method = req.method;
    received.path = req.target.substr(0, question);
    if (question != std::string::npos) received.query = req.target.substr(question + 1);
    for (const auto& [name, value] : req.headers) received.headers.push_back({name, value});
    received.payload_hash = crypto::Sha256Hex(req.body);
    payload_hashes_.push_back(req.get_header_value("x-amz-content-sha256"));
    dates_.push_back(req.get_header_value("x-amz-date"));
    const std::string problem = aws::VerifySignature(received, kCredentials, "us-east-1", "s3");
    if (!problem.empty()) {
      signature_problems_.push_back(problem);
      res.status = 403;
      res.set_content(ErrorXml("SignatureDoesNotMatch", problem), "application/xml");
      return;
    }
    if (fault_ && fault_(req, res)) return;

    // "/bucket" or "/bucket/key" (decoded).
    const std::size_t slash = req.path.find('/', 1);
    const std::string bucket = req.path.substr(1, slash == std::string::npos ? slash : slash - 1);
    const std::string key = slash == std::string::npos ? "" : req.path.substr(slash + 1);
    const std::string id = bucket + "/" + key;
    if (req.method == "GET" && key.empty()) return List(req, res, bucket);
    if (req.method == "GET") {
      const auto found = objects_.find(id);
      if (found == objects_.end()) {
        res.status = 404;
        res.set_content(ErrorXml("NoSuchKey", "The specified key does not exist."),
                        "application/xml");
        return;
      }
      res.set_header("ETag", Etag(found->second));
      res.set_header("Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT");
      res.set_content(found->second, "application/octet-stream");
      return;
    }
    if (req.method == "PUT" && req.has_param("uploadId")) {
      const auto upload = uploads_.find(req.get_param_value("uploadId"));
      if (upload == uploads_.end()) {
        res.status = 404;
        res.set_content(ErrorXml("NoSuchUpload", "The specified upload does not exist."),
                        "application/xml");
        return;
      }
      upload->second[std::stoi(req.get_param_value("partNumber"))] = req.body;
      res.set_header("ETag", Etag(req.body));
      return;
    }
    if (req.method == "PUT") {
      objects_[id] = req.body;
      res.set_header("ETag", Etag(req.body));
      return;
    }
    if (req.method == "POST" && req.has_param("uploads")) {
      const std::string upload = "upload-" + std::to_string(++upload_count_) + "/+=";
      uploads_[upload];
      res.set_content("<InitiateMultipartUploadResult><Bucket>" + bucket + "</Bucket><Key>" + key +
                          "</Key><UploadId>" + upload +
                          "</UploadId></InitiateMultipartUploadResult>",
                      "application/xml");
      return;
    }
    if (req.method == "POST" && req.has_param("uploadId")) return Complete(req, res, id);
    if (req.method == "DELETE" && req.has_param("uploadId")) {
      ++aborts_;
      uploads_.erase(req.get_param_value("uploadId"));
      res.status = 204;
      return;
    }
    if (req.method == "DELETE") {
      objects_.erase(id);
      res.status = 204;
      return;
    }
    res.status = 405;
  }

  void Complete(const httplib::Request& req, httplib::Response& res, const std::string& id) {
    const auto upload = uploads_.find(req.get_param_value("uploadId"));
    if (upload == uploads_.end()) {
      res.status = 404;
      res.set_content(ErrorXml("NoSuchUpload", "no such upload"), "application/xml");
      return;
    }
    // Plain string scanning, independent of the client's XML reader (and of
    // std::regex, which GCC 12 warns about under ASan).
    std::string assembled;
    int expected = 1;
    const std::string open = "<Part><PartNumber>", middle = "</PartNumber><ETag>&quot;",
                      close = "&quot;</ETag></Part>";
    for (std::size_t at = req.body.find(open); at != std::string::npos;
         at = req.body.find(open, at), ++expected) {
      at += open.size();
      const std::size_t number_end = req.body.find(middle, at);
      const std::size_t etag_end =
          number_end == std::string::npos ? number_end : req.body.find(close, number_end);
      const int number = number_end == std::string::npos
                             ? -1
                             : std::atoi(req.body.substr(at, number_end - at).c_str());
      const std::string etag =
          etag_end == std::string::npos
              ? ""
              : req.body.substr(number_end + middle.size(), etag_end - number_end - middle.size());
      const auto stored = upload->second.find(number);
      if (number != expected || stored == upload->second.end() ||
          Etag(stored->second) != "\"" + etag + "\"") {
        res.status = 400;
        res.set_content(ErrorXml("InvalidPart", "part " + std::to_string(number)),
                        "application/xml");
        return;
      }
      assembled += stored->second;
    }
    objects_[id] = assembled;
    uploads_.erase(upload);
    res.set_content("<CompleteMultipartUploadResult><ETag>&quot;done-" +
                        std::to_string(expected - 1) +
                        "&quot;</ETag></CompleteMultipartUploadResult>",
                    "application/xml");
  }

  void List(const httplib::Request& req, httplib::Response& res, const std::string& bucket) {
    const std::string prefix = bucket + "/" + req.get_param_value("prefix");
    const std::size_t max_keys = std::stoul(req.get_param_value("max-keys"));
    std::string after = req.has_param("continuation-token")
                            ? bucket + "/" + req.get_param_value("continuation-token").substr(4)
                            : "";
    std::string body = "<ListBucketResult>";
    std::size_t count = 0;
    std::string last;
    bool more = false;
    for (auto it = objects_.upper_bound(after); it != objects_.end(); ++it) {
      if (it->first.compare(0, prefix.size(), prefix) != 0) continue;
      if (count == max_keys) {
        more = true;
        break;
      }
      last = it->first.substr(bucket.size() + 1);
      body += "<Contents><Key>" + last + "</Key><Size>" + std::to_string(it->second.size()) +
              "</Size><ETag>" + Etag(it->second) + "</ETag>" +
              "<LastModified>2024-01-02T03:04:05.000Z</LastModified></Contents>";
      ++count;
    }
    body += std::string("<IsTruncated>") + (more ? "true" : "false") + "</IsTruncated>";
    if (more) body += "<NextContinuationToken>tok:" + last + "</NextContinuationToken>";
    res.set_content(body + "</ListBucketResult>", "application/xml");
  }

  fakes::LoopbackServer server_;
  std::mutex mutex_;
  Fault fault_;
  std::map<std::string, std::string> objects_;
  std::map<std::string, std::map<int, std::string>> uploads_;
  int upload_count_ = 0;
  int aborts_ = 0;
  std::vector<std::string> log_;
  std::vector<std::string> signature_problems_;
  std::vector<std::string> payload_hashes_;
  std::vector<std::string> dates_;
};

http::ClientOptions FastClient() {
  http::ClientOptions options;
  options.retry.base_backoff = 1ms;
  options.retry.max_backoff = 5ms;
  options.connect_timeout = 2s;
  options.attempt_timeout = 20s;
  return options;
}

aws::S3Options OptionsFor(const FakeS3& fake) {
  aws::S3Options options;
  options.region = "us-east-1";
  options.endpoint = fake.endpoint();
  options.credentials = kCredentials;
  return options;
}

struct TempFolder {
  TempFolder() {
    path = fs::temp_directory_path() /
           ("jobsd-s3-" + std::to_string(::getpid()) + "-" +
            std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    fs::create_directories(path);
  }
  ~TempFolder() { fs::remove_all(path); }
  std::size_t Count() const {
    return std::size_t(std::distance(fs::directory_iterator(path), fs::directory_iterator()));
  }
  fs::path path;
};

std::string ReadAll(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string Pattern(std::size_t size) {
  std::string out(size, '\0');
  std::uint32_t x = 12345;
  for (char& c : out) {
    x = x * 1103515245 + 12345;
    c = char(x >> 24);
  }
  return out;
}

}  // namespace

TEST_CASE("S3Client: signed put, get, list, delete against the fake", "[aws]") {
  FakeS3 fake;
  http::Client http(FastClient());
  aws::S3Client s3(http, OptionsFor(fake));
  TempFolder dir;

  const auto put = s3.PutObject("bucket", "dir/a b+c.txt", std::string("hello"), {});
  REQUIRE(put);
  CHECK(put->size == 5);
  CHECK(put->etag == crypto::Sha256Hex("hello").substr(0, 32));
  CHECK(fake.Object("bucket", "dir/a b+c.txt") == "hello");

  const auto got = s3.GetObject("bucket", "dir/a b+c.txt", dir.path / "out", {});
  REQUIRE(got);
  CHECK(got->size == 5);
  CHECK(got->key == "dir/a b+c.txt");
  CHECK(got->etag == put->etag);
  REQUIRE(got->last_modified);
  CHECK(core::FormatRfc3339(*got->last_modified) == "2015-10-21T07:28:00.000000Z");
  CHECK(ReadAll(dir.path / "out") == "hello");

  fake.Put("bucket", "dir/z", "zz");
  fake.Put("bucket", "other", "o");
  const auto listed = s3.ListObjectsV2("bucket", "dir/", {});
  REQUIRE(listed);
  REQUIRE(listed->size() == 2);
  CHECK((*listed)[0].key == "dir/a b+c.txt");
  CHECK((*listed)[1].key == "dir/z");
  CHECK((*listed)[1].size == 2);

  REQUIRE(s3.DeleteObject("bucket", "dir/a b+c.txt", {}));
  CHECK_FALSE(fake.Object("bucket", "dir/a b+c.txt"));
  CHECK(fake.SignatureProblems().empty());
  CHECK(fake.Log()[0] == "PUT /bucket/dir/a%20b%2Bc.txt");

  SECTION("a file upload signs its SHA-256, or UNSIGNED-PAYLOAD when asked") {
    const fs::path file = dir.path / "in";
    std::ofstream(file, std::ios::binary) << "file body";
    REQUIRE(s3.PutObject("bucket", "f", file, {}));
    CHECK(fake.PayloadHashes().back() == crypto::Sha256Hex("file body"));
    aws::S3Options unsigned_options = OptionsFor(fake);
    unsigned_options.sign_payload = false;
    aws::S3Client unsigned_s3(http, unsigned_options);
    REQUIRE(unsigned_s3.PutObject("bucket", "f2", file, {}));
    CHECK(fake.PayloadHashes().back() == "UNSIGNED-PAYLOAD");
    CHECK(fake.Object("bucket", "f2") == "file body");
    CHECK(fake.SignatureProblems().empty());
  }
  SECTION("a wrong secret is refused by the fake, with its message") {
    aws::S3Options wrong = OptionsFor(fake);
    wrong.credentials.secret_access_key = "nope";
    aws::S3Client bad(http, wrong);
    const auto refused = bad.PutObject("bucket", "k", std::string("x"), {});
    REQUIRE_FALSE(refused);
    CHECK(refused.error().message ==
          "S3 PutObject s3://bucket/k: 403 SignatureDoesNotMatch: signature mismatch (request id "
          "REQ123)");
    CHECK_FALSE(refused.error().retryable);
    CHECK(refused.error().message.find("nope") == std::string::npos);
  }
  SECTION("each request is signed at the time the clock says") {
    aws::S3Options clocked = OptionsFor(fake);
    core::TimePoint now = *aws::ParseAmzDate("20240102T030405Z");
    clocked.clock = [&now] { return now; };
    aws::S3Client at(http, clocked);
    REQUIRE(at.PutObject("bucket", "t1", std::string("1"), {}));
    now += std::chrono::minutes(5);
    REQUIRE(at.PutObject("bucket", "t2", std::string("2"), {}));
    const std::vector<std::string> dates = fake.Dates();
    CHECK(dates[dates.size() - 2] == "20240102T030405Z");
    CHECK(dates.back() == "20240102T030905Z");
  }
  SECTION("an empty object is an empty file") {
    fake.Put("bucket", "empty", "");
    REQUIRE(s3.GetObject("bucket", "empty", dir.path / "empty", {}));
    CHECK(fs::exists(dir.path / "empty"));
    CHECK(fs::file_size(dir.path / "empty") == 0);
  }
}

TEST_CASE("S3Client: NoSuchKey and a bad call are clear errors", "[aws]") {
  FakeS3 fake;
  http::Client http(FastClient());
  aws::S3Client s3(http, OptionsFor(fake));
  TempFolder dir;
  const auto missing = s3.GetObject("bucket", "nope", dir.path / "out", {});
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message ==
        "S3 GetObject s3://bucket/nope: 404 NoSuchKey: The specified key does not exist. "
        "(request id REQ123)");
  CHECK(missing.error().kind == core::ErrorKind::kNotFound);
  CHECK_FALSE(missing.error().retryable);
  CHECK(dir.Count() == 0);
  CHECK(fake.Log().size() == 1);

  // Refused before anything is sent.
  CHECK_FALSE(s3.GetObject("bucket", "", dir.path / "out", {}));
  CHECK_FALSE(s3.GetObject("", "k", dir.path / "out", {}));
  CHECK_FALSE(s3.GetObject("a/b", "k", dir.path / "out", {}));
  const auto no_file = s3.PutObject("bucket", "k", dir.path / "does-not-exist", {});
  REQUIRE_FALSE(no_file);
  CHECK(no_file.error().kind == core::ErrorKind::kIo);
  CHECK_THAT(no_file.error().message,
             Catch::StartsWith("S3 PutObject s3://bucket/k: cannot read "));
  CHECK(fake.Log().size() == 1);
}

TEST_CASE("S3Client: a 500 and then a 200 is retried", "[aws]") {
  std::atomic<int> calls{0};  // outlives the fake's handlers
  FakeS3 fake;
  fake.Put("bucket", "k", "payload");
  fake.SetFault([&](const httplib::Request&, httplib::Response& res) {
    if (calls++ > 0) return false;
    res.status = 500;
    res.set_content(ErrorXml("InternalError", "We encountered an internal error."),
                    "application/xml");
    return true;
  });
  http::Client http(FastClient());
  aws::S3Client s3(http, OptionsFor(fake));
  TempFolder dir;
  const auto got = s3.GetObject("bucket", "k", dir.path / "out", {});
  REQUIRE(got);
  CHECK(calls == 2);
  CHECK(ReadAll(dir.path / "out") == "payload");

  SECTION("500s until the retries run out: retryable, with S3's message") {
    calls = -100;
    http::CallOptions options;
    options.retry = http::RetryPolicy{};
    options.retry->max_retries = 2;
    options.retry->base_backoff = 1ms;
    const auto failed = s3.GetObject("bucket", "k", dir.path / "out2", options);
    REQUIRE_FALSE(failed);
    CHECK(failed.error().message ==
          "S3 GetObject s3://bucket/k: 500 InternalError: We encountered an internal error. "
          "(request id REQ123)");
    CHECK(failed.error().retryable);
    CHECK_FALSE(fs::exists(dir.path / "out2"));
  }
}

TEST_CASE("S3Client: RequestTimeout (a 400) is tried again, signed anew", "[aws]") {
  std::atomic<int> calls{0};  // outlives the fake's handlers
  FakeS3 fake;
  fake.SetFault([&](const httplib::Request&, httplib::Response& res) {
    if (calls++ > 0) return false;
    res.status = 400;
    res.set_content(ErrorXml("RequestTimeout",
                             "Your socket connection to the server was not read "
                             "from or written to within the timeout period."),
                    "application/xml");
    return true;
  });
  http::Client http(FastClient());
  aws::S3Client s3(http, OptionsFor(fake));
  REQUIRE(s3.PutObject("bucket", "k", std::string("v"), {}));
  CHECK(calls == 2);
  CHECK(fake.Object("bucket", "k") == "v");
}

TEST_CASE("S3Client: a body cut short leaves no file", "[aws]") {
  FakeS3 fake;
  fake.SetFault([](const httplib::Request&, httplib::Response& res) {
    res.set_content_provider(1000, "application/octet-stream",
                             [](std::size_t offset, std::size_t, httplib::DataSink& sink) {
                               if (offset > 0) return false;
                               const std::string half(500, 'x');
                               sink.write(half.data(), half.size());
                               return true;
                             });
    return true;
  });
  http::Client http(FastClient());
  aws::S3Client s3(http, OptionsFor(fake));
  TempFolder dir;
  std::ofstream(dir.path / "existing", std::ios::binary) << "old";
  http::CallOptions options;
  options.retry = http::RetryPolicy{};
  options.retry->max_retries = 1;
  options.retry->base_backoff = 1ms;
  const auto got = s3.GetObject("bucket", "k", dir.path / "existing", options);
  REQUIRE_FALSE(got);
  CHECK_THAT(got.error().message, Catch::StartsWith("S3 GetObject s3://bucket/k: "));
  CHECK(ReadAll(dir.path / "existing") == "old");
  CHECK(dir.Count() == 1);
  const auto fresh = s3.GetObject("bucket", "k", dir.path / "fresh", options);
  REQUIRE_FALSE(fresh);
  CHECK_FALSE(fs::exists(dir.path / "fresh"));
  CHECK(dir.Count() == 1);
}

TEST_CASE("S3Client: max_bytes caps a download", "[aws]") {
  FakeS3 fake;
  fake.Put("bucket", "k", std::string(4096, 'a'));
  http::Client http(FastClient());
  aws::S3Client s3(http, OptionsFor(fake));
  TempFolder dir;
  const auto got = s3.GetObject("bucket", "k", dir.path / "out", {}, 1024);
  REQUIRE_FALSE(got);
  CHECK(dir.Count() == 0);
  REQUIRE(s3.GetObject("bucket", "k", dir.path / "out", {}, 4096));
}

TEST_CASE("S3Client: multipart upload against the fake", "[aws]") {
  FakeS3 fake;
  http::Client http(FastClient());
  aws::S3Options options = OptionsFor(fake);
  options.multipart_threshold = 6 << 20;
  options.part_size = 1;  // raised to S3's 5 MiB minimum
  options.parallel_parts = 2;
  aws::S3Client s3(http, options);
  TempFolder dir;
  const std::string content = Pattern((12 << 20) + 12345);
  const fs::path file = dir.path / "big";
  std::ofstream(file, std::ios::binary) << content;

  SECTION("parts in order, each signed with its own hash, then completed") {
    const auto put = s3.PutObject("bucket", "big", file, {});
    REQUIRE(put);
    CHECK(put->etag == "done-3");
    CHECK(put->size == content.size());
    CHECK(fake.Object("bucket", "big") == content);
    CHECK(fake.SignatureProblems().empty());
    CHECK(fake.Aborts() == 0);
    const std::vector<std::string> hashes = fake.PayloadHashes();
    CHECK(std::count(hashes.begin(), hashes.end(),
                     crypto::Sha256Hex(std::string_view(content).substr(5 << 20, 5 << 20))) == 1);
  }
  SECTION("a refused part aborts the upload") {
    fake.SetFault([](const httplib::Request& req, httplib::Response& res) {
      if (req.get_param_value("partNumber") != "2") return false;
      res.status = 403;
      res.set_content(ErrorXml("AccessDenied", "Access Denied"), "application/xml");
      return true;
    });
    const auto put = s3.PutObject("bucket", "big", file, {});
    REQUIRE_FALSE(put);
    CHECK_THAT(put.error().message,
               Catch::StartsWith("S3 UploadPart s3://bucket/big: 403 AccessDenied: Access Denied"));
    CHECK_FALSE(put.error().retryable);
    CHECK(fake.Aborts() == 1);
    CHECK_FALSE(fake.Object("bucket", "big"));
  }
  SECTION("cancelling between parts aborts the upload") {
    // Shared: the fake may still be reading the part given up on when this
    // section ends.
    const auto parts = std::make_shared<std::atomic<int>>(0);
    fake.SetFault([parts](const httplib::Request& req, httplib::Response&) {
      if (req.has_param("partNumber")) ++*parts;
      return false;
    });
    aws::S3Options one_at_a_time = options;
    one_at_a_time.parallel_parts = 1;
    aws::S3Client sequential(http, one_at_a_time);
    http::CallOptions call;
    call.cancelled = [parts] { return *parts >= 1; };
    const auto put = sequential.PutObject("bucket", "big", file, call);
    REQUIRE_FALSE(put);
    CHECK(put.error().kind == core::ErrorKind::kCancelled);
    CHECK(fake.Aborts() == 1);
    CHECK_FALSE(fake.Object("bucket", "big"));
  }
  SECTION("a 200 whose body is an error fails and aborts") {
    fake.SetFault([](const httplib::Request& req, httplib::Response& res) {
      if (req.method != "POST" || !req.has_param("uploadId")) return false;
      res.set_content(ErrorXml("InternalError", "We encountered an internal error."),
                      "application/xml");
      return true;
    });
    const auto put = s3.PutObject("bucket", "big", file, {});
    REQUIRE_FALSE(put);
    CHECK(put.error().message ==
          "S3 CompleteMultipartUpload s3://bucket/big: 200 InternalError: We encountered an "
          "internal error. (request id REQ123)");
    CHECK(put.error().retryable);
    CHECK(fake.Aborts() == 1);
  }
  SECTION("an abort that fails too is named in the error") {
    fake.SetFault([](const httplib::Request& req, httplib::Response& res) {
      if (req.get_param_value("partNumber") == "1" || req.method == "DELETE") {
        res.status = 403;
        res.set_content(ErrorXml("AccessDenied", "Access Denied"), "application/xml");
        return true;
      }
      return false;
    });
    const auto put = s3.PutObject("bucket", "big", file, {});
    REQUIRE_FALSE(put);
    CHECK_THAT(
        put.error().message,
        Catch::Contains("AbortMultipartUpload failed too, so the parts of upload upload-1/+= "
                        "may remain") &&
            Catch::Contains("S3 AbortMultipartUpload s3://bucket/big: 403 AccessDenied"));
  }
}

TEST_CASE("S3Client: ListObjectsV2 follows continuation tokens", "[aws]") {
  FakeS3 fake;
  for (int i = 0; i < 7; ++i) fake.Put("bucket", "p/" + std::to_string(i), "x");
  fake.Put("bucket", "q", "x");
  http::Client http(FastClient());
  aws::S3Options options = OptionsFor(fake);
  options.list_page_size = 3;
  aws::S3Client s3(http, options);
  const auto listed = s3.ListObjectsV2("bucket", "p/", {});
  REQUIRE(listed);
  REQUIRE(listed->size() == 7);
  CHECK(listed->back().key == "p/6");
  const std::vector<std::string> log = fake.Log();
  REQUIRE(log.size() == 3);
  CHECK(log[0] == "GET /bucket?list-type=2&max-keys=3&prefix=p%2F");
  CHECK(log[1] == "GET /bucket?list-type=2&max-keys=3&prefix=p%2F&continuation-token=tok%3Ap%2F2");
  CHECK(fake.SignatureProblems().empty());

  SECTION("a page that repeats its token is an error, not a loop") {
    fake.SetFault([](const httplib::Request&, httplib::Response& res) {
      res.set_content(
          "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>"
          "same</NextContinuationToken></ListBucketResult>",
          "application/xml");
      return true;
    });
    const auto endless = s3.ListObjectsV2("bucket", "", {});
    REQUIRE_FALSE(endless);
    CHECK(endless.error().message ==
          "S3 ListObjectsV2 s3://bucket/: page 2 repeats the continuation token it was asked with");
  }
  SECTION("a malformed page names its number") {
    fake.SetFault([](const httplib::Request&, httplib::Response& res) {
      res.set_content("<ListBucketResult><Contents><Key>a</Key>", "application/xml");
      return true;
    });
    const auto broken = s3.ListObjectsV2("bucket", "", {});
    REQUIRE_FALSE(broken);
    CHECK(broken.error().message ==
          "S3 ListObjectsV2 s3://bucket/: page 1: S3 ListObjectsV2 answer: truncated XML: the "
          "document ends inside <Contents>");
  }
}
