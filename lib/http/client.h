// The HTTP client that jobs (and later the alert channels) use: blocking calls
// with a deadline for straight-line job code, plus Start()/Wait() to keep
// several requests in flight without the caller managing threads.
//
// Underneath, one io_context on a thread of the client's own runs Beast
// (so nothing here ever runs on, or blocks, the daemon's loop). What it does for
// every request:
//   - HTTPS with OpenSSL: peer and host name verified against the system CA
//     store or `ca_file`, SNI sent.
//   - Keep-alive connections reused per scheme, host and port.
//   - gzip responses decoded as they arrive (Accept-Encoding: gzip unless the
//     caller set one); bodies kept in memory or streamed to a file
//     (CallOptions::body_file), capped at `max_body_bytes` either way.
//   - Request bodies from memory or streamed from a range of a file
//     (ClientRequest::body_file: an S3 upload or one part of it), sent with
//     a Content-Length and re-read from the file for every attempt.
//   - Redirects followed up to `max_redirects`; credential headers
//     (Authorization, Cookie, X-API-Key, ...) are dropped when the scheme,
//     host or port changes.
//   - A connect timeout, a timeout per attempt, and the caller's deadline (the
//     run's deadline) over everything, retries and waits included; a
//     cancelled call returns within about 50 ms.
//   - Retries per RetryPolicy (retry_policy.h): connection errors, attempt
//     timeouts, 408/429/500/502/503/504, exponential backoff with full jitter,
//     Retry-After and rate-limit reset headers honoured.
//   - A token-bucket limiter per upstream (SetRateLimit), shared by every call
//     of every job through this client (the strictest limit any job asked
//     for); a 429 pauses that upstream's limiter for everyone until its reset.
//   - HTTPS_PROXY / HTTP_PROXY / NO_PROXY (ClientOptions::proxy; the daemon
//     passes ProxySettings::FromEnvironment()), HTTPS through CONNECT.
//   - Every attempt counted and timed (Stats()); URLs in errors are redacted
//     (url.h) and header values never appear in errors.
//
// Failure: a call returns a ClientResponse for whatever status the server finally
// answered (4xx and 5xx included, after retries); transport failures,
// timeouts and cancellation are an Error (kIo, kTimeout, kCancelled) whose
// message starts with the request, "GET https://host/path?key=***: ", so a
// caller adds only what it knows beyond that.
//
// Thread-safe: any thread may call any method, except that Wait() and Send()
// block and so belong on a worker thread, never on the daemon's loop thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"
#include "core/time.h"
#include "http/rate_limiter.h"
#include "http/retry_policy.h"
#include "http/url.h"

namespace http {

struct Header {
  std::string name;
  std::string value;
};

// A request body read from a file as it is sent, so memory stays flat
// however large the file is: `length` bytes from `offset` (to the end of the
// file when unset). The file is opened for each attempt and the whole range
// sent again on a retry or a 307/308 redirect; it must not change while the
// call lasts. A file that cannot be opened or read, a range past its end or a
// file that shrinks while being sent fails the call without a retry (kIo).
struct FileBody {
  std::filesystem::path path;
  std::uint64_t offset = 0;
  std::optional<std::uint64_t> length = std::nullopt;
};

struct ClientRequest {
  std::string method = "GET";
  std::string url;  // absolute http(s) URL
  std::vector<Header> headers;
  std::string body;  // ignored when body_file is set
  // Which rate limiter applies (see Client::SetRateLimit); empty = the URL's host.
  std::string upstream;
  std::optional<FileBody> body_file = std::nullopt;
};

struct CallOptions {
  // Nothing (retries and waits included) goes past this; the run's deadline.
  core::TimePoint deadline = core::TimePoint::max();
  // Polled about every 50 ms while the call is waited for; true aborts it.
  std::function<bool()> cancelled;
  // Defaults to ClientOptions::retry.
  std::optional<RetryPolicy> retry;
  // Defaults to ClientOptions::max_redirects. 0: a redirect is not followed
  // but answered as it came (a POST that must not turn into a GET).
  std::optional<int> max_redirects;
  // Bodies (decoded) larger than this fail the call, whether kept in memory
  // or written to `body_file`.
  std::size_t max_body_bytes = std::size_t(64) << 20;
  // A 2xx answer's body (decoded) goes to this file as it arrives instead of
  // into ClientResponse::body, so memory stays flat however large it is. It
  // is written under a temporary name in the same folder and renamed over
  // this path once complete and flushed: a failed, cancelled or truncated
  // call leaves no file behind (and an existing file untouched). Answers
  // that are not 2xx (errors, redirects) still land in `body`. The folder
  // must exist.
  std::optional<std::filesystem::path> body_file;
  // Trust these CA certificates (PEM) instead of the client's for this call:
  // a job that talks to a host with a private CA. Loaded once per file.
  std::optional<std::filesystem::path> ca_file;
};

struct ClientResponse {
  int status = 0;
  std::vector<Header> headers;  // names as the server sent them
  std::string body;             // decoded; empty when it went to `body_file`
  // Set when the body was written to CallOptions::body_file.
  std::optional<std::filesystem::path> body_file;
  std::uint64_t body_bytes = 0;  // decoded size, wherever it went
  std::string url;               // the final URL after redirects, redacted
  int attempts = 0;              // requests sent for this call (retries, redirects)
  int rate_limit_waits = 0;      // times the call waited for a limiter or a 429

  // The first header of that name (any letter case).
  std::optional<std::string_view> Find(std::string_view name) const;
};

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds attempt_timeout{60'000};  // one request and its response
  int max_redirects = 5;
  std::optional<std::filesystem::path> ca_file;  // instead of the system CA store
  std::string user_agent = "jobsd";
  RetryPolicy retry;
  ProxySettings proxy;  // none by default
  std::size_t max_idle_per_host = 16;
};

// Counters since the client was made, for /metrics.
struct ClientStats {
  // (host, status class) -> requests; classes are "2xx" .. "5xx" and "error"
  // (no HTTP answer).
  std::map<std::pair<std::string, std::string>, std::uint64_t> requests;
  double request_seconds_total = 0;  // time spent in attempts
  std::uint64_t retries = 0;
  std::uint64_t rate_limit_waits = 0;
  double rate_limit_wait_seconds_total = 0;
  std::uint64_t connections_opened = 0;
};

class Client;

// One call in flight. Move-only; destroying it without Wait() aborts the call.
class PendingResponse {
 public:
  PendingResponse(PendingResponse&&) noexcept;
  PendingResponse& operator=(PendingResponse&&) noexcept;
  ~PendingResponse();

  // Blocks until the call is over. Once only.
  core::Result<ClientResponse> Wait();

 private:
  friend class Client;
  struct State;
  explicit PendingResponse(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

class Client {
 public:
  explicit Client(ClientOptions options = {});
  // Aborts calls in flight; their Wait() returns kCancelled.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // What SetRateLimit made of a caller's limit.
  struct SharedRateLimit {
    RateLimit in_force;  // the upstream's limit now (unlimited: no limiter)
    // True for the first call (per upstream, for the client's lifetime) that
    // asked for a limit other than the one in force: the caller should say
    // so once. Later disagreements are applied silently.
    bool first_disagreement = false;
  };

  // Limits every later call whose ClientRequest::upstream (or host) is
  // `upstream`. There is one limiter per upstream for every job: when
  // callers ask for different limits, the strictest of them (window by
  // window) stays in force and the existing limiter is tightened in place,
  // its spent tokens kept. A limit is never loosened while the client lives
  // (a looser limit after a config reload takes a restart).
  SharedRateLimit SetRateLimit(const std::string& upstream, RateLimit limit);

  // Starts a call and returns at once.
  PendingResponse Start(ClientRequest request, CallOptions options = {});
  // Start + Wait. Blocking.
  core::Result<ClientResponse> Send(ClientRequest request, CallOptions options = {});

  ClientStats Stats() const;

 private:
  friend class PendingResponse;
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace http
