// The HTTP client and files: CallOptions::body_file (response bodies streamed
// to a file as they arrive, the size cap, no file left behind by a failed
// call) and ClientRequest::body_file (request bodies streamed from a file).
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "http/client.h"
#include "tests/fakes/loopback_server.h"
#include "tests/support/rss.h"

namespace {

using namespace std::chrono_literals;

http::ClientOptions FastOptions() {
  http::ClientOptions options;
  options.retry.base_backoff = 10ms;
  options.retry.max_backoff = 50ms;
  options.retry.max_retries = 0;
  options.connect_timeout = 2s;
  options.attempt_timeout = 20s;
  return options;
}

// A fresh folder, removed with the object.
struct TempFolder {
  TempFolder() {
    path = std::filesystem::temp_directory_path() /
           ("jobsd-body-" + std::to_string(::getpid()) + "-" +
            std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    std::filesystem::create_directories(path);
  }
  ~TempFolder() { std::filesystem::remove_all(path); }
  std::vector<std::string> Names() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(path))
      out.push_back(e.path().filename().string());
    return out;
  }
  std::filesystem::path path;
};

std::string ReadAll(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

using support::PeakRssGrowthKiB;

// Byte i of the large body.
char BodyByte(std::size_t i) { return char('a' + (i * 7 + i / 4096) % 26); }

}  // namespace

TEST_CASE("client body_file: a large body streams to the file with flat memory",
          "[http][client][body_file]") {
  static constexpr std::size_t kSize = std::size_t(96) << 20;
  static constexpr std::size_t kPiece = std::size_t(1) << 20;
  fakes::LoopbackServer server;
  server.http().Get("/large", [](const httplib::Request&, httplib::Response& res) {
    // One buffer for every piece: the server's own allocations must not
    // blur the client's memory (ASan keeps freed blocks in quarantine).
    auto piece = std::make_shared<std::string>(kPiece, '\0');
    res.set_content_provider(
        kSize, "application/octet-stream",
        [piece](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
          const std::size_t n = std::min(length, kPiece);
          for (std::size_t i = 0; i < n; ++i) (*piece)[i] = BodyByte(offset + i);
          return sink.write(piece->data(), n);
        });
  });
  server.Start();
  TempFolder folder;
  http::Client client(FastOptions());
  http::CallOptions call;
  call.body_file = folder.path / "large.bin";
  call.max_body_bytes = kSize;

  core::Result<http::ClientResponse> r =
      core::Unexpected(core::Error{core::ErrorKind::kInternal, "not sent", false});
  const long growth = PeakRssGrowthKiB([&] {
    r = client.Send({"GET", server.base_url() + "/large", {}, "", ""}, call);
  });
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body.empty());
  CHECK(r->body_file == call.body_file);
  CHECK(r->body_bytes == kSize);
  CHECK(std::filesystem::file_size(*call.body_file) == kSize);
  // A 96 MiB body held in memory would raise the RSS by at least that.
  CHECK(growth < 24 * 1024);
  std::ifstream in(*call.body_file, std::ios::binary);
  std::string head(4096, '\0'), tail(4096, '\0');
  in.read(head.data(), 4096);
  in.seekg(std::streamoff(kSize - 4096));
  in.read(tail.data(), 4096);
  bool same = true;
  for (std::size_t i = 0; i < 4096; ++i) {
    same = same && head[i] == BodyByte(i) && tail[i] == BodyByte(kSize - 4096 + i);
  }
  CHECK(same);
  CHECK(folder.Names() == std::vector<std::string>{"large.bin"});
}

TEST_CASE("client body_file: gzip is decoded while streaming", "[http][client][body_file]") {
  std::string json;
  for (int i = 0; json.size() < (std::size_t(6) << 20); ++i) {
    json += "{\"value\":" + std::to_string(i % 977) + ",\"period\":\"2026-01-01\"},\n";
  }
  fakes::LoopbackServer server;
  server.http().Get("/data", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(json, "application/json");  // cpp-httplib gzips this when asked
  });
  server.Start();
  TempFolder folder;
  http::Client client(FastOptions());
  http::CallOptions call;
  call.body_file = folder.path / "data.json";
  auto r = client.Send({"GET", server.base_url() + "/data", {}, "", ""}, call);
  REQUIRE(r);
  CHECK(r->Find("content-encoding") == std::optional<std::string_view>("gzip"));
  CHECK(r->body.empty());
  CHECK(r->body_bytes == json.size());
  CHECK(ReadAll(*call.body_file) == json);

  // The cap counts decoded bytes: a small gzip body that inflates past it fails.
  call.max_body_bytes = json.size() - 1;
  call.body_file = folder.path / "capped.json";
  auto capped = client.Send({"GET", server.base_url() + "/data", {}, "", ""}, call);
  REQUIRE_FALSE(capped);
  CHECK_THAT(capped.error().message, Catch::Contains("once decoded"));
  CHECK(folder.Names() == std::vector<std::string>{"data.json"});
}

TEST_CASE("client body_file: the cap fails the call and leaves no file",
          "[http][client][body_file]") {
  fakes::LoopbackServer server;
  server.http().Get("/big", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(100000, 'x'), "text/plain");
  });
  server.Start();
  TempFolder folder;
  http::Client client(FastOptions());
  http::CallOptions call;
  call.body_file = folder.path / "big.txt";
  call.max_body_bytes = 1000;
  for (const char* encoding : {"identity", "gzip"}) {
    auto r = client.Send(
        {"GET", server.base_url() + "/big", {{"Accept-Encoding", encoding}}, "", ""}, call);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("larger than 1000 bytes"));
    CHECK(folder.Names().empty());
  }
  // An existing file is left as it was.
  std::ofstream(*call.body_file) << "old";
  REQUIRE_FALSE(client.Send({"GET", server.base_url() + "/big", {}, "", ""}, call));
  CHECK(ReadAll(*call.body_file) == "old");
  CHECK(folder.Names().size() == 1);
}

TEST_CASE("client body_file: a truncated body fails and leaves no file; a retry completes it",
          "[http][client][body_file]") {
  fakes::LoopbackServer server;
  std::atomic<int> calls{0};
  std::atomic<int> cut_first{1000};
  server.http().Get("/cut", [&](const httplib::Request&, httplib::Response& res) {
    const bool cut = ++calls <= cut_first;
    res.set_content_provider(200000, "text/plain",
                             [cut](std::size_t offset, std::size_t, httplib::DataSink& sink) {
                               std::string part(cut ? 100000 : 200000, 'y');
                               if (offset == 0) sink.write(part.data(), part.size());
                               return !cut;
                             });
  });
  server.Start();
  TempFolder folder;
  http::CallOptions call;
  call.body_file = folder.path / "cut.txt";
  {
    http::Client client(FastOptions());
    auto r = client.Send({"GET", server.base_url() + "/cut", {}, "", ""}, call);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("before the response was complete"));
    CHECK(folder.Names().empty());
  }
  calls = 0;
  cut_first = 2;
  auto options = FastOptions();
  options.retry.max_retries = 3;
  http::Client retrying(options);
  auto r = retrying.Send({"GET", server.base_url() + "/cut", {}, "", ""}, call);
  REQUIRE(r);
  CHECK(r->attempts == 3);
  CHECK(ReadAll(*call.body_file) == std::string(200000, 'y'));
  CHECK(folder.Names() == std::vector<std::string>{"cut.txt"});
}

TEST_CASE("client body_file: a cancelled call leaves no file; errors stay in memory",
          "[http][client][body_file]") {
  fakes::LoopbackServer server;
  std::atomic<bool> release{false};
  server.http().Get("/stall", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content_provider(2000000, "text/plain",
                             [&](std::size_t offset, std::size_t, httplib::DataSink& sink) {
                               if (offset == 0) {
                                 std::string part(1000000, 'z');
                                 return sink.write(part.data(), part.size());
                               }
                               for (int i = 0; i < 250 && !release; ++i)
                                 std::this_thread::sleep_for(20ms);
                               return false;
                             });
  });
  server.http().Get("/missing", [](const httplib::Request&, httplib::Response& res) {
    res.status = 404;
    res.set_content("{\"detail\":\"Not Found\"}", "application/json");
  });
  server.Start();
  TempFolder folder;
  http::Client client(FastOptions());
  http::CallOptions call;
  call.body_file = folder.path / "stall.txt";
  std::atomic<bool> cancel{false};
  call.cancelled = [&] { return cancel.load(); };
  std::thread canceller([&] {
    std::this_thread::sleep_for(300ms);
    cancel = true;
  });
  auto r = client.Send({"GET", server.base_url() + "/stall", {}, "", ""}, call);
  canceller.join();
  release = true;
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == core::ErrorKind::kCancelled);
  CHECK(folder.Names().empty());

  call.cancelled = nullptr;
  auto missing = client.Send({"GET", server.base_url() + "/missing", {}, "", ""}, call);
  REQUIRE(missing);
  CHECK(missing->status == 404);
  CHECK(missing->body == "{\"detail\":\"Not Found\"}");
  CHECK_FALSE(missing->body_file);
  CHECK(folder.Names().empty());
}

TEST_CASE("client: an answer to HEAD has no body to wait for", "[http][client]") {
  fakes::LoopbackServer server;
  server.http().Get("/doc", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(5000, 'd'), "text/plain");
  });
  server.Start();
  http::Client client(FastOptions());
  // Gzip announced (and nothing to decode), then plain; the connection stays usable.
  for (const char* encoding : {"gzip", "identity"}) {
    auto r =
        client.Send({"HEAD", server.base_url() + "/doc", {{"Accept-Encoding", encoding}}, "", ""});
    INFO(encoding << (r ? "" : ": " + r.error().message));
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body.empty());
    CHECK(r->Find("content-length"));
  }
  auto get =
      client.Send({"GET", server.base_url() + "/doc", {{"Accept-Encoding", "identity"}}, "", ""});
  REQUIRE(get);
  CHECK(get->body.size() == 5000);
  CHECK(client.Stats().connections_opened == 1);
}

namespace {

// Writes `size` bytes of BodyByte() to `file`.
void WriteBodyFile(const std::filesystem::path& file, std::size_t size) {
  std::ofstream out(file, std::ios::binary);
  std::string piece;
  for (std::size_t at = 0; at < size; at += piece.size()) {
    piece.clear();
    for (std::size_t i = at; i < std::min(size, at + 65536); ++i) piece += BodyByte(i);
    out.write(piece.data(), static_cast<std::streamsize>(piece.size()));
  }
}

std::string Expected(std::size_t offset, std::size_t length) {
  std::string out;
  for (std::size_t i = offset; i < offset + length; ++i) out += BodyByte(i);
  return out;
}

http::ClientRequest Put(const std::string& url, http::FileBody body) {
  http::ClientRequest request;
  request.method = "PUT";
  request.url = url;
  request.body_file = std::move(body);
  return request;
}

}  // namespace

TEST_CASE("client request body_file: the whole file or a range is sent with its length",
          "[http][client][body_file]") {
  TempFolder folder;
  const auto file = folder.path / "upload.bin";
  WriteBodyFile(file, 300'000);
  std::mutex mutex;
  std::vector<std::pair<std::string, std::string>> received;  // Content-Length, body
  fakes::LoopbackServer server;
  server.http().Put("/object", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mutex);
    received.emplace_back(req.get_header_value("Content-Length"), req.body);
    res.status = 200;
  });
  server.Start();
  http::Client client(FastOptions());
  const std::string url = server.base_url() + "/object";

  REQUIRE(client.Send(Put(url, {file})));
  REQUIRE(client.Send(Put(url, {file, 70'000, 100'001})));  // a multipart upload's part
  REQUIRE(client.Send(Put(url, {file, 299'990})));          // from an offset to the end
  REQUIRE(client.Send(Put(url, {file, 300'000})));          // nothing left: an empty body
  std::lock_guard lock(mutex);
  REQUIRE(received.size() == 4);
  CHECK(received[0].first == "300000");
  CHECK(received[0].second == Expected(0, 300'000));
  CHECK(received[1].first == "100001");
  CHECK(received[1].second == Expected(70'000, 100'001));
  CHECK(received[2].first == "10");
  CHECK(received[2].second == Expected(299'990, 10));
  CHECK(received[3].first == "0");
  CHECK(received[3].second.empty());
}

TEST_CASE("client request body_file: a retry and a 307 redirect send the whole range again",
          "[http][client][body_file]") {
  TempFolder folder;
  const auto file = folder.path / "upload.bin";
  WriteBodyFile(file, 200'000);
  std::mutex mutex;
  std::vector<std::string> bodies;
  int calls = 0;
  fakes::LoopbackServer server;
  server.http().Put("/flaky", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mutex);
    bodies.push_back(req.body);
    res.status = ++calls == 1 ? 503 : 200;
  });
  server.http().Put("/moved", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mutex);
    bodies.push_back(req.body);
    res.status = 307;
    res.set_header("Location", "/flaky");
  });
  server.Start();
  http::ClientOptions options = FastOptions();
  options.retry.max_retries = 2;
  http::Client client(options);

  auto r = client.Send(Put(server.base_url() + "/flaky", {file, 1000, 150'000}));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->attempts == 2);
  auto moved = client.Send(Put(server.base_url() + "/moved", {file, 1000, 150'000}));
  REQUIRE(moved);
  CHECK(moved->status == 200);
  std::lock_guard lock(mutex);
  REQUIRE(bodies.size() == 4);
  for (const std::string& body : bodies) CHECK(body == Expected(1000, 150'000));
}

TEST_CASE("client request body_file: a missing file or a range past its end fails without a retry",
          "[http][client][body_file]") {
  TempFolder folder;
  const auto file = folder.path / "small.bin";
  WriteBodyFile(file, 100);
  std::atomic<int> calls{0};
  fakes::LoopbackServer server;
  server.http().Put("/object", [&](const httplib::Request&, httplib::Response& res) {
    ++calls;
    res.status = 200;
  });
  server.Start();
  http::ClientOptions options = FastOptions();
  options.retry.max_retries = 3;
  http::Client client(options);
  const std::string url = server.base_url() + "/object";

  auto missing = client.Send(Put(url, {folder.path / "gone.bin"}));
  REQUIRE_FALSE(missing);
  CHECK(missing.error().kind == core::ErrorKind::kIo);
  CHECK_FALSE(missing.error().retryable);
  CHECK_THAT(missing.error().message, Catch::Contains("gone.bin"));

  auto past_end = client.Send(Put(url, {file, 50, 51}));
  REQUIRE_FALSE(past_end);
  CHECK_FALSE(past_end.error().retryable);
  CHECK_THAT(past_end.error().message,
             Catch::Contains("past the end") && Catch::Contains("small.bin (100 bytes)"));
  CHECK(calls == 0);
}

TEST_CASE("client request body_file: a large upload keeps memory flat",
          "[http][client][body_file]") {
  static constexpr std::size_t kSize = std::size_t(96) << 20;
  TempFolder folder;
  const auto file = folder.path / "large.bin";
  WriteBodyFile(file, kSize);
  std::atomic<std::size_t> received{0};
  std::atomic<bool> same{true};
  fakes::LoopbackServer server;
  // The server reads the body as it comes and keeps none of it, so the
  // process's memory shows the client's.
  server.http().Put("/large", [&](const httplib::Request&, httplib::Response& res,
                                  const httplib::ContentReader& reader) {
    reader([&](const char* data, std::size_t length) {
      const std::size_t at = received;
      for (std::size_t i = 0; i < length; i += 4099) {
        if (data[i] != BodyByte(at + i)) same = false;
      }
      received += length;
      return true;
    });
    res.status = 200;
  });
  server.Start();
  http::Client client(FastOptions());

  core::Result<http::ClientResponse> r =
      core::Unexpected(core::Error{core::ErrorKind::kInternal, "not sent", false});
  const long growth =
      PeakRssGrowthKiB([&] { r = client.Send(Put(server.base_url() + "/large", {file})); });
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(received == kSize);
  CHECK(same);
  // A 96 MiB body held in memory would raise the RSS by at least that.
  CHECK(growth < 24 * 1024);
}
