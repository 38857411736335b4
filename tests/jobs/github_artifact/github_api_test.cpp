// GitHub's answers as documented (tests/testdata/github, from GitHub's REST
// reference), and its refusals.
#include "jobs/github_artifact/github_api.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <iterator>

namespace jobs::github_artifact {
namespace {

using namespace std::chrono_literals;

std::string Testdata(const std::string& name) {
  std::ifstream in(std::string(JOBSD_SOURCE_DIR) + "/tests/testdata/github/" + name);
  REQUIRE(in);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

core::TimePoint At(const char* rfc3339) {
  auto t = core::ParseRfc3339(rfc3339);
  REQUIRE(t);
  return *t;
}

http::ClientResponse Answer(int status, std::vector<http::Header> headers, std::string body = {}) {
  http::ClientResponse response;
  response.status = status;
  response.headers = std::move(headers);
  response.body = std::move(body);
  return response;
}

const auto kNow = std::chrono::system_clock::time_point(std::chrono::seconds(1730775000));

}  // namespace

TEST_CASE("github api: workflow runs as GitHub lists them", "[github_artifact][api]") {
  auto runs = ParseRuns(Testdata("runs_page1.json"));
  INFO((runs ? "" : runs.error().message));
  REQUIRE(runs);
  REQUIRE(runs->size() == 2);
  CHECK((*runs)[0].id == 11223344556);
  CHECK((*runs)[0].head_branch == "main");
  CHECK((*runs)[0].head_sha.size() == 40);
  CHECK((*runs)[0].event == "schedule");
  CHECK((*runs)[0].created_at == At("2024-11-04T02:04:12Z"));
  CHECK((*runs)[0].updated_at == At("2024-11-04T02:19:55Z"));
  CHECK((*runs)[1].id == 11223300001);

  auto page2 = ParseRuns(Testdata("runs_page2.json"));
  REQUIRE(page2);
  CHECK(page2->size() == 1);
  auto workflow = ParseRuns(Testdata("workflow_runs_nightly_export.json"));
  REQUIRE(workflow);
  CHECK_FALSE(workflow->empty());

  // A run of a deleted branch has null head_branch.
  auto deleted =
      ParseRuns(R"({"workflow_runs":[{"id":1,"head_branch":null,"head_sha":null,"event":"push",)"
                R"("created_at":"2024-11-04T02:04:12Z","updated_at":"2024-11-04T02:04:13Z"}]})");
  REQUIRE(deleted);
  CHECK((*deleted)[0].head_branch.empty());
}

TEST_CASE("github api: artifacts, their digests and expiry", "[github_artifact][api]") {
  auto artifacts = ParseArtifacts(Testdata("run_11223344556_artifacts.json"));
  INFO((artifacts ? "" : artifacts.error().message));
  REQUIRE(artifacts);
  REQUIRE(artifacts->size() == 3);
  const Artifact& report = (*artifacts)[0];
  CHECK(report.id == 2209876543);
  CHECK(report.name == "aq-report");
  CHECK(report.size_in_bytes > 0);
  CHECK_FALSE(report.expired);
  CHECK(report.created_at == At("2024-11-04T02:17:41Z"));
  REQUIRE(report.digest);
  CHECK(report.digest->rfind("sha256:", 0) == 0);
  CHECK(report.run_id == 11223344556);
  CHECK(report.head_branch == "main");
  CHECK((*artifacts)[2].expired);

  // Artifacts uploaded before upload-artifact v4 have a null digest.
  auto by_name = ParseArtifacts(Testdata("artifacts_name_aq-report.json"));
  REQUIRE(by_name);
  REQUIRE(by_name->size() == 3);
  CHECK((*by_name)[0].id == 2209990001);
  CHECK_FALSE((*by_name)[2].digest);
  CHECK((*by_name)[2].expired);
}

TEST_CASE("github api: a malformed answer names the field", "[github_artifact][api]") {
  auto no_list = ParseArtifacts(R"({"total_count":1})");
  REQUIRE_FALSE(no_list);
  CHECK_THAT(no_list.error().message, Catch::Contains("artifacts"));
  auto bad_time =
      ParseArtifacts(R"({"artifacts":[{"id":1,"name":"a","size_in_bytes":1,"expired":false,)"
                     R"("created_at":"yesterday","digest":null,"workflow_run":null}]})");
  REQUIRE_FALSE(bad_time);
  CHECK_THAT(bad_time.error().message, Catch::Contains("created_at"));
  auto negative =
      ParseArtifacts(R"({"artifacts":[{"id":1,"name":"a","size_in_bytes":-1,"expired":false,)"
                     R"("created_at":"2024-11-04T02:17:41Z","digest":null}]})");
  REQUIRE_FALSE(negative);
  CHECK_THAT(negative.error().message, Catch::Contains("size_in_bytes"));
  auto no_id = ParseRuns(R"({"workflow_runs":[{"head_branch":"main"}]})");
  REQUIRE_FALSE(no_id);
  CHECK_THAT(no_id.error().message, Catch::Contains("id"));
  CHECK_FALSE(ParseRuns("{\"workflow_runs\": ["));  // truncated
}

TEST_CASE("github api: the link header's next page", "[github_artifact][api]") {
  // As GitHub writes it (manifest.json): next and last, /repositories/{id} URLs.
  CHECK(NextLink("<https://api.github.com/repositories/712345678/actions/runs?branch=main&"
                 "status=success&event=schedule&per_page=2&page=2>; rel=\"next\", "
                 "<https://api.github.com/repositories/712345678/actions/runs?branch=main&"
                 "status=success&event=schedule&per_page=2&page=2>; rel=\"last\"") ==
        std::optional<std::string>("https://api.github.com/repositories/712345678/actions/"
                                   "runs?branch=main&status=success&event=schedule&per_page=2&"
                                   "page=2"));
  // The last page has prev and first only.
  CHECK_FALSE(
      NextLink("<https://api.github.com/x?page=1>; rel=\"prev\", "
               "<https://api.github.com/x?page=1>; rel=\"first\""));
  CHECK(NextLink("<https://a/x?page=3>; rel=\"prev\", <https://a/x?page=5>; rel=\"next\"") ==
        std::optional<std::string>("https://a/x?page=5"));
  // RFC 8288 also allows unquoted and several relations, in any case.
  CHECK(NextLink("<https://a/x?page=2>; rel=next") ==
        std::optional<std::string>("https://a/x?page=2"));
  CHECK(NextLink("<https://a/x?page=2>; rel=\"last NEXT\"") ==
        std::optional<std::string>("https://a/x?page=2"));
  CHECK_FALSE(NextLink("<https://a/x?page=2>; rel=\"nextish\""));
  CHECK_FALSE(NextLink(""));
  CHECK_FALSE(NextLink("garbage"));
  CHECK_FALSE(NextLink("<https://a/x?page=2; rel=\"next\""));
}

TEST_CASE("github api: what each refusal means", "[github_artifact][api]") {
  const std::string reset = std::to_string(1730775000 + 30);
  SECTION("primary rate limit, as 403 and as 429: wait for x-ratelimit-reset") {
    for (int status : {403, 429}) {
      const auto r = ClassifyRefusal(
          Answer(status, {{"x-ratelimit-remaining", "0"}, {"x-ratelimit-reset", reset}},
                 R"({"message":"API rate limit exceeded for installation ID 1."})"),
          "listing runs", kNow, 0);
      CHECK(r.kind == Refusal::Kind::kRateLimit);
      CHECK(r.wait == 31s);  // the reset, plus a second to land in the new window
      CHECK_FALSE(r.doubles);
    }
    // A reset already past (clocks differ): a minute.
    const auto past = ClassifyRefusal(
        Answer(403, {{"x-ratelimit-remaining", "0"}, {"x-ratelimit-reset", "1"}}), "x", kNow, 0);
    CHECK(past.kind == Refusal::Kind::kRateLimit);
    CHECK(past.wait == 60s);
  }
  SECTION("secondary rate limit with retry-after: that long") {
    const auto r =
        ClassifyRefusal(Answer(403, {{"retry-after", "7"}, {"x-ratelimit-remaining", "4000"}},
                               R"({"message":"You have exceeded a secondary rate limit."})"),
                        "x", kNow, 0);
    CHECK(r.kind == Refusal::Kind::kRateLimit);
    CHECK(r.wait == 7s);
    // retry-after wins over x-ratelimit-remaining: 0, as GitHub documents.
    const auto both = ClassifyRefusal(Answer(429, {{"retry-after", "3"},
                                                   {"x-ratelimit-remaining", "0"},
                                                   {"x-ratelimit-reset", reset}}),
                                      "x", kNow, 0);
    CHECK(both.wait == 3s);
  }
  SECTION("secondary rate limit without retry-after: a minute, doubling") {
    const auto body = R"({"message":"You have exceeded a Secondary Rate Limit."})";
    CHECK(ClassifyRefusal(Answer(403, {}, body), "x", kNow, 0).wait == 60s);
    CHECK(ClassifyRefusal(Answer(403, {}, body), "x", kNow, 0).doubles);
    CHECK(ClassifyRefusal(Answer(403, {}, body), "x", kNow, 1).wait == 120s);
    CHECK(ClassifyRefusal(Answer(403, {}, body), "x", kNow, 3).wait == 480s);
    CHECK(ClassifyRefusal(Answer(403, {}, body), "x", kNow, 9).wait == 960s);  // capped
    CHECK(ClassifyRefusal(Answer(429, {}), "x", kNow, 0).kind == Refusal::Kind::kRateLimit);
  }
  SECTION("access refusals fail at once and say what to check") {
    struct Case {
      int status;
      std::string body;
      std::string says;
    };
    const std::vector<Case> cases = {
        {401, R"({"message":"Bad credentials"})", "the token was refused"},
        {403, R"({"message":"Resource not accessible by integration"})", "Actions: read"},
        {404, R"({"message":"Not Found"})", "private repository"},
        {410, R"({"message":"Artifact has expired"})", "expired"},
    };
    for (const Case& c : cases) {
      INFO(c.status);
      const auto r = ClassifyRefusal(Answer(c.status, {{"x-ratelimit-remaining", "4999"}}, c.body),
                                     "listing runs", kNow, 0);
      CHECK(r.kind == Refusal::Kind::kFailure);
      CHECK_FALSE(r.error.retryable);
      CHECK_THAT(r.error.message,
                 Catch::Contains("GitHub listing runs: HTTP " + std::to_string(c.status)));
      CHECK_THAT(r.error.message, Catch::Contains(c.says));
    }
  }
  SECTION("server errors are retryable; a body that is not JSON is left out") {
    const auto r = ClassifyRefusal(Answer(502, {}, "<html>Bad gateway</html>"), "x", kNow, 0);
    CHECK(r.kind == Refusal::Kind::kFailure);
    CHECK(r.error.retryable);
    CHECK(r.error.message == "GitHub x: HTTP 502");
    CHECK_FALSE(ClassifyRefusal(Answer(422, {}), "x", kNow, 0).error.retryable);
  }
}

TEST_CASE("github api: the listing cache keeps what was used", "[github_artifact][api]") {
  ListingCache cache;
  cache.Put("https://api/runs?page=1", {"W/\"a\"", R"({"workflow_runs":[]})", "https://api/p2"});
  cache.Put("https://api/runs?page=2", {"W/\"b\"", "{}", std::nullopt});
  const ListingCache copy = ListingCache::FromJson(cache.ToJson());
  const auto* one = copy.Find("https://api/runs?page=1");
  REQUIRE(one != nullptr);
  CHECK(one->etag == "W/\"a\"");
  CHECK(one->body == R"({"workflow_runs":[]})");
  CHECK(one->next == std::optional<std::string>("https://api/p2"));
  const auto* two = copy.Find("https://api/runs?page=2");
  REQUIRE(two != nullptr);
  CHECK_FALSE(two->next);
  CHECK(copy.Find("https://api/other") == nullptr);

  cache.MarkUsed("https://api/runs?page=1");
  cache.KeepOnlyUsed();
  CHECK(cache.Find("https://api/runs?page=1") != nullptr);
  CHECK(cache.Find("https://api/runs?page=2") == nullptr);
  // Marks are per run: the next KeepOnlyUsed starts afresh.
  cache.KeepOnlyUsed();
  CHECK(cache.Find("https://api/runs?page=1") == nullptr);

  // State from elsewhere that does not parse is an empty cache, not an error.
  CHECK(ListingCache::FromJson("").ToJson() == "{}");
  CHECK(ListingCache::FromJson("[1,2]").ToJson() == "{}");
  CHECK(ListingCache::FromJson(R"({"u":{"etag":1}})").ToJson() == "{}");
}

}  // namespace jobs::github_artifact
