#include "jobs/github_artifact/github_artifact_config.h"

#include <catch2/catch.hpp>

#include <chrono>

#include "config/config_loader.h"

namespace jobs::github_artifact {
namespace {

using namespace std::chrono_literals;

config::LoadResult Load(const std::string& with) {
  config::LoadOptions options;
  options.job_types = {GithubArtifactJobSpec()};
  options.folder = "/srv/jobsd";
  options.env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "GITHUB_TOKEN") return "ghp_s3cr3t";
    if (name == "EMPTY") return "";
    return std::nullopt;
  };
  return config::LoadConfigText(
      "jobs:\n  - name: feast-sync\n    type: github_artifact\n    with:\n" + with, "cfg.yaml",
      options);
}

const std::string kMinimal =
    "      token: ${GITHUB_TOKEN}\n"
    "      repo: acme/aqi-pipeline\n"
    "      artifact: feast-offline-store-*\n"
    "      dest: data/feast\n";

}  // namespace

TEST_CASE("github_artifact config: defaults", "[github_artifact][config]") {
  const auto result = Load(kMinimal);
  INFO(result.ErrorText());
  REQUIRE(result.ok());
  const auto* s = result.config->jobs[0].Settings<GithubArtifactSettings>();
  REQUIRE(s != nullptr);
  CHECK(s->token == "ghp_s3cr3t");
  CHECK(s->repo == "acme/aqi-pipeline");
  CHECK(s->workflow.empty());
  CHECK(s->branch.empty());
  CHECK(s->event.empty());
  CHECK(s->artifact == "feast-offline-store-*");
  CHECK(s->dest == std::filesystem::path("/srv/jobsd/data/feast"));
  CHECK(s->expect.empty());
  CHECK_FALSE(s->max_artifact_age);
  CHECK(s->keep == 1);
  CHECK(s->max_bytes == std::uint64_t(4) << 30);
  CHECK(s->max_ratio == 100);
  CHECK(s->extract);
  CHECK(s->api_url == "https://api.github.com");
  CHECK_FALSE(s->ca_file);
}

TEST_CASE("github_artifact config: every key", "[github_artifact][config]") {
  const auto result = Load(
      "      token: abc\n"
      "      repo: acme/aqi-pipeline\n"
      "      workflow: hourly.yml\n"
      "      branch: main\n"
      "      event: schedule\n"
      "      artifact: feast-offline-store-1234\n"
      "      dest: /var/lib/feast/\n"
      "      expect: [aqi_features.parquet, registry/registry.db]\n"
      "      max_artifact_age: 26h\n"
      "      keep: 3\n"
      "      max_bytes: 512MiB\n"
      "      max_ratio: 20\n"
      "      extract: false\n"
      "      api_url: https://github.example.com/api/v3/\n"
      "      ca_file: certs/ca.pem\n");
  INFO(result.ErrorText());
  REQUIRE(result.ok());
  const auto* s = result.config->jobs[0].Settings<GithubArtifactSettings>();
  REQUIRE(s != nullptr);
  CHECK(s->workflow == "hourly.yml");
  CHECK(s->branch == "main");
  CHECK(s->event == "schedule");
  CHECK(s->artifact == "feast-offline-store-1234");
  CHECK(s->dest.lexically_normal() == std::filesystem::path("/var/lib/feast/"));
  CHECK(s->expect == std::vector<std::string>{"aqi_features.parquet", "registry/registry.db"});
  REQUIRE(s->max_artifact_age);
  CHECK(*s->max_artifact_age == 26h);
  CHECK(s->keep == 3);
  CHECK(s->max_bytes == std::uint64_t(512) << 20);
  CHECK(s->max_ratio == 20);
  CHECK_FALSE(s->extract);
  CHECK(s->api_url == "https://github.example.com/api/v3");  // the trailing '/' goes
  REQUIRE(s->ca_file);
  CHECK(*s->ca_file == std::filesystem::path("/srv/jobsd/certs/ca.pem"));
}

TEST_CASE("github_artifact config: a numeric workflow id", "[github_artifact][config]") {
  const auto result = Load(kMinimal + "      workflow: 98765432\n");
  INFO(result.ErrorText());
  REQUIRE(result.ok());
  CHECK(result.config->jobs[0].Settings<GithubArtifactSettings>()->workflow == "98765432");
}

TEST_CASE("github_artifact config: mistakes name the key", "[github_artifact][config]") {
  struct Case {
    std::string with;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"      repo: acme/x\n      artifact: a\n      dest: d\n", "token"},
      {"      token: ${EMPTY}\n      repo: acme/x\n      artifact: a\n      dest: d\n",
       "is empty (is the environment variable set?)"},
      {"      token: t\n      repo: acme\n      artifact: a\n      dest: d\n",
       "expected owner/name"},
      {"      token: t\n      repo: acme/../x\n      artifact: a\n      dest: d\n",
       "expected owner/name"},
      {"      token: t\n      repo: acme/..\n      artifact: a\n      dest: d\n",
       "expected owner/name"},
      {"      token: t\n      repo: acme/x\n      dest: d\n", "artifact"},
      {"      token: t\n      repo: acme/x\n      artifact: ''\n      dest: d\n",
       "expected an artifact name or a glob"},
      {"      token: t\n      repo: acme/x\n      artifact: a\n", "dest"},
      {"      token: t\n      repo: acme/x\n      artifact: a\n      dest: /\n",
       "not the root of the file system"},
      {kMinimal + "      workflow: ../hourly.yml\n", "expected a workflow file name"},
      {kMinimal + "      workflow: 'a b'\n", "expected a workflow file name"},
      {kMinimal + "      expect: [../outside]\n", "expected paths relative to dest"},
      {kMinimal + "      expect: [/etc/passwd]\n", "expected paths relative to dest"},
      {kMinimal + "      max_artifact_age: 0s\n", "must be positive"},
      {kMinimal + "      max_bytes: 0\n", "must be more than 0"},
      {kMinimal + "      max_ratio: 0.5\n", "max_ratio"},
      {kMinimal + "      keep: -1\n", "keep"},
      {kMinimal + "      api_url: ftp://github.example.com\n", "expected an http:// or https://"},
      {kMinimal + "      extract: maybe\n", "extract"},
      {kMinimal + "      artifcat: x\n", "artifcat"},
  };
  for (const Case& c : cases) {
    INFO(c.with);
    const auto result = Load(c.with);
    REQUIRE_FALSE(result.ok());
    CHECK_THAT(result.ErrorText(), Catch::Contains(c.error));
    CHECK_THAT(result.ErrorText(), Catch::Contains("cfg.yaml"));
    // The token's value never shows in an error.
    CHECK_THAT(result.ErrorText(), !Catch::Contains("ghp_s3cr3t"));
  }
}

}  // namespace jobs::github_artifact
