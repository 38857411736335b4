// The `with:` block of a `type: github_artifact` job: which GitHub Actions
// artifact to pull, where to put it, and how much of it to accept.
//
//   with:
//     token: ${GITHUB_TOKEN}        # required (or token_file:); needs actions:read
//     repo: acme/aqi-pipeline       # required, owner/name
//     workflow: hourly.yml          # optional: the workflow's file name or numeric id
//     branch: main                  # optional: only runs of this branch
//     event: schedule               # optional: only runs triggered by this event
//     artifact: feast-offline-store-*   # required: a name, or a glob over names (* ? [..])
//     dest: data/feast              # required; relative to the config file's folder
//     expect: [registry.db]         # optional: paths that must exist after extraction
//     max_artifact_age: 26h         # optional: the newest match must be younger
//     keep: 1                       # earlier pulls kept beside dest for rollback
//     max_bytes: 4GiB               # cap on the download and on the extracted size
//     max_ratio: 100                # cap on extracted / compressed size (zip bombs)
//     extract: true                 # false: keep the artifact as downloaded
//     api_url: https://api.github.com   # GitHub Enterprise: https://HOST/api/v3
//     ca_file: /etc/ssl/private-ca.pem  # optional, for a private CA (and tests)
//
// Plain values; the job reads them with JobConfig::Settings<GithubArtifactSettings>().
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "config/job_type.h"
#include "config/map_reader.h"
#include "core/time.h"

namespace jobs::github_artifact {

struct GithubArtifactSettings {
  std::string token;
  std::string repo;      // "owner/name"
  std::string workflow;  // empty: every workflow of the repo
  std::string branch;
  std::string event;
  std::string artifact;  // a name or a glob (fnmatch, no special meaning for '/')
  std::filesystem::path dest;
  std::vector<std::string> expect;
  std::optional<core::Duration> max_artifact_age;
  int keep = 1;
  std::uint64_t max_bytes = std::uint64_t(4) << 30;
  double max_ratio = 100;
  bool extract = true;
  std::string api_url = "https://api.github.com";
  std::optional<std::filesystem::path> ca_file;
};

GithubArtifactSettings ReadGithubArtifactSettings(config::MapReader& with);

config::JobTypeSpec GithubArtifactJobSpec();

}  // namespace jobs::github_artifact
