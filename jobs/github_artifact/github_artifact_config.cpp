#include "jobs/github_artifact/github_artifact_config.h"

#include <algorithm>

#include "fs/confined_path.h"

namespace jobs::github_artifact {
namespace {

// GitHub's own rule for owner and repository names: letters, digits, '-',
// '_' and '.'; a name of only dots is not one.
bool IsRepoPart(std::string_view part) {
  if (part.empty() || part.size() > 100) return false;
  if (std::all_of(part.begin(), part.end(), [](char c) { return c == '.'; })) return false;
  return std::all_of(part.begin(), part.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

bool IsRepo(std::string_view repo) {
  const std::size_t slash = repo.find('/');
  if (slash == std::string_view::npos) return false;
  return IsRepoPart(repo.substr(0, slash)) && IsRepoPart(repo.substr(slash + 1));
}

// A workflow file name or id goes into a URL path as one segment.
bool IsWorkflow(std::string_view workflow) {
  return !workflow.empty() && workflow.find_first_of("/?#% \t") == std::string_view::npos &&
         workflow != "." && workflow != "..";
}

}  // namespace

GithubArtifactSettings ReadGithubArtifactSettings(config::MapReader& with) {
  GithubArtifactSettings out;
  out.token = with.Secret("token", config::Need::kRequired).value_or("");
  if ((with.Has("token") || with.Has("token_file")) && out.token.empty()) {
    with.Report(with.Has("token") ? "token" : "token_file",
                "is empty (is the environment variable set?)");
  }
  if (auto repo = with.String("repo", config::Need::kRequired)) {
    if (!IsRepo(*repo)) {
      with.Report("repo", "expected owner/name, like acme/aqi-pipeline, got '" + *repo + "'");
    }
    out.repo = *repo;
  }
  if (auto workflow = with.String("workflow")) {
    if (!IsWorkflow(*workflow)) {
      with.Report("workflow",
                  "expected a workflow file name (hourly.yml) or id, got '" + *workflow + "'");
    }
    out.workflow = *workflow;
  }
  out.branch = with.String("branch").value_or("");
  out.event = with.String("event").value_or("");
  if (auto artifact = with.String("artifact", config::Need::kRequired)) {
    if (artifact->empty()) with.Report("artifact", "expected an artifact name or a glob");
    out.artifact = *artifact;
  }
  out.dest = with.Path("dest", config::Need::kRequired).value_or(out.dest);
  if (!out.dest.empty() && out.dest == out.dest.root_path()) {
    with.Report("dest", "must be a folder of its own, not the root of the file system");
  }
  if (auto expect = with.StringList("expect")) {
    for (const std::string& path : *expect) {
      // The same rules as an archive entry: a relative path inside dest.
      if (!files::ConfinedPath("/", path)) {
        with.Report("expect", "expected paths relative to dest, got '" + path + "'");
      }
    }
    out.expect = *expect;
  }
  if (auto age = with.Duration("max_artifact_age")) {
    if (*age <= core::Duration::zero()) with.Report("max_artifact_age", "must be positive");
    out.max_artifact_age = *age;
  }
  out.keep = static_cast<int>(with.Int("keep", 0, 100).value_or(out.keep));
  if (auto bytes = with.Size("max_bytes")) {
    if (*bytes == 0) with.Report("max_bytes", "must be more than 0");
    out.max_bytes = *bytes;
  }
  out.max_ratio = with.Double("max_ratio", 1, 1e6).value_or(out.max_ratio);
  out.extract = with.Bool("extract").value_or(out.extract);
  if (auto url = with.String("api_url")) {
    while (!url->empty() && url->back() == '/') url->pop_back();
    if (url->rfind("https://", 0) != 0 && url->rfind("http://", 0) != 0) {
      with.Report("api_url", "expected an http:// or https:// URL, got '" + *url + "'");
    }
    out.api_url = *url;
  }
  out.ca_file = with.Path("ca_file");
  return out;
}

config::JobTypeSpec GithubArtifactJobSpec() {
  return {"github_artifact", [](config::MapReader& with, std::string_view) -> std::any {
            return ReadGithubArtifactSettings(with);
          }};
}

}  // namespace jobs::github_artifact
