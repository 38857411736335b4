#include "http_server/api.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <thread>

#include "http/client.h"
#include "http_server/ui_assets.h"
#include "tests/lib/scheduler/manual_clock.h"

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;
using store::RunStatus;

constexpr std::string_view kCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

std::string Header(const http::Response& response, std::string_view name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return {};
}

std::string BodyOf(const http::Response& response) {
  return response.shared_body ? *response.shared_body : response.body;
}

// The Api over a real store (in a temp folder) and scheduler, on a manual
// clock. The test thread is the loop: it calls Handle, and waits for answers
// that come from the recorder's or the render thread.
struct ApiHarness {
  fs::path dir =
      fs::temp_directory_path() / ("jobsd-api-" + std::to_string(std::random_device{}()));
  scheduler::testing::ManualClock clock;
  scheduler::JobCatalog catalog;
  http::Client client;
  boost::asio::io_context loop;
  std::unique_ptr<store::RunRecorder> recorder;
  std::unique_ptr<scheduler::Scheduler> sched;
  std::unique_ptr<http::DaemonMetrics> metrics;
  std::unique_ptr<http::Api> api;
  // Run ids as written, oldest first, per job.
  std::map<std::string, std::vector<std::int64_t>> run_ids;

  // `fill` writes into the store before the recorder takes it over.
  explicit ApiHarness(std::function<void(config::HttpConfig&)> http = {},
                      std::function<void(ApiHarness&, store::RunStore&)> fill = {}) {
    fs::create_directories(dir);
    auto s = store::RunStore::Open(dir / "state.db", store::Database::Mode::kReadWrite);
    REQUIRE(s);
    if (fill) fill(*this, *s);
    auto r = store::RunRecorder::Start(
        std::move(*s), 1000, [](const core::Error& e) { FAIL("store error: " << e.message); });
    REQUIRE(r);
    recorder = std::move(*r);
    auto config = std::make_shared<config::Config>();
    config->file = "cfg.yaml";
    config->http.token = "s3cret";
    if (http) http(config->http);
    for (const char* name : {"alpha", "beta", "idle"}) {
      config::JobConfig job;
      job.name = name;
      job.type = "none";
      config->jobs.push_back(std::move(job));
    }
    config->IndexJobs();
    sched = std::make_unique<scheduler::Scheduler>(loop, clock, catalog, *recorder, client, 1);
    sched->Start(config, {});
    metrics = std::make_unique<http::DaemonMetrics>(clock.Now());
    api = std::make_unique<http::Api>(loop, clock, *sched, *recorder, *metrics, clock.Now());
    api->SetConfig(config);
  }
  ~ApiHarness() {
    bool stopped = false;
    sched->Stop(0s, [&] { stopped = true; });
    clock.Advance(0s);
    for (int i = 0; i < 1000 && !stopped; ++i) {
      loop.restart();
      loop.run_for(1ms);
    }
    api.reset();
    sched.reset();
    recorder.reset();
    fs::remove_all(dir);
  }

  http::Response Call(std::string method, std::string target, std::string authorization = "",
                      std::string if_none_match = "") {
    http::Request request;
    request.method = std::move(method);
    const auto question = target.find('?');
    request.path = target.substr(0, question);
    if (question != std::string::npos) request.query = target.substr(question + 1);
    request.authorization = std::move(authorization);
    request.if_none_match = std::move(if_none_match);
    auto answer = std::make_shared<std::promise<http::Response>>();
    auto future = answer->get_future();
    api->Handle(std::move(request),
                [answer](http::Response r) { answer->set_value(std::move(r)); });
    REQUIRE(future.wait_for(10s) == std::future_status::ready);
    return future.get();
  }
  http::Response Get(std::string target, std::string authorization = "") {
    return Call("GET", std::move(target), std::move(authorization));
  }
  json::value GetJson(std::string target) {
    const http::Response response = Get(std::move(target));
    INFO(response.body);
    REQUIRE(response.status == 200);
    return json::parse(response.body);
  }

  // Writes finished runs of `job` starting at t0 + i seconds, i in [from, to).
  void AddRuns(store::RunStore& s, const std::string& job, int from, int to,
               RunStatus status = RunStatus::kOk) {
    for (int i = from; i < to; ++i) {
      store::RunRecord run;
      run.job = job;
      run.trigger = store::Trigger::kSchedule;
      run.started_at = clock.Now() + std::chrono::seconds(i);
      run.scheduled_at = run.started_at;
      run.finished_at = run.started_at + 1500ms;
      run.status = status;
      run.error = status == RunStatus::kOk ? "" : "boom " + std::to_string(i);
      auto id = s.InsertRun(run);
      REQUIRE(id);
      run_ids[job].push_back(*id);
    }
  }
};

std::vector<std::int64_t> IdsOf(const json::value& runs) {
  std::vector<std::int64_t> ids;
  for (const auto& run : runs.as_array()) ids.push_back(run.at("id").as_int64());
  return ids;
}

}  // namespace

TEST_CASE("api: the embedded status page's files", "[api][http]") {
  for (const char* path : {"/", "/ui/app.js", "/ui/app.css"}) {
    INFO(path);
    const http::UiAsset* asset = http::FindUiAsset(path);
    REQUIRE(asset != nullptr);
    CHECK_FALSE(asset->body.empty());
    CHECK(asset->etag.size() == 34);
    CHECK(asset->etag.front() == '"');
    CHECK(asset->etag.back() == '"');
  }
  CHECK(http::FindUiAsset("/")->content_type == "text/html; charset=utf-8");
  CHECK(http::FindUiAsset("/ui/app.js")->content_type == "text/javascript; charset=utf-8");
  CHECK(http::FindUiAsset("/ui/app.css")->content_type == "text/css; charset=utf-8");
  CHECK(http::FindUiAsset("/index.html") == nullptr);
  CHECK(http::FindUiAsset("/ui/index.html") == nullptr);
  CHECK(http::FindUiAsset("/ui/") == nullptr);
  // The bytes are the file's, exactly.
  std::ifstream file(std::string(JOBSD_SOURCE_DIR) + "/lib/http_server/ui/app.js",
                     std::ios::binary);
  const std::string on_disk((std::istreambuf_iterator<char>(file)), {});
  CHECK(http::FindUiAsset("/ui/app.js")->body == on_disk);
}

TEST_CASE("api: GET / and /ui/* serve the page with its headers and ETag", "[api][http]") {
  ApiHarness h;
  for (const char* path : {"/", "/ui/app.js", "/ui/app.css"}) {
    INFO(path);
    const http::UiAsset* asset = http::FindUiAsset(path);
    const http::Response page = h.Get(path);
    CHECK(page.status == 200);
    CHECK(page.content_type == asset->content_type);
    CHECK(BodyOf(page) == asset->body);
    CHECK(Header(page, "Cache-Control") == "no-cache");
    CHECK(Header(page, "ETag") == asset->etag);
    CHECK(Header(page, "Content-Security-Policy") == kCsp);
    CHECK(Header(page, "X-Content-Type-Options") == "nosniff");
    CHECK(Header(page, "Referrer-Policy") == "no-referrer");
    CHECK(Header(page, "X-Frame-Options") == "DENY");

    const http::Response head = h.Call("HEAD", path);
    CHECK(head.status == 200);
    CHECK(Header(head, "ETag") == asset->etag);

    const std::string etag(asset->etag);
    for (const std::string& tag : {etag, "\"other\", " + etag, "W/" + etag, std::string("*")}) {
      const http::Response cached = h.Call("GET", path, "", tag);
      CHECK(cached.status == 304);
      CHECK(BodyOf(cached).empty());
      CHECK(Header(cached, "ETag") == etag);
      CHECK(Header(cached, "Content-Security-Policy") == kCsp);
    }
    CHECK(h.Call("GET", path, "", "\"stale\"").status == 200);

    const http::Response post = h.Call("POST", path);
    CHECK(post.status == 405);
    CHECK(Header(post, "Content-Security-Policy") == kCsp);
  }
  const http::Response missing = h.Get("/ui/nothing.js");
  CHECK(missing.status == 404);
  CHECK(Header(missing, "X-Content-Type-Options") == "nosniff");
  CHECK(h.Get("/index.html").status == 404);
}

TEST_CASE("api: http.ui.enabled false turns the page off", "[api][http]") {
  ApiHarness h([](config::HttpConfig& http) { http.ui_enabled = false; });
  for (const char* path : {"/", "/ui/app.js", "/ui/app.css"}) {
    INFO(path);
    CHECK(h.Get(path).status == 404);
  }
  CHECK(h.Get("/api/jobs").status == 200);
  CHECK(h.Get("/healthz").status == 200);
}

TEST_CASE("api: http.ui.token_required guards every GET /api/...", "[api][http]") {
  SECTION("required") {
    ApiHarness h([](config::HttpConfig& http) { http.ui_token_required = true; });
    for (const char* path : {"/api/jobs", "/api/jobs/alpha", "/api/jobs/alpha/runs", "/api/alerts",
                             "/api/runs/recent", "/api/nothing"}) {
      INFO(path);
      const http::Response without = h.Get(path);
      CHECK(without.status == 401);
      CHECK(Header(without, "WWW-Authenticate") == "Bearer");
      CHECK(h.Get(path, "Bearer wrong").status == 403);
      CHECK(h.Get(path, "Basic czNjcmV0").status == 401);
    }
    CHECK(h.Get("/api/jobs", "Bearer s3cret").status == 200);
    CHECK(h.Get("/api/jobs/alpha/runs", "bearer s3cret").status == 200);
    CHECK(h.Get("/api/alerts", "Bearer s3cret").status == 200);
    CHECK(h.Get("/api/runs/recent", "Bearer s3cret").status == 200);
    // Unguarded: probes, metrics and the page's files (they hold no data).
    for (const char* path :
         {"/health", "/healthz", "/readyz", "/metrics", "/", "/ui/app.js", "/ui/app.css"}) {
      INFO(path);
      CHECK(h.Get(path).status == 200);
    }
  }
  SECTION("not required (the default)") {
    ApiHarness h;
    CHECK(h.Get("/api/jobs").status == 200);
    CHECK(h.Get("/api/alerts").status == 200);
    // POST still needs it.
    CHECK(h.Call("POST", "/api/jobs/alpha/run").status == 401);
  }
}

TEST_CASE("api: /api/jobs/{name}/runs pages back with before", "[api][http]") {
  ApiHarness h({}, [](ApiHarness& self, store::RunStore& s) {
    self.AddRuns(s, "alpha", 0, 25);
    self.AddRuns(s, "beta", 0, 3);
  });
  const auto& ids = h.run_ids["alpha"];
  const json::value first = h.GetJson("/api/jobs/alpha/runs?limit=10");
  REQUIRE(first.as_array().size() == 10);
  CHECK(first.at(0).at("id").as_int64() == ids[24]);
  CHECK(first.at(0).at("job").as_string() == "alpha");
  CHECK(first.at(0).as_object().contains("metrics"));
  const auto last = IdsOf(first).back();
  const json::value second =
      h.GetJson("/api/jobs/alpha/runs?limit=10&before=" + std::to_string(last));
  REQUIRE(second.as_array().size() == 10);
  CHECK(second.at(0).at("id").as_int64() == ids[14]);
  const json::value third =
      h.GetJson("/api/jobs/alpha/runs?limit=10&before=" + std::to_string(IdsOf(second).back()));
  CHECK(IdsOf(third) == std::vector<std::int64_t>{ids[4], ids[3], ids[2], ids[1], ids[0]});
  CHECK(h.GetJson("/api/jobs/alpha/runs?before=" + std::to_string(ids[0])).as_array().empty());
  CHECK(h.GetJson("/api/jobs/alpha/runs").as_array().size() == 20);  // the default limit

  for (const char* bad :
       {"before=0", "before=-3", "before=x", "before=1.5", "limit=0", "limit=1001", "limit=ten"}) {
    INFO(bad);
    const http::Response response = h.Get(std::string("/api/jobs/alpha/runs?") + bad);
    CHECK(response.status == 400);
    CHECK(json::parse(response.body).as_object().contains("error"));
  }
  CHECK(h.Get("/api/jobs/nobody/runs").status == 404);
}

TEST_CASE("api: /api/alerts lists the outbox as history --alerts --json does", "[api][http]") {
  ApiHarness h({}, [](ApiHarness& self, store::RunStore& s) {
    for (int i = 0; i < 60; ++i) {
      store::StoredAlert alert;
      alert.raised_at = self.clock.Now() + std::chrono::seconds(i);
      alert.job = i % 3 == 0 ? "" : (i % 3 == 1 ? "alpha" : "beta");
      alert.rule = "consecutive_failures";
      alert.kind = "firing";
      alert.severity = "critical";
      alert.summary = "alert " + std::to_string(i);
      alert.body = R"({"n":)" + std::to_string(i) + "}";
      REQUIRE(s.InsertAlert(
          alert, i == 59 ? std::vector<std::string>{"mail", "slack"} : std::vector<std::string>{}));
    }
  });
  const json::value all = h.GetJson("/api/alerts");
  REQUIRE(all.as_array().size() == 50);  // the default limit
  const json::object& newest = all.at(0).as_object();
  CHECK(newest.at("summary").as_string() == "alert 59");
  CHECK(newest.at("job").as_string() == "beta");
  CHECK(newest.at("rule").as_string() == "consecutive_failures");
  CHECK(newest.at("kind").as_string() == "firing");
  CHECK(newest.at("severity").as_string() == "critical");
  CHECK(newest.at("raised_at").is_string());
  CHECK(newest.at("alert").at("n").as_int64() == 59);
  const json::array& deliveries = newest.at("deliveries").as_array();
  REQUIRE(deliveries.size() == 2);
  CHECK(deliveries.at(0).at("channel").as_string() == "mail");
  CHECK(deliveries.at(0).at("state").as_string() == "pending");
  CHECK(deliveries.at(0).at("attempts").as_int64() == 0);
  CHECK(deliveries.at(0).at("last_attempt_at").is_null());
  CHECK(deliveries.at(0).at("next_attempt_at").is_string());
  CHECK(deliveries.at(0).at("delivery_id").as_string().size() == 36);
  CHECK(deliveries.at(0).at("response").as_string() == "");
  std::vector<std::string> keys;
  for (const auto& entry : newest) keys.emplace_back(entry.key());
  CHECK(keys == std::vector<std::string>{"id", "raised_at", "job", "rule", "kind", "severity",
                                         "summary", "alert", "deliveries"});
  CHECK(all.at(2).at("job").is_null());  // daemon-wide

  const json::value alpha = h.GetJson("/api/alerts?job=alpha&limit=5");
  REQUIRE(alpha.as_array().size() == 5);
  for (const auto& alert : alpha.as_array()) CHECK(alert.at("job").as_string() == "alpha");
  CHECK(h.GetJson("/api/alerts?limit=1000").as_array().size() == 60);
  CHECK(h.GetJson("/api/alerts?job=removed-long-ago").as_array().empty());
  CHECK(h.Get("/api/alerts?limit=0").status == 400);
  CHECK(h.Get("/api/alerts?limit=1001").status == 400);
  CHECK(h.Call("POST", "/api/alerts").status == 405);
}

TEST_CASE("api: /api/runs/recent gives every job's newest runs at once", "[api][http]") {
  ApiHarness h({}, [](ApiHarness& self, store::RunStore& s) {
    self.AddRuns(s, "alpha", 0, 40);
    self.AddRuns(s, "beta", 0, 2, RunStatus::kFailed);
    self.AddRuns(s, "removed", 0, 2);
  });
  const json::value recent = h.GetJson("/api/runs/recent");
  const json::object& jobs = recent.at("jobs").as_object();
  std::vector<std::string> names;
  for (const auto& entry : jobs) names.emplace_back(entry.key());
  CHECK(names == std::vector<std::string>{"alpha", "beta", "idle"});  // the config's, in order
  const json::array& alpha = jobs.at("alpha").as_array();
  REQUIRE(alpha.size() == 30);  // the default
  CHECK(alpha.at(0).at("id").as_int64() == h.run_ids["alpha"][39]);
  CHECK(alpha.at(29).at("id").as_int64() == h.run_ids["alpha"][10]);
  const json::object& run = alpha.at(0).as_object();
  std::vector<std::string> keys;
  for (const auto& entry : run) keys.emplace_back(entry.key());
  CHECK(keys == std::vector<std::string>{"id", "trigger", "status", "scheduled_at", "started_at",
                                         "finished_at", "duration_seconds", "attempt", "error"});
  CHECK(run.at("status").as_string() == "ok");
  CHECK(run.at("trigger").as_string() == "schedule");
  CHECK(run.at("duration_seconds").to_number<double>() == Approx(1.5));
  const json::array& beta = jobs.at("beta").as_array();
  REQUIRE(beta.size() == 2);
  CHECK(beta.at(0).at("status").as_string() == "failed");
  CHECK(beta.at(0).at("error").as_string() == "boom 1");
  CHECK(jobs.at("idle").as_array().empty());

  CHECK(h.GetJson("/api/runs/recent?per_job=5").at("jobs").at("alpha").as_array().size() == 5);
  CHECK(h.GetJson("/api/runs/recent?per_job=100").at("jobs").at("alpha").as_array().size() == 40);
  CHECK(h.Get("/api/runs/recent?per_job=0").status == 400);
  CHECK(h.Get("/api/runs/recent?per_job=101").status == 400);
  CHECK(h.Call("POST", "/api/runs/recent").status == 405);
}

namespace {

// One request over a real socket, the answer as sent (until the server
// closes: the request asks it to).
std::string Exchange(int port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size()));
  std::string answer;
  char chunk[65536];
  for (;;) {
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) break;
    answer.append(chunk, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return answer;
}

}  // namespace

TEST_CASE("api: the page over HTTP: HEAD has the length, 304 has no body", "[api][http]") {
  ApiHarness h;
  boost::asio::io_context io;
  // The server's thread is the Api's loop thread from here on.
  auto server = http::Server::Listen(io, http::ServerOptions{.port = 0},
                                     [&](http::Request request, http::Respond respond) {
                                       h.api->Handle(std::move(request), std::move(respond));
                                     });
  REQUIRE(server);
  std::thread thread([&] { io.run(); });
  const http::UiAsset* index = http::FindUiAsset("/");
  const int port = (*server)->port();

  const std::string get = Exchange(port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(get.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(get.find("Content-Type: text/html; charset=utf-8\r\n") != std::string::npos);
  CHECK(get.find("Content-Security-Policy: " + std::string(kCsp) + "\r\n") != std::string::npos);
  CHECK(get.find("ETag: " + std::string(index->etag) + "\r\n") != std::string::npos);
  CHECK(get.substr(get.find("\r\n\r\n") + 4) == index->body);

  const std::string head =
      Exchange(port, "HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(head.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(head.find("Content-Length: " + std::to_string(index->body.size()) + "\r\n") !=
        std::string::npos);
  CHECK(head.ends_with("\r\n\r\n"));

  const std::string cached =
      Exchange(port, "GET / HTTP/1.1\r\nHost: x\r\nIf-None-Match: " + std::string(index->etag) +
                         "\r\nConnection: close\r\n\r\n");
  CHECK(cached.rfind("HTTP/1.1 304", 0) == 0);
  CHECK(cached.find("Content-Length") == std::string::npos);
  CHECK(cached.find("ETag: " + std::string(index->etag) + "\r\n") != std::string::npos);
  CHECK(cached.ends_with("\r\n\r\n"));

  std::promise<void> stopped;
  boost::asio::post(io, [&] {
    (*server)->Stop();
    stopped.set_value();
  });
  stopped.get_future().wait();
  io.stop();
  thread.join();
}
