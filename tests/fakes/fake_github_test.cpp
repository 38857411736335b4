// The fake GitHub API and blob host answer as GitHub and Azure do: the
// github_artifact job's tests rely on these shapes and refusals, so the fake
// is tested on its own (with cpp-httplib's client, which does nothing behind
// the test's back: no retries, no redirects).
#include "tests/fakes/fake_github.h"

#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "crypto/sha256.h"
#include "http/client.h"

namespace {

using namespace std::chrono_literals;
using fakes::FakeGithubFault;
using fakes::FakeGithubFaultKind;
using fakes::FakeGithubTarget;

struct TempFolder {
  TempFolder() {
    path = std::filesystem::temp_directory_path() /
           ("jobsd-fake-github-" + std::to_string(::getpid()) + "-" +
            std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    std::filesystem::create_directories(path);
  }
  ~TempFolder() { std::filesystem::remove_all(path); }
  std::filesystem::path path;
};

std::filesystem::path WriteFile(const std::filesystem::path& file, const std::string& bytes) {
  std::ofstream(file, std::ios::binary) << bytes;
  return file;
}

std::string Bytes(std::size_t size, int seed) {
  std::string out(size, '\0');
  for (std::size_t i = 0; i < size; ++i) out[i] = char((i * 131 + std::size_t(seed) * 7) % 251);
  return out;
}

const httplib::Headers kHeaders = {{"Authorization", "Bearer test-token"},
                                   {"Accept", "application/vnd.github+json"},
                                   {"X-GitHub-Api-Version", "2022-11-28"}};

constexpr const char* kRepo = "/repos/acme/aq-pipeline";

boost::json::object Json(const httplib::Result& r) {
  REQUIRE(r);
  return boost::json::parse(r->body).as_object();
}

std::vector<std::int64_t> Ids(const boost::json::object& page, const char* list) {
  std::vector<std::int64_t> out;
  for (const auto& item : page.at(list).as_array()) out.push_back(item.at("id").as_int64());
  return out;
}

std::int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The path and query of an absolute URL on `base`.
std::string Target(const std::string& url, const std::string& base) {
  REQUIRE(url.rfind(base, 0) == 0);
  return url.substr(base.size());
}

// The Location of a /zip answer exactly as sent: cpp-httplib's client
// percent-decodes Location headers, the project's client does not.
std::string ZipLocation(const std::string& api_url, std::int64_t id, int* status = nullptr,
                        std::string* content_length = nullptr) {
  http::ClientOptions options;
  options.retry.max_retries = 0;
  http::Client client(options);
  http::CallOptions call;
  call.max_redirects = 0;
  http::ClientRequest request;
  request.url =
      api_url + "/repos/acme/aq-pipeline/actions/artifacts/" + std::to_string(id) + "/zip";
  for (const auto& [name, value] : kHeaders) request.headers.push_back({name, value});
  const auto r = client.Send(request, call);
  REQUIRE(r);
  if (status) *status = r->status;
  if (content_length) *content_length = std::string(r->Find("Content-Length").value_or(""));
  return std::string(r->Find("Location").value_or(""));
}

// A repository with runs on two branches, two events, two workflows and
// every status, and artifacts on three of them.
struct Repo {
  Repo() : Repo(fakes::FakeGithub::Options{}) {}
  explicit Repo(fakes::FakeGithub::Options options) : fake(options) {
    auto run = [](std::int64_t id, const char* day) {
      fakes::FakeWorkflowRun r;
      r.id = id;
      r.created_at = std::string("2024-11-0") + day + "T02:00:00Z";
      return r;
    };
    fake.AddRun(run(101, "1"));
    fake.AddRun(run(102, "2"));
    auto failed = run(103, "3");
    failed.conclusion = "failure";
    fake.AddRun(failed);
    auto dev = run(104, "4");
    dev.head_branch = "dev";
    fake.AddRun(dev);
    auto push = run(105, "5");
    push.event = "push";
    fake.AddRun(push);
    auto nightly = run(106, "6");
    nightly.workflow_file = "nightly-export.yml";
    nightly.workflow_id = 555;
    fake.AddRun(nightly);
    auto running = run(107, "7");
    running.status = "in_progress";
    running.conclusion = "";
    fake.AddRun(running);

    report_102 = Bytes(48213, 1);
    fake.AddArtifact(
        {201, "aq-report", 102, WriteFile(dir.path / "201.zip", report_102), "", false, true});
    fake.AddArtifact(
        {202, "aq-raw", 102, WriteFile(dir.path / "202.zip", Bytes(1000, 2)), "", false, true});
    fake.AddArtifact(
        {203, "aq-report", 106, WriteFile(dir.path / "203.zip", Bytes(5000, 3)), "", false, true});
    fake.AddArtifact(
        {204, "aq-report", 101, WriteFile(dir.path / "204.zip", Bytes(10, 4)), "", true, false});
    fake.Start();
  }

  httplib::Client Api() const { return httplib::Client(fake.api_url()); }
  httplib::Client Blob() const {
    httplib::Client c(fake.blob_url());
    c.set_url_encode(false);  // the signed URL is followed verbatim
    return c;
  }
  // The blob URL a /zip answer redirects to.
  std::string SignedUrl(std::int64_t id) {
    int status = 0;
    const std::string location = ZipLocation(fake.api_url(), id, &status);
    REQUIRE(status == 302);
    return location;
  }

  TempFolder dir;
  fakes::FakeGithub fake;
  std::string report_102;
};

}  // namespace

TEST_CASE("fake github: runs filtered, newest first, paged by the link header", "[fake_github]") {
  Repo repo;
  auto api = repo.Api();
  const std::string query = "?branch=main&status=success&event=schedule&per_page=2";
  const auto first = api.Get(std::string(kRepo) + "/actions/runs" + query, kHeaders);
  REQUIRE(first);
  CHECK(first->status == 200);
  CHECK(first->get_header_value("Content-Type") == "application/json; charset=utf-8");
  CHECK(first->get_header_value("x-github-api-version-selected") == "2022-11-28");
  const auto page1 = Json(first);
  CHECK(page1.at("total_count").as_int64() == 3);
  CHECK(Ids(page1, "workflow_runs") == std::vector<std::int64_t>{106, 102});
  const auto& run = page1.at("workflow_runs").as_array()[1].as_object();
  CHECK(run.at("head_branch").as_string() == "main");
  CHECK(run.at("status").as_string() == "completed");
  CHECK(run.at("conclusion").as_string() == "success");
  CHECK(run.at("path").as_string() == ".github/workflows/hourly.yml");
  CHECK(run.at("workflow_id").as_int64() == 98765432);
  CHECK(run.at("created_at").as_string() == "2024-11-02T02:00:00Z");
  CHECK(run.at("updated_at").as_string() == "2024-11-02T02:15:00Z");
  CHECK(run.at("artifacts_url").as_string() ==
        repo.fake.api_url() + "/repos/acme/aq-pipeline/actions/runs/102/artifacts");
  CHECK(run.at("repository").at("id").as_int64() == 712345678);

  const std::string base = repo.fake.api_url() + "/repositories/712345678/actions/runs" + query;
  CHECK(first->get_header_value("Link") ==
        "<" + base + "&page=2>; rel=\"next\", <" + base + "&page=2>; rel=\"last\"");
  // The next URL, followed verbatim, is the /repositories/ form.
  const std::string next = base + "&page=2";
  const auto second = api.Get(Target(next, repo.fake.api_url()), kHeaders);
  const auto page2 = Json(second);
  CHECK(second->status == 200);
  CHECK(page2.at("total_count").as_int64() == 3);
  CHECK(Ids(page2, "workflow_runs") == std::vector<std::int64_t>{101});
  CHECK(second->get_header_value("Link") ==
        "<" + base + "&page=1>; rel=\"prev\", <" + base + "&page=1>; rel=\"first\"");

  // status=completed is every finished run whatever its conclusion.
  CHECK(Ids(Json(api.Get(
                std::string(kRepo) + "/actions/runs?branch=main&event=schedule&status=completed",
                kHeaders)),
            "workflow_runs") == std::vector<std::int64_t>{106, 103, 102, 101});
  CHECK(Ids(Json(api.Get(std::string(kRepo) + "/actions/runs?status=in_progress", kHeaders)),
            "workflow_runs") == std::vector<std::int64_t>{107});
  const auto all = api.Get(std::string(kRepo) + "/actions/runs", kHeaders);
  CHECK(Json(all).at("total_count").as_int64() == 7);
  CHECK(!all->has_header("Link"));  // one page
  CHECK(Json(all).at("workflow_runs").as_array()[0].at("conclusion").is_null());

  // A workflow by file name or by id; an unknown one is a 404.
  for (const char* workflow : {"nightly-export.yml", "555"}) {
    CHECK(Ids(Json(api.Get(
                  std::string(kRepo) + "/actions/workflows/" + workflow + "/runs?branch=main",
                  kHeaders)),
              "workflow_runs") == std::vector<std::int64_t>{106});
  }
  CHECK(api.Get(std::string(kRepo) + "/actions/workflows/nope.yml/runs", kHeaders)->status == 404);
  // per_page past 100 is 100.
  const auto big = api.Get(std::string(kRepo) + "/actions/runs?per_page=500&page=2", kHeaders);
  CHECK(Json(big).at("workflow_runs").as_array().empty());
  CHECK(big->get_header_value("Link").find("per_page=500&page=1>; rel=\"prev\"") !=
        std::string::npos);
  CHECK(Json(api.Get(std::string(kRepo) + "/actions/runs/104", kHeaders))
            .at("head_branch")
            .as_string() == "dev");
  CHECK(api.Get(std::string(kRepo) + "/actions/runs/999", kHeaders)->status == 404);
  CHECK(repo.fake.every_request_had_api_version_and_user_agent());
}

TEST_CASE("fake github: artifacts of a run, by name, and one by id", "[fake_github]") {
  Repo repo;
  auto api = repo.Api();
  const auto of_run = Json(api.Get(std::string(kRepo) + "/actions/runs/102/artifacts", kHeaders));
  CHECK(of_run.at("total_count").as_int64() == 2);
  CHECK(Ids(of_run, "artifacts") == std::vector<std::int64_t>{201, 202});  // upload order
  CHECK(Ids(Json(api.Get(std::string(kRepo) + "/actions/runs/102/artifacts?name=aq-raw", kHeaders)),
            "artifacts") == std::vector<std::int64_t>{202});
  CHECK(api.Get(std::string(kRepo) + "/actions/runs/999/artifacts", kHeaders)->status == 404);

  const auto named =
      api.Get(std::string(kRepo) + "/actions/artifacts?name=aq-report&per_page=2", kHeaders);
  CHECK(Json(named).at("total_count").as_int64() == 3);
  CHECK(Ids(Json(named), "artifacts") == std::vector<std::int64_t>{203, 201});  // newest first
  const std::string next =
      repo.fake.api_url() +
      "/repositories/712345678/actions/artifacts?name=aq-report&per_page=2&page=2";
  CHECK(named->get_header_value("Link").find("<" + next + ">; rel=\"next\"") == 0);
  CHECK(Ids(Json(api.Get(Target(next, repo.fake.api_url()), kHeaders)), "artifacts") ==
        std::vector<std::int64_t>{204});

  const auto one = Json(api.Get(std::string(kRepo) + "/actions/artifacts/201", kHeaders));
  const std::string url = repo.fake.api_url() + "/repos/acme/aq-pipeline/actions/artifacts/201";
  CHECK(one.at("id").as_int64() == 201);
  CHECK(one.at("node_id").as_string() == "MDg6QXJ0aWZhY3Qy201");
  CHECK(one.at("name").as_string() == "aq-report");
  CHECK(one.at("size_in_bytes").to_number<std::int64_t>() == 48213);
  CHECK(one.at("url").as_string() == url);
  CHECK(one.at("archive_download_url").as_string() == url + "/zip");
  CHECK(one.at("expired").as_bool() == false);
  CHECK(one.at("created_at").as_string() == "2024-11-02T02:15:00Z");  // the run's updated_at
  CHECK(one.at("expires_at").as_string() == "2025-01-31T02:15:00Z");  // 90 days
  CHECK(one.at("digest").as_string() == "sha256:" + crypto::Sha256Hex(repo.report_102));
  const auto& wr = one.at("workflow_run").as_object();
  CHECK(wr.at("id").as_int64() == 102);
  CHECK(wr.at("repository_id").as_int64() == 712345678);
  CHECK(wr.at("head_repository_id").as_int64() == 712345678);
  CHECK(wr.at("head_branch").as_string() == "main");
  CHECK(wr.at("head_sha").as_string() == "3f9c2a1d7be04c8e9a61b5d2c0e8f7a6b5c4d3e2");

  const auto expired = Json(api.Get(std::string(kRepo) + "/actions/artifacts/204", kHeaders));
  CHECK(expired.at("expired").as_bool() == true);
  CHECK(expired.at("digest").is_null());
  CHECK(api.Get(std::string(kRepo) + "/actions/artifacts/999", kHeaders)->status == 404);
}

TEST_CASE("fake github: weak ETags, 304 on If-None-Match, not counted", "[fake_github]") {
  Repo repo;
  auto api = repo.Api();
  const std::string path = std::string(kRepo) + "/actions/runs?per_page=2";
  const auto first = api.Get(path, kHeaders);
  REQUIRE(first);
  const std::string etag = first->get_header_value("ETag");
  CHECK(etag == "W/\"" + crypto::Sha256Hex(first->body) + "\"");
  auto conditional = kHeaders;
  conditional.emplace("If-None-Match", etag);
  const auto again = api.Get(path, conditional);
  REQUIRE(again);
  CHECK(again->status == 304);
  CHECK(again->body.empty());
  CHECK(again->get_header_value("ETag") == etag);
  CHECK(again->get_header_value("x-ratelimit-used") == first->get_header_value("x-ratelimit-used"));
  CHECK(repo.fake.not_modified() == 1);
  // Another ETag (the data changed): the whole answer again.
  auto stale = kHeaders;
  stale.emplace("If-None-Match", "W/\"0000\"");
  CHECK(api.Get(path, stale)->status == 200);
  // The single artifact too.
  const auto artifact = api.Get(std::string(kRepo) + "/actions/artifacts/201", kHeaders);
  auto artifact_again = kHeaders;
  artifact_again.emplace("If-None-Match", artifact->get_header_value("ETag"));
  CHECK(api.Get(std::string(kRepo) + "/actions/artifacts/201", artifact_again)->status == 304);
  CHECK(repo.fake.not_modified() == 2);
  CHECK(repo.fake.requests() == 5);
}

TEST_CASE("fake github: the token, the repository, rate-limit headers, the log", "[fake_github]") {
  fakes::FakeGithub::Options options;
  options.rate_limit = 5;
  Repo repo(options);
  auto api = repo.Api();
  const std::string path = std::string(kRepo) + "/actions/runs";
  const auto none = api.Get(path);
  REQUIRE(none);
  CHECK(none->status == 401);
  CHECK(Json(none).at("message").as_string() == "Bad credentials");
  CHECK(Json(none).at("documentation_url").as_string().starts_with("https://docs.github.com/"));
  CHECK(api.Get(path, {{"Authorization", "Bearer wrong"}})->status == 401);
  CHECK(api.Get(path, {{"Authorization", "token test-token"}})->status == 200);
  const auto other = api.Get("/repos/acme/other/actions/runs", kHeaders);
  CHECK(other->status == 404);
  CHECK(Json(other).at("message").as_string() == "Not Found");
  const auto fifth = api.Get("/repositories/1/actions/runs", kHeaders);
  CHECK(fifth->status == 404);
  CHECK(fifth->get_header_value("x-ratelimit-limit") == "5");
  CHECK(other->get_header_value("x-ratelimit-remaining") == "1");
  CHECK(fifth->get_header_value("x-ratelimit-remaining") == "0");
  CHECK(fifth->get_header_value("x-ratelimit-used") == "5");
  CHECK(fifth->get_header_value("x-ratelimit-resource") == "core");
  const std::int64_t reset = std::stoll(fifth->get_header_value("x-ratelimit-reset"));
  CHECK(reset > Now() + 3500);
  CHECK(reset <= Now() + 3600);
  // Past the hourly limit: 403 until the reset.
  const auto over = api.Get(path, kHeaders);
  CHECK(over->status == 403);
  CHECK(Json(over).at("message").as_string().starts_with("API rate limit exceeded"));
  CHECK(over->get_header_value("x-ratelimit-reset") == std::to_string(reset));

  CHECK(!repo.fake.every_request_had_api_version_and_user_agent());
  const auto log = repo.fake.request_log();
  REQUIRE(log.size() == 6);
  CHECK(log[0] == "api GET /repos/acme/aq-pipeline/actions/runs");
  const auto details = repo.fake.request_details();
  CHECK(details[0].status == 401);
  CHECK(!details[0].authorization);
  CHECK(details[0].user_agent.starts_with("cpp-httplib"));
  CHECK(details[4].api_version == "2022-11-28");
  CHECK(details[4].accept == "application/vnd.github+json");
  CHECK(details[5].status == 403);
}

TEST_CASE("fake github: /zip redirects to a signed blob URL, which refuses tokens",
          "[fake_github]") {
  Repo repo;
  int status = 0;
  std::string content_length;
  const std::string location = ZipLocation(repo.fake.api_url(), 201, &status, &content_length);
  CHECK(status == 302);
  CHECK(content_length == "0");
  CHECK(location.rfind(repo.fake.blob_url() + "/artifacts/201.zip?", 0) == 0);
  // se: about url_lifetime (60 s) from now.
  const std::size_t se = location.find("&se=");
  REQUIRE(se != std::string::npos);
  std::string expiry = location.substr(se + 4, location.find('&', se + 1) - se - 4);
  CHECK(expiry.find("%3A") != std::string::npos);
  for (std::size_t p; (p = expiry.find("%3A")) != std::string::npos;) expiry.replace(p, 3, ":");
  std::tm tm{};
  REQUIRE(::strptime(expiry.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm) != nullptr);
  const std::int64_t expires = timegm(&tm);
  CHECK(expires >= Now() + 55);
  CHECK(expires <= Now() + 61);
  CHECK(location.find("&sig=") != std::string::npos);

  auto blob = repo.Blob();
  const std::string target = Target(location, repo.fake.blob_url());
  const auto head = blob.Head(target);
  REQUIRE(head);
  CHECK(head->status == 200);
  CHECK(head->get_header_value("Content-Length") == "48213");
  CHECK(head->body.empty());
  const auto got = blob.Get(target, {{"User-Agent", "jobsd-test"}});
  REQUIRE(got);
  CHECK(got->status == 200);
  CHECK(got->get_header_value("Content-Type") == "application/zip");
  CHECK(got->get_header_value("x-ms-blob-type") == "BlockBlob");
  CHECK(got->body == repo.report_102);
  const auto range = blob.Get(target, {{"Range", "bytes=100-199"}});
  CHECK(range->status == 206);
  CHECK(range->body == repo.report_102.substr(100, 100));
  CHECK(!repo.fake.token_reached_blob_host());

  // A token must never go to the blob host.
  const auto with_token = blob.Get(target, {{"Authorization", "Bearer test-token"}});
  REQUIRE(with_token);
  CHECK(with_token->status == 400);
  CHECK(with_token->get_header_value("Content-Type") == "application/xml");
  CHECK(with_token->body.find("<Code>InvalidAuthenticationInfo</Code>") != std::string::npos);
  CHECK(repo.fake.token_reached_blob_host());

  // A signature that does not match.
  std::string forged = target;
  forged.replace(forged.find("&sig=") + 5, 4, "AAAA");
  const auto bad = blob.Get(forged);
  CHECK(bad->status == 403);
  CHECK(bad->body.find("<Code>AuthenticationFailed</Code>") != std::string::npos);
  CHECK(blob.Get("/artifacts/201.zip")->status == 403);
  CHECK(repo.fake.blob_requests() == 6);

  // An expired artifact has no download.
  const auto gone = repo.Api().Get(std::string(kRepo) + "/actions/artifacts/204/zip", kHeaders);
  CHECK(gone->status == 410);
  CHECK(Json(gone).at("message").as_string() == "Artifact has expired");
}

TEST_CASE("fake github: each fault once", "[fake_github]") {
  Repo repo;
  auto api = repo.Api();
  auto blob = repo.Blob();
  const std::string runs = std::string(kRepo) + "/actions/runs";
  auto fault = [&](FakeGithubFaultKind kind, FakeGithubTarget target = FakeGithubTarget::kApi) {
    FakeGithubFault f;
    f.kind = kind;
    f.target = target;
    return f;
  };

  SECTION("statuses with GitHub's messages, or a given one") {
    for (const auto& [status, message] :
         std::vector<std::pair<int, std::string>>{{403, "Resource not accessible by integration"},
                                                  {404, "Not Found"},
                                                  {410, "Artifact has expired"}}) {
      auto f = fault(FakeGithubFaultKind::kStatus);
      f.status = status;
      repo.fake.AddFault(f);
      const auto r = api.Get(runs, kHeaders);
      CHECK(r->status == status);
      CHECK(Json(r).at("message").as_string() == message);
    }
    auto f = fault(FakeGithubFaultKind::kStatus);
    f.status = 502;
    f.message = "Server Error";
    repo.fake.AddFault(f);
    CHECK(api.Get(runs, kHeaders)->status == 502);
    CHECK(api.Get(runs, kHeaders)->status == 200);
  }
  SECTION("the nth request on a path, several times") {
    auto f = fault(FakeGithubFaultKind::kStatus, FakeGithubTarget::kPath);
    f.path = "/artifacts";
    f.nth = 2;
    f.times = 2;
    repo.fake.AddFault(f);
    const std::string artifacts = std::string(kRepo) + "/actions/artifacts";
    CHECK(api.Get(artifacts, kHeaders)->status == 200);
    CHECK(api.Get(runs, kHeaders)->status == 200);  // not a match
    CHECK(api.Get(artifacts, kHeaders)->status == 500);
    CHECK(api.Get(artifacts, kHeaders)->status == 500);
    CHECK(api.Get(artifacts, kHeaders)->status == 200);
  }
  SECTION("a primary rate limit as 403 holds until its reset") {
    auto f = fault(FakeGithubFaultKind::kPrimaryRateLimit);
    f.status = 403;
    f.seconds = 1;
    repo.fake.AddFault(f);
    const auto limited = api.Get(runs, kHeaders);
    CHECK(limited->status == 403);
    CHECK(limited->get_header_value("x-ratelimit-remaining") == "0");
    const std::int64_t reset = std::stoll(limited->get_header_value("x-ratelimit-reset"));
    CHECK(reset >= Now());
    CHECK(reset <= Now() + 1);
    CHECK(Json(limited).at("message").as_string().starts_with(
        "API rate limit exceeded for installation ID"));
    CHECK(Json(limited).at("documentation_url").as_string() ==
          "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api");
    // A fault added now falls after the rate limit.
    auto after = fault(FakeGithubFaultKind::kStatus);
    after.status = 500;
    repo.fake.AddFault(after);
    // A client that ignores the reset fails again.
    CHECK(api.Get(runs, kHeaders)->status == 403);
    while (Now() < reset) std::this_thread::sleep_for(20ms);
    CHECK(api.Get(runs, kHeaders)->status == 500);
    CHECK(api.Get(runs, kHeaders)->status == 200);
  }
  SECTION("a primary rate limit as 429") {
    auto f = fault(FakeGithubFaultKind::kPrimaryRateLimit);
    f.status = 429;
    f.seconds = 30;
    repo.fake.AddFault(f);
    const auto limited = api.Get(runs, kHeaders);
    CHECK(limited->status == 429);
    CHECK(limited->get_header_value("x-ratelimit-remaining") == "0");
    CHECK(std::stoll(limited->get_header_value("x-ratelimit-reset")) >= Now() + 29);
    CHECK(api.Get(std::string(kRepo) + "/actions/artifacts", kHeaders)->status == 429);
  }
  SECTION("a secondary rate limit with retry-after holds until then") {
    auto f = fault(FakeGithubFaultKind::kSecondaryRateLimit);
    f.seconds = 1;
    repo.fake.AddFault(f);
    const auto limited = api.Get(runs, kHeaders);
    CHECK(limited->status == 403);
    CHECK(limited->get_header_value("retry-after") == "1");
    CHECK(limited->get_header_value("x-ratelimit-remaining") != "0");
    CHECK(Json(limited).at("message").as_string().starts_with(
        "You have exceeded a secondary rate limit"));
    CHECK(api.Get(runs, kHeaders)->status == 403);
    std::this_thread::sleep_for(1100ms);
    CHECK(api.Get(runs, kHeaders)->status == 200);
  }
  SECTION("a secondary rate limit without retry-after") {
    auto f = fault(FakeGithubFaultKind::kSecondaryRateLimit);
    f.seconds = 0;
    repo.fake.AddFault(f);
    const auto limited = api.Get(runs, kHeaders);
    CHECK(limited->status == 403);
    CHECK(!limited->has_header("retry-after"));
    CHECK(Json(limited).at("message").as_string().find("secondary rate limit") !=
          std::string::npos);
    CHECK(api.Get(runs, kHeaders)->status == 200);
  }
  SECTION("a truncated blob") {
    const std::string target = Target(repo.SignedUrl(201), repo.fake.blob_url());
    repo.fake.AddFault(fault(FakeGithubFaultKind::kTruncate, FakeGithubTarget::kBlob));
    std::size_t received = 0;
    const auto r = blob.Get(target, [&](const char*, std::size_t n) {
      received += n;
      return true;
    });
    CHECK(!r);
    CHECK(received > 0);
    CHECK(received < repo.report_102.size());
    CHECK(blob.Get(target)->body == repo.report_102);
  }
  SECTION("a truncated API answer") {
    repo.fake.AddFault(fault(FakeGithubFaultKind::kTruncate));
    CHECK(!api.Get(runs, kHeaders));
    CHECK(api.Get(runs, kHeaders)->status == 200);
  }
  SECTION("a corrupt blob: one byte flipped") {
    const std::string target = Target(repo.SignedUrl(201), repo.fake.blob_url());
    repo.fake.AddFault(fault(FakeGithubFaultKind::kCorrupt, FakeGithubTarget::kBlob));
    const auto r = blob.Get(target);
    REQUIRE(r);
    CHECK(r->status == 200);
    REQUIRE(r->body.size() == repo.report_102.size());
    std::vector<std::size_t> differ;
    for (std::size_t i = 0; i < r->body.size(); ++i) {
      if (r->body[i] != repo.report_102[i]) differ.push_back(i);
    }
    CHECK(differ == std::vector<std::size_t>{repo.report_102.size() / 2});
  }
  SECTION("an expired signed URL: the blob host refuses, a new /zip works") {
    repo.fake.AddFault(fault(FakeGithubFaultKind::kExpiredUrl));
    CHECK(api.Get(runs, kHeaders)->status == 200);  // not a /zip request
    const auto expired = blob.Get(Target(repo.SignedUrl(201), repo.fake.blob_url()));
    REQUIRE(expired);
    CHECK(expired->status == 403);
    CHECK(expired->body.find("<Code>AuthenticationFailed</Code>") != std::string::npos);
    CHECK(expired->body.find("Signed expiry time") != std::string::npos);
    CHECK(expired->body.find("must be after signed start time") != std::string::npos);
    CHECK(blob.Get(Target(repo.SignedUrl(201), repo.fake.blob_url()))->status == 200);
  }
  SECTION("a reset connection, on either host") {
    repo.fake.AddFault(fault(FakeGithubFaultKind::kReset));
    CHECK(!api.Get(runs, kHeaders));
    CHECK(api.Get(runs, kHeaders)->status == 200);
    const std::string target = Target(repo.SignedUrl(201), repo.fake.blob_url());
    repo.fake.AddFault(fault(FakeGithubFaultKind::kReset, FakeGithubTarget::kBlob));
    CHECK(!blob.Get(target));
    CHECK(blob.Get(target)->status == 200);
    const auto details = repo.fake.request_details();
    REQUIRE(details.size() == 5);
    CHECK(details[0].status == 0);
    CHECK(details[1].status == 200);
    CHECK(details[3].status == 0);
  }
  SECTION("a slow answer") {
    auto f = fault(FakeGithubFaultKind::kSlow);
    f.delay_ms = 300;
    repo.fake.AddFault(f);
    const auto start = std::chrono::steady_clock::now();
    CHECK(api.Get(runs, kHeaders)->status == 200);
    CHECK(std::chrono::steady_clock::now() - start >= 300ms);
  }
  SECTION("a blob host error") {
    const std::string target = Target(repo.SignedUrl(201), repo.fake.blob_url());
    auto f = fault(FakeGithubFaultKind::kStatus, FakeGithubTarget::kBlob);
    f.status = 503;
    repo.fake.AddFault(f);
    const auto r = blob.Get(target);
    CHECK(r->status == 503);
    CHECK(r->body.find("<Code>ServerBusy</Code>") != std::string::npos);
  }
}

TEST_CASE("fake github: the control endpoints and the spec", "[fake_github]") {
  TempFolder dir;
  WriteFile(dir.path / "a.zip", "zip bytes");
  fakes::FakeGithub fake;
  fake.LoadSpec(R"({"runs": [{"id": 1, "created_at": "2024-11-01T00:00:00Z"}],
                    "artifacts": [{"id": 10, "name": "aq-report", "run_id": 1, "file": "a.zip"}]})",
                dir.path);
  CHECK_THROWS_AS(fake.LoadSpec(R"({"runs": [{"id": 2, "branch": "main"}]})"),
                  std::invalid_argument);
  CHECK_THROWS_AS(fake.LoadSpec(R"({"artifacts": [{"id": 3, "run_id": 99, "file": "x"}]})"),
                  std::invalid_argument);
  fake.Start();
  httplib::Client api(fake.api_url());
  CHECK(api.Post("/_fake/run", R"({"id": 2, "created_at": "2024-11-02T00:00:00Z"})",
                 "application/json")
            ->status == 200);
  const std::string file = (dir.path / "a.zip").string();
  CHECK(api.Post("/_fake/artifact",
                 R"({"id": 20, "name": "aq-report", "run_id": 2, "file": ")" + file + "\"}",
                 "application/json")
            ->status == 200);
  CHECK(api.Post("/_fake/artifact", R"({"id": 21, "run_id": 404, "file": "nope"})",
                 "application/json")
            ->status == 400);
  CHECK(api.Post("/_fake/fault", R"({"kind": "status", "status": 404, "path": "/artifacts"})",
                 "application/json")
            ->status == 200);
  const std::string list = "/repos/acme/aq-pipeline/actions/artifacts?name=aq-report";
  CHECK(api.Get(list, kHeaders)->status == 404);
  const auto page = Json(api.Get(list, kHeaders));
  CHECK(Ids(page, "artifacts") == std::vector<std::int64_t>{20, 10});
  const auto log = Json(api.Get("/_fake/log"));
  CHECK(log.at("requests").as_int64() == 2);
  CHECK(log.at("blob_requests").as_int64() == 0);
  CHECK(log.at("not_modified").as_int64() == 0);
  CHECK(log.at("token_reached_blob_host").as_bool() == false);
  CHECK(log.at("every_request_had_api_version_and_user_agent").as_bool() == true);
  CHECK(log.at("log").as_array()[0].at("status").as_int64() == 404);
  CHECK(log.at("log").as_array()[1].at("target").as_string() == list);
}

TEST_CASE("fake github: a 100 MiB artifact streams with flat memory", "[fake_github]") {
  TempFolder dir;
  const std::filesystem::path file = dir.path / "big.zip";
  constexpr std::uintmax_t kSize = std::uintmax_t(100) << 20;
  { std::ofstream(file, std::ios::binary); }
  std::filesystem::resize_file(file, kSize);  // sparse: no disk written
  fakes::FakeGithub fake;
  fakes::FakeWorkflowRun run;
  run.id = 1;
  fake.AddRun(run);
  fakes::FakeArtifact artifact;
  artifact.id = 2;
  artifact.name = "big";
  artifact.run_id = 1;
  artifact.file = file;
  artifact.digest = false;  // hashing 100 MiB is not what this measures
  fake.AddArtifact(artifact);
  fake.Start();
  const std::string location = ZipLocation(fake.api_url(), 2);
  httplib::Client blob(fake.blob_url());
  blob.set_url_encode(false);

  auto rss = [] {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    }
    return 0L;
  };
  std::atomic<bool> done{false};
  std::atomic<long> peak{0};
  const long before = rss();
  std::thread sampler([&] {
    while (!done) {
      peak = std::max(peak.load(), rss());
      std::this_thread::sleep_for(2ms);
    }
  });
  std::uintmax_t received = 0;
  const auto r = blob.Get(Target(location, fake.blob_url()), [&](const char*, std::size_t n) {
    received += n;
    return true;
  });
  done = true;
  sampler.join();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->get_header_value("Content-Length") == std::to_string(kSize));
  CHECK(received == kSize);
  // The whole file held in memory would raise the RSS by 100 MiB.
  CHECK(peak - before < 24 * 1024);
}
