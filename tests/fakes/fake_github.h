// A fake of the GitHub REST API's Actions artifacts (and the workflow runs
// that produce them) plus the blob host its downloads redirect to, for the
// github_artifact job's tests and benchmark. In process for the unit tests;
// fake_github_main.cpp makes it a program for the integration tests.
//
// Two servers on 127.0.0.1, so that the API and the blob host are different
// origins (a client must not carry the token across the redirect):
//
// API (answers in the documented shapes of tests/testdata/github, from the
// runs and artifacts added):
//   GET /repos/{owner}/{repo}/actions/runs                      branch, event,
//   GET /repos/{owner}/{repo}/actions/workflows/{id|file}/runs  status, head_sha
//   GET /repos/{owner}/{repo}/actions/runs/{run_id}
//   GET /repos/{owner}/{repo}/actions/runs/{run_id}/artifacts   name
//   GET /repos/{owner}/{repo}/actions/artifacts                 name
//   GET /repos/{owner}/{repo}/actions/artifacts/{id}
//   GET /repos/{owner}/{repo}/actions/artifacts/{id}/zip  -> 302 to the blob
//       host (410 once the artifact has expired)
// and every one of them as /repositories/{repository_id}/..., the form of
// the URLs in the `link` header. Lists take per_page (default 30, at most
// 100) and page; runs come newest first, a run's artifacts in upload order,
// the repository's artifacts newest first. `Authorization: Bearer <token>`
// (or `token <token>`) is checked on every request (401 "Bad credentials");
// another repository is a 404. Every 200 JSON answer carries a weak ETag (the
// SHA-256 of its body) and If-None-Match with it is a 304, counted apart and
// not against the rate limit. Every answer carries x-ratelimit-* (an hourly
// window of Options::rate_limit requests; past it, 403 until the reset) and
// x-github-api-version-selected.
//
// Blob host: GET or HEAD /artifacts/{id}.zip?...&se=..&sig=.. serves the
// artifact's file, streamed in pieces (memory stays flat for a 1 GiB file;
// Range requests work). A request with any Authorization header is a 400
// InvalidAuthenticationInfo (and token_reached_blob_host() turns true), a
// signature that does not match is a 403 AuthenticationFailed, and so is a
// URL past its expiry (Options::url_lifetime after the /zip answer).
//
// It misbehaves on request (AddFault, or POST /_fake/fault for processes):
// see FakeGithubFault. Control endpoints for the program, on the API port,
// without a token and not counted: POST /_fake/fault, /_fake/run,
// /_fake/artifact (JSON bodies as in the spec file, see LoadSpec) and GET
// /_fake/log (the counters and every request as JSON).
//
// Thread-safe; cpp-httplib serves on its own threads. Problems in the data a
// test gives (a spec that does not parse, an artifact of an unknown run, an
// unreadable file) throw std::invalid_argument.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/fakes/loopback_server.h"

namespace fakes {

struct FakeWorkflowRun {
  std::int64_t id = 0;
  std::string name = "Hourly export";
  std::string workflow_file = "hourly.yml";  // path: .github/workflows/<file>
  std::int64_t workflow_id = 98765432;
  std::string head_branch = "main";
  std::string head_sha = "3f9c2a1d7be04c8e9a61b5d2c0e8f7a6b5c4d3e2";
  std::string event = "schedule";
  std::string status = "completed";    // queued, in_progress, completed, ...
  std::string conclusion = "success";  // empty: null (not completed)
  std::int64_t run_number = 0;         // 0: the count of runs added so far
  std::string created_at;              // "2024-11-04T02:04:12Z"; empty: when added
  std::string updated_at;              // empty: created_at + 15 minutes
};

struct FakeArtifact {
  std::int64_t id = 0;
  std::string name;
  std::int64_t run_id = 0;     // must be a run added before
  std::filesystem::path file;  // the bytes served (size_in_bytes is its size)
  std::string created_at;      // empty: the run's updated_at
  bool expired = false;        // listed as expired; /zip answers 410
  // digest "sha256:<hex of the file>" (hashed when added), else null as for
  // artifacts uploaded by upload-artifact before v4. A benchmark's 1 GiB
  // file takes seconds to hash: set false there.
  bool digest = true;
};

enum class FakeGithubFaultKind {
  kStatus,  // `status` with {"message": message} (an Azure XML error on the blob host)
  // 403 or 429 (`status`), x-ratelimit-remaining 0, x-ratelimit-reset now +
  // `seconds`; every API request is refused the same way until that reset.
  kPrimaryRateLimit,
  // 403 "You have exceeded a secondary rate limit", with retry-after:
  // `seconds` (and refusing the same way until then); 0: no retry-after,
  // this request only.
  kSecondaryRateLimit,
  kTruncate,    // announce the whole Content-Length, send about half, close
  kCorrupt,     // flip one byte in the middle of the body
  kExpiredUrl,  // a /zip answer whose signed URL has already expired (API /zip only)
  kReset,       // close the connection without an answer
  kSlow,        // wait `delay_ms`, then answer as usual
};

enum class FakeGithubTarget { kApi, kBlob, kPath };

struct FakeGithubFault {
  FakeGithubFaultKind kind = FakeGithubFaultKind::kStatus;
  FakeGithubTarget target = FakeGithubTarget::kApi;
  std::string path;  // kPath: requests (either host) whose path contains this
  // Applies to the nth..(nth + times - 1)th matching request counted from
  // when the fault was added (1: the next one). Rate-limit kinds and
  // kExpiredUrl match API requests only, kExpiredUrl only /zip ones. API
  // requests refused by a rate limit in force are not counted. One fault
  // per request: one that falls due while another applies takes the next.
  int nth = 1;
  int times = 1;
  int status = 500;     // kStatus; kPrimaryRateLimit: 403 or 429
  std::string message;  // kStatus; empty: GitHub's text for the status
  int seconds = 60;     // the rate-limit kinds: see above
  int delay_ms = 0;     // kSlow
};

// One request either host received, as the request log holds it.
struct FakeGithubRequest {
  std::string host;            // "api" or "blob"
  std::string method;          // GET, HEAD
  std::string target;          // path and query as sent
  int status = 0;              // what was answered (0: the connection was closed instead)
  bool authorization = false;  // carried an Authorization header (any value)
  std::string api_version;     // X-GitHub-Api-Version
  std::string user_agent;
  std::string accept;
  std::string if_none_match;
};

class FakeGithub {
 public:
  struct Options {
    std::string token = "test-token";
    std::string repo = "acme/aq-pipeline";  // owner/name, matched ignoring case
    std::int64_t repository_id = 712345678;
    std::chrono::seconds url_lifetime{60};  // of a /zip answer's signed URL
    int rate_limit = 5000;                  // requests per hour
    std::string cert_file, key_file;        // HTTPS (both hosts) when both are set
  };

  FakeGithub() : FakeGithub(Options{}) {}
  explicit FakeGithub(Options options);
  ~FakeGithub();
  FakeGithub(const FakeGithub&) = delete;
  FakeGithub& operator=(const FakeGithub&) = delete;

  void Start();
  void Stop();
  std::string api_url() const { return api_->base_url(); }  // "http://127.0.0.1:PORT"
  std::string blob_url() const { return blob_->base_url(); }
  int api_port() const { return api_->port(); }
  int blob_port() const { return blob_->port(); }

  // Publishes a run or an artifact (before or after Start); one with the id
  // of an earlier one replaces it.
  void AddRun(FakeWorkflowRun run);
  void AddArtifact(FakeArtifact artifact);
  // {"runs": [{"id": 1, "head_branch": "main", ...}], "artifacts": [{"id":
  // 2, "name": "aq-report", "run_id": 1, "file": "report.zip", ...}]}: the
  // fields of FakeWorkflowRun and FakeArtifact by their names; relative
  // files are taken from `base`.
  void LoadSpec(std::string_view json, const std::filesystem::path& base = {});
  void AddFault(FakeGithubFault fault);

  // Counters: API requests (304s included), blob host requests, 304s.
  int requests() const;
  int blob_requests() const;
  int not_modified() const;
  // "api GET /repos/...?..." and "blob HEAD /artifacts/..." per request.
  std::vector<std::string> request_log() const;
  std::vector<FakeGithubRequest> request_details() const;
  // What the tests assert on every client: the token never went to the blob
  // host; every API request said X-GitHub-Api-Version: 2022-11-28 and had a
  // User-Agent (GitHub refuses requests without one).
  bool token_reached_blob_host() const;
  bool every_request_had_api_version_and_user_agent() const;
  // The counters and the request log as JSON (GET /_fake/log).
  std::string LogJson() const;

 private:
  struct Artifact {
    FakeArtifact spec;
    std::uint64_t size = 0;
    std::string digest;  // "sha256:..." or empty (null)
  };
  struct ArmedFault {
    FakeGithubFault fault;
    int seen = 0;   // matching requests since it was added
    int fired = 0;  // of `times`
  };
  // A rate limit in force: every API request is refused until `until`.
  struct Refusal {
    bool primary = true;
    int status = 403;
    std::chrono::system_clock::time_point until;
  };

  void InstallApi();
  void InstallBlob();
  void InstallControl();
  std::optional<FakeGithubFault> TakeFault(bool api, const std::string& path);
  std::size_t Record(const char* host, const httplib::Request& req);

  // Set once in the constructor.
  Options options_;
  std::string owner_repo_lower_;
  std::string secret_;  // signs the blob URLs
  std::unique_ptr<LoopbackServer> api_;
  std::unique_ptr<LoopbackServer> blob_;

  mutable std::mutex mutex_;
  // Guarded by mutex_.
  std::map<std::int64_t, FakeWorkflowRun> runs_;
  std::map<std::int64_t, Artifact> artifacts_;
  std::vector<ArmedFault> faults_;
  std::vector<FakeGithubRequest> log_;
  int requests_ = 0;
  int blob_requests_ = 0;
  int not_modified_ = 0;
  bool token_reached_blob_ = false;
  int used_ = 0;                   // counted requests in the current window
  std::int64_t window_reset_ = 0;  // epoch seconds
  std::optional<Refusal> refusal_;
};

}  // namespace fakes
