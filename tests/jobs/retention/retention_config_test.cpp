#include "jobs/retention/retention_config.h"

#include <catch2/catch.hpp>

#include <chrono>

#include "config/config_loader.h"

namespace jobs::retention {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

config::LoadResult Load(const std::string& with) {
  config::LoadOptions options;
  options.job_types = {RetentionJobSpec()};
  options.folder = "/srv/jobsd";
  options.env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  return config::LoadConfigText(
      "jobs:\n  - name: data-retention\n    type: retention\n    with:\n" + with, "cfg.yaml",
      options);
}

}  // namespace

TEST_CASE("retention config: every key", "[retention][config]") {
  const auto result = Load(
      "      folders:\n"
      "        - {path: data/raw, max_age: 7d}\n"
      "        - {path: data/predictions/, max_age: 30d, match: '*.json'}\n"
      "        - {path: /var/log/app, max_bytes: 10GiB}\n"
      "        - {path: ./data/../cache, max_age: 1h, max_bytes: 512MiB}\n"
      "      remove_empty_dirs: true\n"
      "      dry_run: true\n");
  INFO(result.ErrorText());
  REQUIRE(result.ok());
  const auto* s = result.config->jobs[0].Settings<RetentionSettings>();
  REQUIRE(s != nullptr);
  REQUIRE(s->folders.size() == 4);
  CHECK(s->folders[0].path == fs::path("/srv/jobsd/data/raw"));
  CHECK(*s->folders[0].max_age == std::chrono::duration_cast<core::Duration>(7 * 24h));
  CHECK_FALSE(s->folders[0].max_bytes);
  CHECK(s->folders[0].match.empty());
  // The trailing '/' goes, so the path compares (and shows) as the folder's.
  CHECK(s->folders[1].path == fs::path("/srv/jobsd/data/predictions"));
  CHECK(*s->folders[1].max_age == std::chrono::duration_cast<core::Duration>(30 * 24h));
  CHECK(s->folders[1].match == "*.json");
  CHECK(s->folders[2].path == fs::path("/var/log/app"));
  CHECK_FALSE(s->folders[2].max_age);
  CHECK(*s->folders[2].max_bytes == std::uint64_t(10) << 30);
  CHECK(s->folders[3].path == fs::path("/srv/jobsd/cache"));
  CHECK(*s->folders[3].max_age == 1h);
  CHECK(*s->folders[3].max_bytes == std::uint64_t(512) << 20);
  CHECK(s->remove_empty_dirs);
  CHECK(s->dry_run);
}

TEST_CASE("retention config: defaults", "[retention][config]") {
  const auto result = Load("      folders: [{path: logs, max_bytes: 1GB}]\n");
  INFO(result.ErrorText());
  REQUIRE(result.ok());
  const auto* s = result.config->jobs[0].Settings<RetentionSettings>();
  REQUIRE(s != nullptr);
  REQUIRE(s->folders.size() == 1);
  CHECK(*s->folders[0].max_bytes == 1'000'000'000);
  CHECK_FALSE(s->remove_empty_dirs);
  CHECK_FALSE(s->dry_run);
}

TEST_CASE("retention config: mistakes name the key", "[retention][config]") {
  struct Case {
    std::string with;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"      dry_run: true\n", "missing required key 'folders'"},
      {"      folders: []\n", "folders: expected at least one folder"},
      {"      folders: data\n", "folders: expected a list of mappings"},
      {"      folders: [data]\n", "folders[0]: expected a mapping"},
      {"      folders: [{max_age: 7d}]\n", "missing required key 'path'"},
      {"      folders: [{path: '', max_age: 7d}]\n", "folders[0].path: expected a path, got ''"},
      {"      folders: [{path: /, max_age: 7d}]\n",
       "folders[0].path: is the root of the file system"},
      {"      folders: [{path: /srv/.., max_age: 7d}]\n", "is the root of the file system"},
      {"      folders: [{path: data}]\n", "folders[0]: needs max_age or max_bytes"},
      {"      folders: [{path: data, match: '*.json'}]\n", "needs max_age or max_bytes"},
      {"      folders: [{path: data, max_age: 7}]\n", "folders[0].max_age: expected a duration"},
      {"      folders: [{path: data, max_age: 30s}]\n", "folders[0].max_age: must be at least 1m"},
      {"      folders: [{path: data, max_bytes: 10GB}, {path: d2, max_bytes: 10 Gb}]\n",
       "folders[1].max_bytes"},
      {"      folders: [{path: data, max_bytes: -1}]\n", "folders[0].max_bytes"},
      {"      folders: [{path: data, max_age: 1d, match: ''}]\n",
       "folders[0].match: expected a glob"},
      {"      folders: [{path: data, max_age: 1d, match: 'a/*.json'}]\n",
       "folders[0].match: is matched against file names"},
      {"      folders: [{path: data, max_age: 1d, max_agee: 2d}]\n",
       "unknown key 'max_agee' (did you mean 'max_age'?)"},
      {"      folders: [{path: data, max_age: 1d}, {path: data/raw, max_age: 2d}]\n",
       "folders[0] (/srv/jobsd/data) and folders[1] (/srv/jobsd/data/raw) overlap"},
      {"      folders: [{path: data/raw, max_age: 1d}, {path: data/, max_age: 2d}]\n", "overlap"},
      {"      folders: [{path: data, max_age: 1d}, {path: ./data, max_bytes: 1GB}]\n", "overlap"},
      {"      folders: [{path: data, max_age: 1d}]\n      remove_empty_dirs: yes please\n",
       "remove_empty_dirs"},
      {"      folders: [{path: data, max_age: 1d}]\n      dry_run: 1\n", "dry_run"},
      {"      folders: [{path: data, max_age: 1d}]\n      dryrun: true\n",
       "unknown key 'dryrun' (did you mean 'dry_run'?)"},
  };
  for (const Case& c : cases) {
    INFO(c.with);
    const auto result = Load(c.with);
    REQUIRE_FALSE(result.ok());
    CHECK_THAT(result.ErrorText(), Catch::Contains(c.error));
    CHECK_THAT(result.ErrorText(), Catch::Contains("cfg.yaml"));
  }
}

TEST_CASE("retention config: folders that only look alike do not overlap", "[retention][config]") {
  const auto result = Load(
      "      folders:\n"
      "        - {path: data, max_age: 1d}\n"
      "        - {path: database, max_age: 1d}\n"
      "        - {path: data-old, max_age: 1d}\n");
  INFO(result.ErrorText());
  CHECK(result.ok());
  CHECK(IsWithin("/a/b/c", "/a/b"));
  CHECK(IsWithin("/a/b", "/a/b"));
  CHECK_FALSE(IsWithin("/a/bc", "/a/b"));
  CHECK_FALSE(IsWithin("/a", "/a/b"));
}

}  // namespace jobs::retention
