#include "http/client.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <thread>

#include "tests/fakes/connect_proxy.h"
#include "tests/fakes/forward_proxy.h"
#include "tests/fakes/loopback_server.h"
#include "tests/fakes/test_tls.h"

namespace {

using namespace std::chrono_literals;

http::ClientOptions FastOptions() {
  http::ClientOptions options;
  options.retry.base_backoff = 10ms;
  options.retry.max_backoff = 50ms;
  options.retry.max_retries = 3;
  options.connect_timeout = 2s;
  options.attempt_timeout = 5s;
  return options;
}

double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

std::uint64_t Count(const http::ClientStats& stats, const std::string& cls) {
  std::uint64_t n = 0;
  for (const auto& [key, value] : stats.requests) {
    if (key.second == cls) n += value;
  }
  return n;
}

}  // namespace

TEST_CASE("client: GET, headers, keep-alive reuse, stats", "[http][client]") {
  fakes::LoopbackServer server;
  server.http().Get("/hello", [](const httplib::Request& req, httplib::Response& res) {
    res.set_header("X-Echo", req.get_header_value("X-Test"));
    res.set_content("hi", "text/plain");
  });
  server.Start();
  http::Client client(FastOptions());
  for (int i = 0; i < 3; ++i) {
    auto r = client.Send({"GET", server.base_url() + "/hello", {{"X-Test", "abc"}}, "", ""});
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "hi");
    CHECK(r->Find("x-echo") == std::optional<std::string_view>("abc"));
    CHECK(r->attempts == 1);
  }
  const auto stats = client.Stats();
  CHECK(stats.connections_opened == 1);
  CHECK(stats.requests.at({"127.0.0.1", "2xx"}) == 3);
  CHECK(stats.request_seconds_total > 0);
}

TEST_CASE("client: pooled connections the server closed cost no attempt", "[http][client]") {
  fakes::LoopbackServer server;
  server.http().set_keep_alive_timeout(1);  // the server drops idle connections after 1 s
  server.http().Post("/hook", [](const httplib::Request&, httplib::Response& res) {
    // Slow enough that two calls in flight need two connections.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    res.set_content("ok", "text/plain");
  });
  server.Start();
  http::Client client(FastOptions());
  http::CallOptions no_retries;
  no_retries.retry = http::RetryPolicy{0};
  // Two connections in the pool, both idle long enough to be closed.
  auto first = client.Start({"POST", server.base_url() + "/hook", {}, "a", ""}, no_retries);
  auto second = client.Start({"POST", server.base_url() + "/hook", {}, "b", ""}, no_retries);
  REQUIRE(first.Wait());
  REQUIRE(second.Wait());
  CHECK(client.Stats().connections_opened == 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  auto after = client.Send({"POST", server.base_url() + "/hook", {}, "c", ""}, no_retries);
  REQUIRE(after);
  CHECK(after->status == 200);
  CHECK(after->attempts == 1);
}

TEST_CASE("client: retries 503 and 500 with backoff, then succeeds", "[http][client]") {
  fakes::LoopbackServer server;
  std::atomic<int> calls{0};
  server.http().Get("/flaky", [&](const httplib::Request&, httplib::Response& res) {
    const int n = ++calls;
    if (n == 1)
      res.status = 503;
    else if (n == 2)
      res.status = 500;
    else
      res.set_content("ok", "text/plain");
  });
  server.Start();
  http::Client client(FastOptions());
  auto r = client.Send({"GET", server.base_url() + "/flaky", {}, "", ""});
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->attempts == 3);
  CHECK(client.Stats().retries == 2);
  CHECK(Count(client.Stats(), "5xx") == 2);
}

TEST_CASE("client: other 4xx are never retried; exhausted retries return the last answer",
          "[http][client]") {
  fakes::LoopbackServer server;
  std::atomic<int> calls{0};
  server.http().Get("/missing", [&](const httplib::Request&, httplib::Response& res) {
    ++calls;
    res.status = 404;
  });
  server.http().Get("/down",
                    [&](const httplib::Request&, httplib::Response& res) { res.status = 502; });
  server.Start();
  http::Client client(FastOptions());
  auto r = client.Send({"GET", server.base_url() + "/missing", {}, "", ""});
  REQUIRE(r);
  CHECK(r->status == 404);
  CHECK(calls == 1);
  auto down = client.Send({"GET", server.base_url() + "/down", {}, "", ""});
  REQUIRE(down);
  CHECK(down->status == 502);
  CHECK(down->attempts == 4);
}

TEST_CASE("client: 429 waits as x-ratelimit-reset says, without using up retries",
          "[http][client]") {
  fakes::LoopbackServer server;
  std::atomic<int> calls{0};
  server.http().Get("/limited", [&](const httplib::Request&, httplib::Response& res) {
    if (++calls == 1) {
      res.status = 429;
      res.set_header("x-ratelimit-remaining", "0");
      res.set_header("x-ratelimit-reset", "1");
      return;
    }
    res.set_content("ok", "text/plain");
  });
  server.Start();
  auto options = FastOptions();
  options.retry.max_retries = 0;
  http::Client client(options);
  client.SetRateLimit("127.0.0.1", {600, 0});
  const auto start = std::chrono::steady_clock::now();
  auto r = client.Send({"GET", server.base_url() + "/limited", {}, "", ""});
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->rate_limit_waits >= 1);
  CHECK(SecondsSince(start) >= 0.95);
  CHECK(client.Stats().rate_limit_waits >= 1);
}

TEST_CASE("client: Retry-After is honoured on 503", "[http][client]") {
  fakes::LoopbackServer server;
  std::atomic<int> calls{0};
  server.http().Get("/later", [&](const httplib::Request&, httplib::Response& res) {
    if (++calls == 1) {
      res.status = 503;
      res.set_header("Retry-After", "1");
      return;
    }
    res.set_content("ok", "text/plain");
  });
  server.Start();
  http::Client client(FastOptions());
  const auto start = std::chrono::steady_clock::now();
  auto r = client.Send({"GET", server.base_url() + "/later", {}, "", ""});
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(SecondsSince(start) >= 0.95);
}

TEST_CASE("client: the rate limiter spaces requests to one upstream", "[http][client]") {
  fakes::LoopbackServer server;
  server.http().Get("/x", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok", "text/plain");
  });
  server.Start();
  http::Client client(FastOptions());
  // 120 per minute: a burst of 120, then one every 0.5 s.
  client.SetRateLimit("fake", {120, 0});
  const auto start = std::chrono::steady_clock::now();
  int waits = 0;
  for (int i = 0; i < 122; ++i) {
    auto r = client.Send({"GET", server.base_url() + "/x", {}, "", "fake"});
    REQUIRE(r);
    waits += r->rate_limit_waits;
  }
  CHECK(SecondsSince(start) >= 0.9);
  CHECK(waits >= 2);
}

TEST_CASE("client: redirects keep credentials on the same origin only", "[http][client]") {
  fakes::LoopbackServer other;
  std::string seen_key_other = "unset";
  other.http().Get("/target", [&](const httplib::Request& req, httplib::Response& res) {
    seen_key_other = req.get_header_value("X-API-Key");
    res.set_content("other", "text/plain");
  });
  other.Start();
  fakes::LoopbackServer server;
  std::string seen_key_same = "unset";
  server.http().Get("/same", [](const httplib::Request&, httplib::Response& res) {
    res.set_redirect("/final", 302);
  });
  server.http().Get("/final", [&](const httplib::Request& req, httplib::Response& res) {
    seen_key_same = req.get_header_value("X-API-Key");
    res.set_content("final", "text/plain");
  });
  server.http().Get("/away", [&](const httplib::Request&, httplib::Response& res) {
    res.set_redirect(other.base_url() + "/target", 307);
  });
  server.http().Get("/loop", [](const httplib::Request&, httplib::Response& res) {
    res.set_redirect("/loop", 302);
  });
  server.Start();
  http::Client client(FastOptions());
  auto same = client.Send({"GET", server.base_url() + "/same", {{"X-API-Key", "k1"}}, "", ""});
  REQUIRE(same);
  CHECK(same->body == "final");
  CHECK(seen_key_same == "k1");
  auto away = client.Send({"GET",
                           server.base_url() + "/away",
                           {{"X-API-Key", "k1"}, {"Authorization", "Bearer t"}},
                           "",
                           ""});
  REQUIRE(away);
  CHECK(away->body == "other");
  CHECK(seen_key_other.empty());
  auto loop = client.Send({"GET", server.base_url() + "/loop", {}, "", ""});
  REQUIRE_FALSE(loop);
  CHECK(loop.error().message.find("redirects") != std::string::npos);
}

TEST_CASE("client: gzip bodies are decoded", "[http][client]") {
  fakes::LoopbackServer server;
  const std::string big(100000, 'a');
  server.http().Get("/big", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(big, "application/json");  // cpp-httplib gzips this when asked
  });
  server.Start();
  http::Client client(FastOptions());
  auto r = client.Send({"GET", server.base_url() + "/big", {}, "", ""});
  REQUIRE(r);
  CHECK(r->Find("content-encoding") == std::optional<std::string_view>("gzip"));
  CHECK(r->body == big);
  http::CallOptions capped;
  capped.max_body_bytes = 1000;
  auto too_big = client.Send({"GET", server.base_url() + "/big", {}, "", ""}, capped);
  REQUIRE_FALSE(too_big);
  CHECK(too_big.error().message.find("larger than 1000 bytes") != std::string::npos);
}

TEST_CASE("client: a truncated body is retried, then reported", "[http][client]") {
  fakes::LoopbackServer server;
  std::atomic<int> calls{0};
  server.http().Get("/cut", [&](const httplib::Request&, httplib::Response& res) {
    const bool cut = ++calls <= 2;
    res.set_content_provider(100, "text/plain",
                             [cut](std::size_t offset, std::size_t, httplib::DataSink& sink) {
                               std::string part(cut ? 50 : 100, 'x');
                               if (offset == 0) sink.write(part.data(), part.size());
                               return !cut;
                             });
  });
  server.Start();
  http::Client client(FastOptions());
  auto r = client.Send({"GET", server.base_url() + "/cut", {}, "", ""});
  REQUIRE(r);
  CHECK(r->body == std::string(100, 'x'));
  CHECK(r->attempts == 3);

  calls = -100;
  auto options = FastOptions();
  options.retry.max_retries = 1;
  http::Client strict(options);
  auto failed = strict.Send({"GET", server.base_url() + "/cut", {}, "", ""});
  REQUIRE_FALSE(failed);
  CHECK(failed.error().message.find("before the response was complete") != std::string::npos);
  CHECK(failed.error().message.find("2 attempts") != std::string::npos);
}

TEST_CASE("client: attempt timeout, deadline and cancellation", "[http][client]") {
  fakes::LoopbackServer server;
  std::atomic<bool> release{false};
  server.http().Get("/hang", [&](const httplib::Request&, httplib::Response& res) {
    for (int i = 0; i < 100 && !release; ++i) std::this_thread::sleep_for(20ms);
    res.set_content("late", "text/plain");
  });
  server.Start();

  SECTION("attempt timeout") {
    auto options = FastOptions();
    options.attempt_timeout = 200ms;
    options.retry.max_retries = 0;
    http::Client client(options);
    const auto start = std::chrono::steady_clock::now();
    auto r = client.Send({"GET", server.base_url() + "/hang", {}, "", ""});
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == core::ErrorKind::kTimeout);
    CHECK(SecondsSince(start) < 1.0);
  }
  SECTION("deadline over retries") {
    auto options = FastOptions();
    options.attempt_timeout = 150ms;
    options.retry.max_retries = 100;
    http::Client client(options);
    http::CallOptions call;
    call.deadline =
        std::chrono::time_point_cast<core::Duration>(std::chrono::system_clock::now() + 700ms);
    const auto start = std::chrono::steady_clock::now();
    auto r = client.Send({"GET", server.base_url() + "/hang", {}, "", ""}, call);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == core::ErrorKind::kTimeout);
    CHECK(SecondsSince(start) < 1.2);
  }
  SECTION("cancellation") {
    http::Client client(FastOptions());
    std::atomic<bool> cancel{false};
    http::CallOptions call;
    call.cancelled = [&] { return cancel.load(); };
    std::thread canceller([&] {
      std::this_thread::sleep_for(200ms);
      cancel = true;
    });
    const auto start = std::chrono::steady_clock::now();
    auto r = client.Send({"GET", server.base_url() + "/hang", {}, "", ""}, call);
    canceller.join();
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == core::ErrorKind::kCancelled);
    CHECK(SecondsSince(start) < 0.6);
  }
  release = true;
}

TEST_CASE("client: several requests in flight at once", "[http][client]") {
  fakes::LoopbackServer server;
  server.http().Get(R"(/slow/(\d+))", [](const httplib::Request& req, httplib::Response& res) {
    std::this_thread::sleep_for(300ms);
    res.set_content(req.matches[1].str(), "text/plain");
  });
  server.Start();
  http::Client client(FastOptions());
  const auto start = std::chrono::steady_clock::now();
  std::vector<http::PendingResponse> pending;
  for (int i = 0; i < 4; ++i) {
    pending.push_back(
        client.Start({"GET", server.base_url() + "/slow/" + std::to_string(i), {}, "", ""}));
  }
  for (int i = 0; i < 4; ++i) {
    auto r = pending[std::size_t(i)].Wait();
    REQUIRE(r);
    CHECK(r->body == std::to_string(i));
  }
  CHECK(SecondsSince(start) < 1.0);
}

TEST_CASE("client: connection refused is an Error after retries", "[http][client]") {
  int port = 0;
  {
    fakes::LoopbackServer closed;
    closed.Start();
    port = closed.port();
  }
  auto options = FastOptions();
  options.retry.max_retries = 1;
  http::Client client(options);
  auto r = client.Send(
      {"GET", "http://127.0.0.1:" + std::to_string(port) + "/x?api_key=SECRET", {}, "", ""});
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == core::ErrorKind::kIo);
  CHECK(r.error().message.find("SECRET") == std::string::npos);
  // The message starts with the request (the URL's secrets masked).
  CHECK(r.error().message.rfind("GET http://127.0.0.1:" + std::to_string(port) + "/x?", 0) == 0);
  CHECK(Count(client.Stats(), "error") == 2);
}

TEST_CASE("client: a URL it cannot read is an Error naming the request", "[http][client]") {
  http::Client client(FastOptions());
  auto r = client.Send({"GET", "ftp://example.com/x", {}, "", ""});
  REQUIRE_FALSE(r);
  CHECK(r.error().message.rfind("GET ftp://example.com/x: ", 0) == 0);
}

TEST_CASE("client: HTTPS verified against ca_file; unknown CA refused", "[http][client][tls]") {
  const auto folder = std::filesystem::temp_directory_path() /
                      ("jobsd-tls-" + std::to_string(::getpid()) + "-" +
                       std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  std::filesystem::create_directories(folder);
  const auto certs = fakes::MakeTestCertificates(folder);
  {
    fakes::LoopbackServer server(certs.server_cert.string(), certs.server_key.string());
    server.http().Get("/secure", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("secret", "text/plain");
    });
    server.Start();

    auto options = FastOptions();
    options.ca_file = certs.ca_cert;
    http::Client client(options);
    for (int i = 0; i < 2; ++i) {
      auto r = client.Send({"GET", server.base_url() + "/secure", {}, "", ""});
      REQUIRE(r);
      CHECK(r->body == "secret");
    }
    CHECK(client.Stats().connections_opened == 1);
    // By IP address: the certificate names 127.0.0.1 too.
    auto by_ip = client.Send(
        {"GET", "https://127.0.0.1:" + std::to_string(server.port()) + "/secure", {}, "", ""});
    REQUIRE(by_ip);

    http::Client system_store(FastOptions());
    auto refused = system_store.Send({"GET", server.base_url() + "/secure", {}, "", ""});
    REQUIRE_FALSE(refused);
    CHECK(refused.error().message.find("TLS handshake") != std::string::npos);
    CHECK(Count(system_store.Stats(), "error") == 1);  // not retried

    auto bad_ca = FastOptions();
    bad_ca.ca_file = folder / "missing.pem";
    http::Client broken(bad_ca);
    auto no_ca = broken.Send({"GET", server.base_url() + "/secure", {}, "", ""});
    REQUIRE_FALSE(no_ca);
    CHECK(no_ca.error().message.find("CA certificates") != std::string::npos);
  }
  std::filesystem::remove_all(folder);
}

TEST_CASE("client: HTTPS through an HTTPS_PROXY tunnel; NO_PROXY bypasses it",
          "[http][client][tls]") {
  const auto folder = std::filesystem::temp_directory_path() /
                      ("jobsd-proxy-" + std::to_string(::getpid()) + "-" +
                       std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  std::filesystem::create_directories(folder);
  const auto certs = fakes::MakeTestCertificates(folder);
  {
    fakes::LoopbackServer server(certs.server_cert.string(), certs.server_key.string());
    server.http().Get("/via", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("tunnelled", "text/plain");
    });
    server.Start();
    fakes::ConnectProxy proxy;

    auto options = FastOptions();
    options.ca_file = certs.ca_cert;
    options.proxy.https_proxy = *http::ParseUrl("http://127.0.0.1:" + std::to_string(proxy.port()));
    {
      http::Client client(options);
      for (int i = 0; i < 2; ++i) {
        auto r = client.Send({"GET", server.base_url() + "/via", {}, "", ""});
        REQUIRE(r);
        CHECK(r->body == "tunnelled");
      }
    }
    CHECK(proxy.tunnels() == 1);  // the tunnel is kept alive and reused
    CHECK(proxy.last_target() == "localhost:" + std::to_string(server.port()));

    options.proxy.no_proxy = "example.org, localhost";
    http::Client direct(options);
    auto r = direct.Send({"GET", server.base_url() + "/via", {}, "", ""});
    REQUIRE(r);
    CHECK(proxy.tunnels() == 1);

    // A proxy that refuses the tunnel is an error that names it.
    options.proxy.no_proxy.clear();
    http::Client refused(options);
    auto bad =
        refused.Send({"GET",
                      "https://localhost:" + std::to_string(proxy.port() == 1 ? 2 : 1) + "/x",
                      {},
                      "",
                      ""});
    REQUIRE_FALSE(bad);
    CHECK_THAT(bad.error().message, Catch::Contains("refused CONNECT with HTTP 502"));
  }
  std::filesystem::remove_all(folder);
}

TEST_CASE("client: plain HTTP through an HTTP_PROXY in absolute form; NO_PROXY bypasses it",
          "[http][client]") {
  fakes::LoopbackServer server;
  std::string seen_host, seen_key;
  server.http().Get("/hello", [&](const httplib::Request& req, httplib::Response& res) {
    seen_host = req.get_header_value("Host");
    seen_key = req.get_header_value("X-API-Key");
    res.set_content("hello " + req.get_param_value("who"), "text/plain");
  });
  server.Start();
  fakes::ForwardProxy proxy;

  auto options = FastOptions();
  options.proxy.http_proxy = *http::ParseUrl(proxy.url());
  // An HTTPS proxy is for https URLs only.
  options.proxy.https_proxy = *http::ParseUrl("http://127.0.0.1:1");
  const std::string url = server.base_url() + "/hello?who=proxy";
  {
    http::Client client(options);
    for (int i = 0; i < 2; ++i) {
      auto r = client.Send({"GET", url, {{"X-API-Key", "k1"}}, "", ""});
      REQUIRE(r);
      CHECK(r->status == 200);
      CHECK(r->body == "hello proxy");
    }
    // One connection to the proxy, kept alive for the second request.
    CHECK(client.Stats().connections_opened == 1);
    CHECK(client.Stats().requests.at({"127.0.0.1", "2xx"}) == 2);
  }
  CHECK(proxy.targets() == std::vector<std::string>{url, url});
  CHECK(proxy.last_host() == "127.0.0.1:" + std::to_string(server.port()));
  CHECK(seen_host == "127.0.0.1:" + std::to_string(server.port()));
  CHECK(seen_key == "k1");

  for (const char* no_proxy : {"127.0.0.1", "example.org, 127.0.0.1", "*"}) {
    options.proxy.no_proxy = no_proxy;
    http::Client direct(options);
    auto r = direct.Send({"GET", url, {}, "", ""});
    REQUIRE(r);
    CHECK(r->body == "hello proxy");
    CHECK(proxy.targets().size() == 2);
  }

  // A proxy that is down is a connection error, retried like any other.
  options.proxy.no_proxy.clear();
  int closed_port = 0;
  {
    fakes::LoopbackServer closed;
    closed.Start();
    closed_port = closed.port();
  }
  options.proxy.http_proxy = *http::ParseUrl("http://127.0.0.1:" + std::to_string(closed_port));
  options.retry.max_retries = 1;
  http::Client down(options);
  auto r = down.Send({"GET", url, {}, "", ""});
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == core::ErrorKind::kIo);
}
