// The parts of GitHub's REST API the github_artifact job uses: successful
// workflow runs, their artifacts, and an artifact's download URL.
//
// Every request carries the token (Bearer), `Accept: application/vnd.github+json`,
// `X-GitHub-Api-Version: 2022-11-28` and the client's User-Agent. Listings
// are conditional: the ETag of each URL's last answer is sent back in
// If-None-Match, and a 304 (which costs no rate limit) is answered from the
// cache of what that answer held. Pages follow the `link` header's
// rel="next" URL verbatim (GitHub writes it with /repositories/{id}/...).
//
// GitHub's refusals, as GitHub documents them:
//   - primary rate limit: 403 or 429 with x-ratelimit-remaining: 0; waits
//     until x-ratelimit-reset (epoch seconds);
//   - secondary rate limit: 403 or 429 with retry-after (waits that long),
//     or without it (waits a minute, doubling each time);
//   - 401 (bad token), other 403s ("Resource not accessible by integration"),
//     404 (also what a private repository looks like to a token without
//     access) and 410 (expired) fail at once, not retryable;
//   - 5xx (after the HTTP client's own retries) fail as retryable.
// A wait that would end past the run's deadline fails the call (retryable).
// The token never appears in an error or a log line: only GitHub's
// `message` and the status do.
//
// Blocking; the run's own thread. One GithubApi serves one run.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/time.h"
#include "http/client.h"
#include "jobs/github_artifact/github_artifact_config.h"
#include "scheduler/job.h"

namespace jobs::github_artifact {

struct WorkflowRun {
  std::int64_t id = 0;
  std::string head_branch;
  std::string head_sha;
  std::string event;
  core::TimePoint created_at;
  core::TimePoint updated_at;
};

struct Artifact {
  std::int64_t id = 0;
  std::string name;
  std::uint64_t size_in_bytes = 0;
  bool expired = false;
  core::TimePoint created_at;
  std::optional<std::string> digest;  // "sha256:<hex>"; null for old artifacts
  std::int64_t run_id = 0;
  std::string head_branch;
  std::string head_sha;
};

// One page of a listing: its items and the next page's URL, if any.
template <typename T>
struct Page {
  std::vector<T> items;
  std::optional<std::string> next;
};

// Parsers of GitHub's answers (pure; errors name the field).
core::Result<std::vector<WorkflowRun>> ParseRuns(std::string_view body);
core::Result<std::vector<Artifact>> ParseArtifacts(std::string_view body);
// The rel="next" URL of a `link` header.
std::optional<std::string> NextLink(std::string_view link_header);

// What a non-2xx answer from GitHub means for the caller.
struct Refusal {
  enum class Kind { kRateLimit, kFailure };
  Kind kind = Kind::kFailure;
  core::Duration wait{};  // kRateLimit: how long to wait before asking again
  bool doubles = false;   // a secondary limit that named no time: the next wait doubles
  core::Error error;      // kFailure: what to report (and whether to retry the run)
};
// `secondary_waits`: how many secondary-limit waits without retry-after
// this request already had (each doubles the last); `now`: the wall clock,
// which x-ratelimit-reset is relative to.
Refusal ClassifyRefusal(const http::ClientResponse& response, std::string_view what,
                        std::chrono::system_clock::time_point now, int secondary_waits);

// The ETags and what their answers held, per URL; kept in the job's state
// between runs (ToJson/FromJson) so a run that finds nothing new costs 304s.
class ListingCache {
 public:
  struct Entry {
    std::string etag;
    std::string body;  // the answer, cut down to the fields the parsers read
    std::optional<std::string> next;
  };
  static ListingCache FromJson(std::string_view json);  // unreadable: empty
  std::string ToJson() const;
  const Entry* Find(const std::string& url) const;
  void Put(const std::string& url, Entry entry);
  void MarkUsed(const std::string& url);
  // Only the entries used since the last call remain (URLs of older pages
  // drop out instead of piling up).
  void KeepOnlyUsed();

 private:
  std::map<std::string, Entry, std::less<>> entries_;
  std::map<std::string, bool, std::less<>> used_;
};

class GithubApi {
 public:
  // `ctx` and `settings` must outlive this.
  GithubApi(scheduler::JobContext& ctx, const GithubArtifactSettings& settings,
            ListingCache& cache);

  // Successful runs, newest first, page by page: `visit` sees each page and
  // returns false to stop paging.
  core::Result<void> ForEachRunPage(const std::function<bool(const Page<WorkflowRun>&)>& visit);
  // Every artifact of one run (all pages).
  core::Result<std::vector<Artifact>> RunArtifacts(std::int64_t run_id);
  // GET .../artifacts/{id}/zip without following it: the signed blob URL it
  // redirects to (valid for about a minute). 410: the artifact expired.
  core::Result<std::string> DownloadUrl(std::int64_t artifact_id);

  // Calls counted for the run's metrics.
  int requests() const { return requests_; }
  int not_modified() const { return not_modified_; }
  int rate_limit_waits() const { return rate_limit_waits_; }

 private:
  // A GET of the API with the headers above, waiting out rate limits;
  // any 2xx, 3xx or 304 is returned, other statuses become the Error that
  // ClassifyRefusal gives. `etag`: sent as If-None-Match.
  core::Result<http::ClientResponse> Get(const std::string& url, std::string_view what,
                                         const std::string* etag, int max_redirects);
  // One page of a listing, through the cache: its body cut down by
  // `compact` (fresh) or as cached (304), and its next page's URL.
  core::Result<std::string> Listing(
      const std::string& url, std::string_view what, std::optional<std::string>& next,
      const std::function<core::Result<std::string>(std::string_view)>& compact);

  scheduler::JobContext& ctx_;
  const GithubArtifactSettings& settings_;
  ListingCache& cache_;
  int requests_ = 0;
  int not_modified_ = 0;
  int rate_limit_waits_ = 0;
};

}  // namespace jobs::github_artifact
