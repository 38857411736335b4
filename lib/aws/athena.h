// Amazon Athena over its JSON 1.1 protocol: start a query, follow it to its
// end, read its result, stop it.
//
// Every call is `POST /` to the Athena endpoint with
// `Content-Type: application/x-amz-json-1.1`, `X-Amz-Target:
// AmazonAthena.<Operation>` and a SigV4 signature for the service "athena".
// Athena's refusals, and what each becomes:
//   - HTTP 400 with `__type` ThrottlingException or TooManyRequestsException
//     (API rate or concurrent query quota; the message is `message` or
//     `Message`, both occur): waited out with exponential backoff and full
//     jitter, up to AthenaOptions::max_throttle_retries, then a retryable error;
//   - 5xx (InternalServerException, after the HTTP client's own retries): a
//     retryable error;
//   - any other 4xx (InvalidRequestException, a bad signature, unknown
//     database): an error that is not retryable, with Athena's message.
//
// RunQuery is the whole life of one query, as a sync job needs it:
//   1. StartQueryExecution with a ClientRequestToken: Athena answers a
//      repeated token with the first call's QueryExecutionId, so a request
//      whose answer was lost, resent by the HTTP client or by the job's
//      next attempt with the same token, never starts a second query;
//   2. GetQueryExecution polled with backoff (`QUEUED` may follow `RUNNING`:
//      only SUCCEEDED, FAILED and CANCELLED end the wait);
//   3. FAILED with `AthenaError.Retryable: true` is submitted again (a new
//      token derived from the first), up to `max_resubmits` times; any other
//      FAILED ends the run with `StateChangeReason`; CANCELLED ends it;
//   4. cancelled (the caller's `cancelled`) or past the deadline while the
//      query runs: StopQueryExecution is sent (on a short deadline of its own)
//      before the call returns kCancelled / kTimeout.
//
// Results: QueryResultRows reads the CSV Athena wrote to OutputLocation (a
// local copy of it, streamed from S3 by the caller) or, when that object
// cannot be read, GetQueryResults pages. Either way a NULL is nullopt and an
// empty string is "", and a result with no rows has none.
//
// Blocking; the caller's thread. An AthenaClient may be used by one run at a
// time (its counters are plain integers).
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aws/sigv4.h"
#include "core/result.h"
#include "core/time.h"
#include "http/client.h"

namespace aws {

struct AthenaOptions {
  std::string region;
  // Empty: https://athena.<region>.amazonaws.com. Tests and private
  // endpoints give their own (http:// allowed).
  std::string endpoint;
  Credentials credentials;
  std::optional<std::filesystem::path> ca_file;
  int max_throttle_retries = 8;
  core::Duration throttle_base_backoff = std::chrono::milliseconds(500);
  core::Duration throttle_max_backoff = std::chrono::seconds(20);
  // Waits `d` unless interrupted (returns true when cut short). Default:
  // sleeps in 50 ms steps, polling CallOptions::cancelled and the deadline.
  std::function<bool(core::Duration)> wait;
};

struct QueryRequest {
  std::string query;
  std::string database;  // empty: the workgroup's default
  std::string catalog;   // empty: AwsDataCatalog
  std::string workgroup;
  std::string output_location;  // s3://bucket/prefix/ ; empty: the workgroup's
  // 32 to 128 characters; the same for the same query of the same run.
  std::string client_request_token;
};

enum class QueryState { kQueued, kRunning, kSucceeded, kFailed, kCancelled };
std::string_view QueryStateName(QueryState state);

struct QueryExecution {
  std::string id;
  QueryState state = QueryState::kQueued;
  std::string state_change_reason;
  bool retryable = false;       // AthenaError.Retryable of a FAILED query
  std::string output_location;  // s3://.../<id>.csv
  std::uint64_t data_scanned_bytes = 0;
  std::int64_t engine_execution_ms = 0;
  std::int64_t total_execution_ms = 0;
};

struct ResultColumn {
  std::string name;
  std::string type;  // Athena's: varchar, integer, bigint, double, date, timestamp, decimal, ...
  int precision = 0;
  int scale = 0;
};

using ResultRow = std::vector<std::optional<std::string>>;

struct ResultPage {
  std::vector<ResultColumn> columns;
  std::vector<ResultRow> rows;  // the header row removed from the first page
  std::optional<std::string> next_token;
};

class AthenaClient {
 public:
  AthenaClient(http::Client& http, AthenaOptions options);

  core::Result<std::string> StartQueryExecution(const QueryRequest& request,
                                                const http::CallOptions& call);
  core::Result<QueryExecution> GetQueryExecution(const std::string& id,
                                                 const http::CallOptions& call);
  core::Result<void> StopQueryExecution(const std::string& id, const http::CallOptions& call);
  // `first_page` says whether this is the first page (whose first row is
  // the header and is dropped). max_results: 1 to 1000.
  core::Result<ResultPage> GetQueryResults(const std::string& id,
                                           const std::optional<std::string>& next_token,
                                           int max_results, bool first_page,
                                           const http::CallOptions& call);

  struct PollOptions {
    core::Duration first_poll = std::chrono::milliseconds(200);
    core::Duration max_poll = std::chrono::seconds(5);
    int max_resubmits = 2;
  };
  // The whole life of a query (see the top of this file). The answer is
  // the execution that SUCCEEDED.
  core::Result<QueryExecution> RunQuery(const QueryRequest& request, const PollOptions& poll,
                                        const http::CallOptions& call);

  // Counters since the client was made.
  int throttled() const { return throttled_; }
  int submissions() const { return submissions_; }
  int polls() const { return polls_; }

 private:
  core::Result<std::string> Call(std::string_view operation, const std::string& body,
                                 const http::CallOptions& call);
  bool Wait(core::Duration d, const http::CallOptions& call) const;

  http::Client& http_;
  AthenaOptions options_;
  std::string endpoint_;
  int throttled_ = 0;
  int submissions_ = 0;
  int polls_ = 0;
};

// A ClientRequestToken for one query of one run: the same for the same
// (scope, query) and different when either changes; 64 hex digits.
std::string QueryToken(std::string_view scope, std::string_view query);

// The rows of a finished query, one at a time, from whichever source.
class QueryResultRows {
 public:
  virtual ~QueryResultRows() = default;
  // The next row into `row`; false once there are no more.
  virtual core::Result<bool> Next(ResultRow& row) = 0;
  virtual std::uint64_t bytes_read() const = 0;
};

// Athena's CSV result file: a header line (checked against `columns`'
// names), then one record per row. RFC 4180 quoting: values in double
// quotes with "" for a quote, commas and line breaks allowed inside; an
// empty unquoted field is NULL, "" is the empty string. Read by csv::Reader
// (lib/csv): LF or CRLF line ends, a BOM at the start ignored. A record with
// the wrong number of fields, a malformed one (a quote inside an unquoted
// value, text after a closing quote) or a file cut inside a quoted value is
// an error naming the line. An empty file is a result of no rows.
std::unique_ptr<QueryResultRows> CsvResultRows(const std::filesystem::path& file,
                                               std::vector<ResultColumn> columns);

// GetQueryResults pages, 1000 rows at a time, following NextToken.
std::unique_ptr<QueryResultRows> PagedResultRows(AthenaClient& client, std::string query_id,
                                                 ResultPage first_page, http::CallOptions call);

// Parses one GetQueryResults answer (exposed for tests).
core::Result<ResultPage> ParseQueryResults(std::string_view body, bool first_page);
// Parses one GetQueryExecution answer (exposed for tests).
core::Result<QueryExecution> ParseQueryExecution(std::string_view body);

}  // namespace aws
