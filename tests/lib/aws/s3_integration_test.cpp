// S3Client against a real S3-compatible server (s3rver), started by
// tests/support/s3_server.py, which sets JOBSD_TEST_S3_ENDPOINT:
//
//   tests/support/s3_server.py run -- build/tests/jobsd_tests "[.s3]"
//
// Hidden from the default run by the dotted tag; they fail (never skip)
// when the endpoint is not set. Large files are written and compared in
// chunks so that the test itself stays small in memory while the RSS of the
// transfers is measured.
#include <sys/resource.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "aws/s3.h"
#include "aws/sigv4.h"
#include "crypto/hex.h"
#include "crypto/sha256.h"
#include "tests/support/rss.h"

// REQUIRE for a core::Result, printing its error when it has one.
#define REQUIRE_OK(result)                                       \
  do {                                                           \
    const auto& checked_ = (result);                             \
    INFO((checked_ ? std::string() : checked_.error().message)); \
    REQUIRE(checked_);                                           \
  } while (false)

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string EnvOr(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
}

std::string Endpoint() {
  const char* endpoint = std::getenv("JOBSD_TEST_S3_ENDPOINT");
  if (endpoint == nullptr || *endpoint == '\0') {
    FAIL(
        "JOBSD_TEST_S3_ENDPOINT is not set: run these through tests/support/s3_server.py run -- "
        "jobsd_tests \"[.s3]\" (ctest -R s3_unit)");
  }
  return endpoint;
}

aws::S3Options Options() {
  aws::S3Options options;
  options.endpoint = Endpoint();
  options.region = EnvOr("JOBSD_TEST_S3_REGION", "us-east-1");
  options.credentials.access_key_id = EnvOr("JOBSD_TEST_S3_ACCESS_KEY_ID", "S3RVER");
  options.credentials.secret_access_key = EnvOr("JOBSD_TEST_S3_SECRET_ACCESS_KEY", "S3RVER");
  return options;
}

http::ClientOptions ClientOptions() {
  http::ClientOptions options;
  options.retry.base_backoff = 10ms;
  options.retry.max_backoff = 100ms;
  options.attempt_timeout = 120s;
  return options;
}

// A bucket of its own for each test, made with a signed CreateBucket.
std::string CreateBucket(http::Client& http, const std::string& prefix) {
  static std::atomic<int> counter{0};
  const std::string name =
      prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
  const aws::S3Options options = Options();
  http::ClientRequest request;
  request.method = "PUT";
  request.url = aws::S3ObjectUrl(options.endpoint, name, "");
  aws::SignRequest(request, options.credentials, {options.region, "s3"},
                   std::chrono::time_point_cast<core::Duration>(std::chrono::system_clock::now()));
  const auto response = http.Send(request);
  REQUIRE_OK(response);
  INFO(response->body);
  REQUIRE(response->status == 200);
  return name;
}

struct TempFolder {
  TempFolder() {
    path = fs::temp_directory_path() /
           ("jobsd-s3it-" + std::to_string(::getpid()) + "-" +
            std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    fs::create_directories(path);
  }
  ~TempFolder() { fs::remove_all(path); }
  fs::path path;
};

// Writes `size` pseudo-random bytes a chunk at a time.
void WriteFile(const fs::path& file, std::uint64_t size, std::uint32_t seed) {
  std::ofstream out(file, std::ios::binary);
  std::vector<char> chunk(1 << 20);
  std::uint32_t x = seed;
  for (std::uint64_t left = size; left > 0;) {
    const std::size_t n = std::size_t(std::min<std::uint64_t>(left, chunk.size()));
    for (std::size_t i = 0; i < n; ++i) {
      x = x * 1664525 + 1013904223;
      chunk[i] = char(x >> 24);
    }
    out.write(chunk.data(), std::streamsize(n));
    left -= n;
  }
}

std::string FileHash(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  crypto::Sha256 hash;
  std::vector<char> chunk(1 << 20);
  while (in) {
    in.read(chunk.data(), std::streamsize(chunk.size()));
    if (in.gcount() > 0) hash.Update(chunk.data(), std::size_t(in.gcount()));
  }
  return crypto::Hex(hash.Finish());
}

using support::PeakRssGrowthKiB;

}  // namespace

TEST_CASE("s3rver: a 100 MiB file round trip keeps memory flat", "[.s3]") {
  http::Client http(ClientOptions());
  const std::string bucket = CreateBucket(http, "roundtrip");
  aws::S3Options options = Options();
  options.multipart_threshold = std::uint64_t(1) << 30;  // one streamed PUT
  aws::S3Client s3(http, options);
  TempFolder dir;
  constexpr std::uint64_t kSize = std::uint64_t(100) << 20;
  WriteFile(dir.path / "up", kSize, 7);

  rusage before{};
  ::getrusage(RUSAGE_SELF, &before);
  const long put_growth = PeakRssGrowthKiB([&] {
    const auto put = s3.PutObject(bucket, "big/object.bin", dir.path / "up", {});
    REQUIRE_OK(put);
    CHECK(put->size == kSize);
  });
  const long get_growth = PeakRssGrowthKiB([&] {
    const auto got = s3.GetObject(bucket, "big/object.bin", dir.path / "down", {});
    REQUIRE_OK(got);
    CHECK(got->size == kSize);
    CHECK_FALSE(got->etag.empty());
  });
  rusage after{};
  ::getrusage(RUSAGE_SELF, &after);
  INFO("peak RSS growth: put " << put_growth << " KiB, get " << get_growth << " KiB; max RSS "
                               << before.ru_maxrss << " -> " << after.ru_maxrss << " KiB");
  CHECK(put_growth < 40 * 1024);
  CHECK(get_growth < 40 * 1024);
  CHECK(after.ru_maxrss - before.ru_maxrss < 40 * 1024);
  CHECK(fs::file_size(dir.path / "down") == kSize);
  CHECK(FileHash(dir.path / "down") == FileHash(dir.path / "up"));
}

TEST_CASE("s3rver: multipart upload, read back equal", "[.s3]") {
  http::Client http(ClientOptions());
  const std::string bucket = CreateBucket(http, "multipart");
  aws::S3Options options = Options();
  options.multipart_threshold = 5 << 20;
  options.part_size = 5 << 20;
  aws::S3Client s3(http, options);
  TempFolder dir;
  constexpr std::uint64_t kSize = (std::uint64_t(23) << 20) + 777;
  WriteFile(dir.path / "up", kSize, 11);

  const auto put = s3.PutObject(bucket, "parts/file.bin", dir.path / "up", {});
  REQUIRE_OK(put);
  CHECK(put->size == kSize);
  const auto got = s3.GetObject(bucket, "parts/file.bin", dir.path / "down", {});
  REQUIRE_OK(got);
  CHECK(got->size == kSize);
  CHECK(FileHash(dir.path / "down") == FileHash(dir.path / "up"));
  const auto listed = s3.ListObjectsV2(bucket, "parts/", {});
  REQUIRE_OK(listed);
  REQUIRE(listed->size() == 1);
  CHECK((*listed)[0].size == kSize);

  SECTION("unsigned payloads too") {
    options.sign_payload = false;
    aws::S3Client unsigned_s3(http, options);
    REQUIRE_OK(unsigned_s3.PutObject(bucket, "parts/unsigned.bin", dir.path / "up", {}));
    REQUIRE_OK(unsigned_s3.GetObject(bucket, "parts/unsigned.bin", dir.path / "down2", {}));
    CHECK(FileHash(dir.path / "down2") == FileHash(dir.path / "up"));
  }
}

TEST_CASE("s3rver: listing more than 1000 keys follows the pages", "[.s3]") {
  http::Client http(ClientOptions());
  const std::string bucket = CreateBucket(http, "listing");
  aws::S3Client s3(http, Options());
  constexpr int kKeys = 1010;
  for (int i = 0; i < kKeys; ++i) {
    char key[32];
    std::snprintf(key, sizeof key, "many/%05d", i);
    REQUIRE_OK(s3.PutObject(bucket, key, std::to_string(i), {}));
  }
  REQUIRE_OK(s3.PutObject(bucket, "other/x", std::string("x"), {}));

  const auto listed = s3.ListObjectsV2(bucket, "many/", {});
  REQUIRE_OK(listed);
  REQUIRE(listed->size() == std::size_t(kKeys));
  CHECK((*listed)[0].key == "many/00000");
  CHECK((*listed)[kKeys - 1].key == "many/01009");
  CHECK((*listed)[123].size == 3);

  aws::S3Options small_pages = Options();
  small_pages.list_page_size = 97;
  aws::S3Client paged(http, small_pages);
  const auto all = paged.ListObjectsV2(bucket, "", {});
  REQUIRE_OK(all);
  CHECK(all->size() == std::size_t(kKeys + 1));
  CHECK(all->back().key == "other/x");
}

TEST_CASE("s3rver: keys with reserved characters, delete", "[.s3]") {
  http::Client http(ClientOptions());
  const std::string bucket = CreateBucket(http, "keys");
  aws::S3Client s3(http, Options());
  TempFolder dir;
  const std::string key = "dir/a b+c&d=e/\xc3\xa9~*'().txt";
  REQUIRE_OK(s3.PutObject(bucket, key, std::string("special"), {}));
  const auto listed = s3.ListObjectsV2(bucket, "dir/a b+", {});
  REQUIRE_OK(listed);
  REQUIRE(listed->size() == 1);
  CHECK((*listed)[0].key == key);
  REQUIRE_OK(s3.GetObject(bucket, key, dir.path / "out", {}));

  REQUIRE_OK(s3.DeleteObject(bucket, key, {}));
  const auto gone = s3.GetObject(bucket, key, dir.path / "gone", {});
  REQUIRE_FALSE(gone);
  CHECK(gone.error().kind == core::ErrorKind::kNotFound);
  CHECK_FALSE(fs::exists(dir.path / "gone"));
  CHECK(s3.ListObjectsV2(bucket, "dir/", {})->empty());
}

TEST_CASE("s3rver: NoSuchKey, NoSuchBucket and a bad key id are clear errors", "[.s3]") {
  http::Client http(ClientOptions());
  const std::string bucket = CreateBucket(http, "errors");
  aws::S3Client s3(http, Options());
  TempFolder dir;

  const auto missing = s3.GetObject(bucket, "missing.txt", dir.path / "out", {});
  REQUIRE_FALSE(missing);
  CHECK_THAT(missing.error().message,
             Catch::StartsWith("S3 GetObject s3://" + bucket +
                               "/missing.txt: 404 NoSuchKey: The specified key does not exist."));
  CHECK_FALSE(missing.error().retryable);
  CHECK_FALSE(fs::exists(dir.path / "out"));

  const auto no_bucket = s3.GetObject("no-such-bucket-jobsd", "k", dir.path / "out", {});
  REQUIRE_FALSE(no_bucket);
  CHECK_THAT(no_bucket.error().message,
             Catch::StartsWith("S3 GetObject s3://no-such-bucket-jobsd/k: 404 NoSuchBucket: "));
  CHECK_FALSE(no_bucket.error().retryable);
  const auto list_no_bucket = s3.ListObjectsV2("no-such-bucket-jobsd", "", {});
  REQUIRE_FALSE(list_no_bucket);
  CHECK_THAT(list_no_bucket.error().message, Catch::Contains("404 NoSuchBucket"));
  const auto put_no_bucket = s3.PutObject("no-such-bucket-jobsd", "k", std::string("x"), {});
  REQUIRE_FALSE(put_no_bucket);
  CHECK_THAT(put_no_bucket.error().message, Catch::Contains("NoSuchBucket"));

  aws::S3Options wrong = Options();
  wrong.credentials.access_key_id = "AKIDWRONG";
  aws::S3Client bad(http, wrong);
  const auto refused = bad.PutObject(bucket, "k", std::string("x"), {});
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error().message, Catch::Contains("403 InvalidAccessKeyId"));
  CHECK_FALSE(refused.error().retryable);
  CHECK(refused.error().message.find(wrong.credentials.secret_access_key) == std::string::npos);
}
