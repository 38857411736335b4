#include "aws/athena.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <random>
#include <thread>

#include <boost/json.hpp>

#include "crypto/sha256.h"
#include "csv/csv_reader.h"
#include "json/json_fields.h"

namespace aws {
namespace {

constexpr std::string_view kJsonType = "application/x-amz-json-1.1";

core::Error Failure(core::ErrorKind kind, std::string message, bool retryable) {
  return core::Error{kind, std::move(message), retryable};
}

// Athena's `__type` may carry a namespace ("com.amazon...#ThrottlingException").
std::string ErrorType(const boost::json::object& body) {
  const auto* type = body.if_contains("__type");
  if (!type || !type->is_string()) return {};
  std::string_view text = type->as_string();
  if (auto hash = text.rfind('#'); hash != std::string_view::npos) text.remove_prefix(hash + 1);
  return std::string(text);
}

// `message` or `Message`: both spellings occur.
std::string ErrorMessage(const boost::json::object& body) {
  for (const char* key : {"message", "Message"}) {
    if (const auto* m = body.if_contains(key); m && m->is_string())
      return std::string(m->as_string());
  }
  return {};
}

bool IsThrottling(std::string_view type) {
  return type == "ThrottlingException" || type == "TooManyRequestsException";
}

core::Result<QueryState> ParseState(std::string_view state) {
  if (state == "QUEUED") return QueryState::kQueued;
  if (state == "RUNNING") return QueryState::kRunning;
  if (state == "SUCCEEDED") return QueryState::kSucceeded;
  if (state == "FAILED") return QueryState::kFailed;
  if (state == "CANCELLED") return QueryState::kCancelled;
  return core::Unexpected(
      core::InvalidArgument("unknown query state '" + std::string(state) + "'"));
}

core::Error BadAnswer(std::string_view operation, const core::Error& error) {
  return Failure(core::ErrorKind::kUpstream,
                 "unexpected answer from Athena " + std::string(operation) + ": " + error.message,
                 true);
}

bool PastDeadline(const http::CallOptions& call) {
  return std::chrono::system_clock::now() >= call.deadline;
}

}  // namespace

std::string_view QueryStateName(QueryState state) {
  switch (state) {
    case QueryState::kQueued:
      return "QUEUED";
    case QueryState::kRunning:
      return "RUNNING";
    case QueryState::kSucceeded:
      return "SUCCEEDED";
    case QueryState::kFailed:
      return "FAILED";
    case QueryState::kCancelled:
      return "CANCELLED";
  }
  return "?";
}

std::string QueryToken(std::string_view scope, std::string_view query) {
  std::string material(scope);
  material += '\n';
  material += query;
  return crypto::Sha256Hex(material);
}

AthenaClient::AthenaClient(http::Client& http, AthenaOptions options)
    : http_(http), options_(std::move(options)) {
  endpoint_ = options_.endpoint.empty() ? "https://athena." + options_.region + ".amazonaws.com"
                                        : options_.endpoint;
  while (!endpoint_.empty() && endpoint_.back() == '/') endpoint_.pop_back();
}

bool AthenaClient::Wait(core::Duration d, const http::CallOptions& call) const {
  if (options_.wait) return options_.wait(d);
  const auto until = std::min<core::TimePoint>(
      std::chrono::time_point_cast<core::Duration>(std::chrono::system_clock::now()) + d,
      call.deadline);
  while (std::chrono::system_clock::now() < until) {
    if (call.cancelled && call.cancelled()) return true;
    std::this_thread::sleep_for(std::min<core::Duration>(
        std::chrono::milliseconds(50),
        std::chrono::duration_cast<core::Duration>(until - std::chrono::system_clock::now())));
  }
  return (call.cancelled && call.cancelled()) || PastDeadline(call);
}

core::Result<std::string> AthenaClient::Call(std::string_view operation, const std::string& body,
                                             const http::CallOptions& call) {
  std::mt19937_64 random{std::random_device{}()};
  for (int attempt = 0;; ++attempt) {
    http::ClientRequest request;
    request.method = "POST";
    request.url = endpoint_ + "/";
    request.headers = {{"Content-Type", std::string(kJsonType)},
                       {"X-Amz-Target", "AmazonAthena." + std::string(operation)}};
    request.body = body;
    request.upstream = "athena";
    SignRequest(request, options_.credentials, {options_.region, "athena"},
                std::chrono::time_point_cast<core::Duration>(std::chrono::system_clock::now()));
    http::CallOptions options = call;
    options.max_redirects = 0;  // a POST is never redirected into a GET
    if (options_.ca_file) options.ca_file = options_.ca_file;
    auto response = http_.Send(std::move(request), options);
    if (!response) {
      core::Error error = response.error();
      error.message = "Athena " + std::string(operation) + ": " + error.message;
      return core::Unexpected(std::move(error));
    }
    if (response->status == 200) return std::move(response->body);

    std::string type;
    std::string message;
    if (auto parsed = json::Parse(response->body); parsed && parsed->is_object()) {
      type = ErrorType(parsed->as_object());
      message = ErrorMessage(parsed->as_object());
    }
    if (response->status == 400 && IsThrottling(type) && attempt < options_.max_throttle_retries) {
      ++throttled_;
      const auto cap =
          std::min<core::Duration>(options_.throttle_max_backoff,
                                   options_.throttle_base_backoff * (1 << std::min(attempt, 16)));
      std::uniform_int_distribution<core::Duration::rep> jitter(0, cap.count());
      if (Wait(core::Duration(jitter(random)), call)) {
        return core::Unexpected(Failure(
            PastDeadline(call) ? core::ErrorKind::kTimeout : core::ErrorKind::kCancelled,
            "Athena " + std::string(operation) + ": interrupted while throttled (" + type + ")",
            false));
      }
      continue;
    }
    std::string text =
        "Athena " + std::string(operation) + ": HTTP " + std::to_string(response->status);
    if (!type.empty()) text += " " + type;
    if (!message.empty()) text += ": " + message;
    if (type.empty() && message.empty() && !response->body.empty()) {
      text += ": " + response->body.substr(0, 200);
    }
    const bool retryable = response->status >= 500 || IsThrottling(type);
    return core::Unexpected(Failure(core::ErrorKind::kUpstream, std::move(text), retryable));
  }
}

core::Result<std::string> AthenaClient::StartQueryExecution(const QueryRequest& request,
                                                            const http::CallOptions& call) {
  boost::json::object body;
  body["QueryString"] = request.query;
  body["ClientRequestToken"] = request.client_request_token;
  if (!request.database.empty() || !request.catalog.empty()) {
    boost::json::object context;
    if (!request.database.empty()) context["Database"] = request.database;
    if (!request.catalog.empty()) context["Catalog"] = request.catalog;
    body["QueryExecutionContext"] = std::move(context);
  }
  if (!request.output_location.empty()) {
    body["ResultConfiguration"] = boost::json::object{{"OutputLocation", request.output_location}};
  }
  if (!request.workgroup.empty()) body["WorkGroup"] = request.workgroup;
  ++submissions_;
  auto answer = Call("StartQueryExecution", boost::json::serialize(body), call);
  if (!answer) return core::Unexpected(answer.error());
  auto parsed = json::Parse(*answer);
  if (!parsed) return core::Unexpected(BadAnswer("StartQueryExecution", parsed.error()));
  auto id = json::Field(*parsed).Required<std::string>("QueryExecutionId");
  if (!id) return core::Unexpected(BadAnswer("StartQueryExecution", id.error()));
  return std::move(*id);
}

core::Result<QueryExecution> ParseQueryExecution(std::string_view body) {
  auto parsed = json::Parse(body);
  if (!parsed) return core::Unexpected(parsed.error());
  json::Field root(*parsed);
  auto execution = root.Required("QueryExecution");
  if (!execution) return core::Unexpected(execution.error());
  QueryExecution out;
  auto id = execution->Required<std::string>("QueryExecutionId");
  if (!id) return core::Unexpected(id.error());
  out.id = std::move(*id);
  auto status = execution->Required("Status");
  if (!status) return core::Unexpected(status.error());
  auto state = status->Required<std::string_view>("State");
  if (!state) return core::Unexpected(state.error());
  auto parsed_state = ParseState(*state);
  if (!parsed_state) return core::Unexpected(status->Problem(parsed_state.error().message));
  out.state = *parsed_state;
  auto reason = status->Optional<std::string>("StateChangeReason");
  if (!reason) return core::Unexpected(reason.error());
  out.state_change_reason = reason->value_or("");
  auto athena_error = status->Optional("AthenaError");
  if (!athena_error) return core::Unexpected(athena_error.error());
  if (*athena_error) {
    auto retryable = (*athena_error)->Optional<bool>("Retryable");
    if (!retryable) return core::Unexpected(retryable.error());
    out.retryable = retryable->value_or(false);
    if (out.state_change_reason.empty()) {
      auto message = (*athena_error)->Optional<std::string>("ErrorMessage");
      if (message && *message) out.state_change_reason = **message;
    }
  }
  auto result_config = execution->Optional("ResultConfiguration");
  if (!result_config) return core::Unexpected(result_config.error());
  if (*result_config) {
    auto location = (*result_config)->Optional<std::string>("OutputLocation");
    if (!location) return core::Unexpected(location.error());
    out.output_location = location->value_or("");
  }
  auto statistics = execution->Optional("Statistics");
  if (!statistics) return core::Unexpected(statistics.error());
  if (*statistics) {
    auto scanned = (*statistics)->Optional<std::int64_t>("DataScannedInBytes");
    auto engine = (*statistics)->Optional<std::int64_t>("EngineExecutionTimeInMillis");
    auto total = (*statistics)->Optional<std::int64_t>("TotalExecutionTimeInMillis");
    if (!scanned) return core::Unexpected(scanned.error());
    if (!engine) return core::Unexpected(engine.error());
    if (!total) return core::Unexpected(total.error());
    out.data_scanned_bytes =
        static_cast<std::uint64_t>(std::max<std::int64_t>(0, scanned->value_or(0)));
    out.engine_execution_ms = engine->value_or(0);
    out.total_execution_ms = total->value_or(0);
  }
  return out;
}

core::Result<QueryExecution> AthenaClient::GetQueryExecution(const std::string& id,
                                                             const http::CallOptions& call) {
  ++polls_;
  auto answer = Call("GetQueryExecution",
                     boost::json::serialize(boost::json::object{{"QueryExecutionId", id}}), call);
  if (!answer) return core::Unexpected(answer.error());
  auto execution = ParseQueryExecution(*answer);
  if (!execution) return core::Unexpected(BadAnswer("GetQueryExecution", execution.error()));
  return execution;
}

core::Result<void> AthenaClient::StopQueryExecution(const std::string& id,
                                                    const http::CallOptions& call) {
  auto answer = Call("StopQueryExecution",
                     boost::json::serialize(boost::json::object{{"QueryExecutionId", id}}), call);
  if (!answer) return core::Unexpected(answer.error());
  return {};
}

core::Result<ResultPage> ParseQueryResults(std::string_view body, bool first_page) {
  auto parsed = json::Parse(body);
  if (!parsed) return core::Unexpected(parsed.error());
  json::Field root(*parsed);
  ResultPage page;
  auto result_set = root.Required("ResultSet");
  if (!result_set) return core::Unexpected(result_set.error());
  auto metadata = result_set->Optional("ResultSetMetadata");
  if (!metadata) return core::Unexpected(metadata.error());
  if (*metadata) {
    auto infos = (*metadata)->Required("ColumnInfo");
    if (!infos) return core::Unexpected(infos.error());
    auto elements = infos->Elements();
    if (!elements) return core::Unexpected(elements.error());
    for (const json::Field& info : *elements) {
      ResultColumn column;
      auto name = info.Required<std::string>("Name");
      auto type = info.Required<std::string>("Type");
      if (!name) return core::Unexpected(name.error());
      if (!type) return core::Unexpected(type.error());
      column.name = std::move(*name);
      column.type = std::move(*type);
      auto precision = info.Optional<std::int64_t>("Precision");
      auto scale = info.Optional<std::int64_t>("Scale");
      if (precision && *precision)
        column.precision = static_cast<int>(std::clamp<std::int64_t>(**precision, 0, INT32_MAX));
      if (scale && *scale)
        column.scale = static_cast<int>(std::clamp<std::int64_t>(**scale, 0, INT32_MAX));
      page.columns.push_back(std::move(column));
    }
  }
  auto rows = result_set->Optional("Rows");
  if (!rows) return core::Unexpected(rows.error());
  if (*rows) {
    auto elements = (*rows)->Elements();
    if (!elements) return core::Unexpected(elements.error());
    bool header = first_page;
    for (const json::Field& row : *elements) {
      if (header) {  // only the first row of the first page names the columns
        header = false;
        continue;
      }
      auto data = row.Required("Data");
      if (!data) return core::Unexpected(data.error());
      auto datums = data->Elements();
      if (!datums) return core::Unexpected(datums.error());
      if (!page.columns.empty() && datums->size() != page.columns.size()) {
        return core::Unexpected(row.Problem("has " + std::to_string(datums->size()) +
                                            " values for " + std::to_string(page.columns.size()) +
                                            " columns"));
      }
      ResultRow values;
      values.reserve(datums->size());
      for (const json::Field& datum : *datums) {
        auto value = datum.Optional<std::string>("VarCharValue");  // absent: NULL
        if (!value) return core::Unexpected(value.error());
        values.push_back(std::move(*value));
      }
      page.rows.push_back(std::move(values));
    }
  }
  auto next = root.Optional<std::string>("NextToken");
  if (!next) return core::Unexpected(next.error());
  if (*next && !(*next)->empty()) page.next_token = std::move(*next);
  return page;
}

core::Result<ResultPage> AthenaClient::GetQueryResults(const std::string& id,
                                                       const std::optional<std::string>& next_token,
                                                       int max_results, bool first_page,
                                                       const http::CallOptions& call) {
  boost::json::object body{{"QueryExecutionId", id},
                           {"MaxResults", std::clamp(max_results, 1, 1000)}};
  if (next_token) body["NextToken"] = *next_token;
  auto answer = Call("GetQueryResults", boost::json::serialize(body), call);
  if (!answer) return core::Unexpected(answer.error());
  auto page = ParseQueryResults(*answer, first_page);
  if (!page) return core::Unexpected(BadAnswer("GetQueryResults", page.error()));
  return page;
}

core::Result<QueryExecution> AthenaClient::RunQuery(const QueryRequest& request,
                                                    const PollOptions& poll,
                                                    const http::CallOptions& call) {
  // Stops the query on its own short deadline: the run's is spent, or it
  // was cancelled, and a query left running costs money.
  auto stop_and_fail = [&](const std::string& id, core::Error error) -> core::Error {
    http::CallOptions stop;
    stop.deadline = std::chrono::time_point_cast<core::Duration>(std::chrono::system_clock::now()) +
                    std::chrono::seconds(10);
    stop.retry = http::RetryPolicy{1, std::chrono::milliseconds(200), std::chrono::seconds(1)};
    if (options_.ca_file) stop.ca_file = options_.ca_file;
    auto stopped = StopQueryExecution(id, stop);
    error.message += stopped
                         ? " (query " + id + " stopped)"
                         : " (stopping query " + id + " failed: " + stopped.error().message + ")";
    return error;
  };
  auto interrupted = [&]() { return (call.cancelled && call.cancelled()) || PastDeadline(call); };
  auto interruption = [&](std::string what) {
    return Failure(PastDeadline(call) ? core::ErrorKind::kTimeout : core::ErrorKind::kCancelled,
                   std::move(what), false);
  };

  QueryRequest submission = request;
  for (int resubmit = 0;; ++resubmit) {
    if (resubmit > 0) {
      // A new token: the old one would answer with the failed query's id.
      submission.client_request_token =
          request.client_request_token.substr(0, 100) + "-resubmit-" + std::to_string(resubmit);
    }
    auto id = StartQueryExecution(submission, call);
    if (!id) return core::Unexpected(id.error());
    core::Duration delay = poll.first_poll;
    for (;;) {
      auto execution = GetQueryExecution(*id, call);
      if (!execution) {
        if (interrupted()) {
          return core::Unexpected(stop_and_fail(*id, interruption(execution.error().message)));
        }
        return core::Unexpected(execution.error());
      }
      if (execution->state == QueryState::kSucceeded) return execution;
      if (execution->state == QueryState::kCancelled) {
        return core::Unexpected(Failure(
            core::ErrorKind::kUpstream,
            "Athena query " + *id + " was cancelled" +
                (execution->state_change_reason.empty() ? ""
                                                        : ": " + execution->state_change_reason),
            false));
      }
      if (execution->state == QueryState::kFailed) {
        if (execution->retryable && resubmit < poll.max_resubmits) break;
        return core::Unexpected(
            Failure(core::ErrorKind::kUpstream,
                    "Athena query " + *id + " failed: " +
                        (execution->state_change_reason.empty() ? "no reason given"
                                                                : execution->state_change_reason),
                    execution->retryable));
      }
      if (Wait(delay, call)) {
        return core::Unexpected(
            stop_and_fail(*id, interruption("waiting for Athena query " + *id + " (" +
                                            std::string(QueryStateName(execution->state)) + ")")));
      }
      delay = std::min<core::Duration>(delay * 2, poll.max_poll);
    }
  }
}

namespace {

// Athena's CSV through csv::Reader. Blank lines are kept: in a result of one
// column, a blank line is a row whose value is NULL.
class CsvRows final : public QueryResultRows {
 public:
  CsvRows(const std::filesystem::path& file, std::vector<ResultColumn> columns)
      : columns_(std::move(columns)) {
    csv::ReaderOptions options;
    options.skip_blank_lines = false;
    auto reader = csv::Reader::Open(file, std::move(options));
    if (reader) {
      reader_.emplace(std::move(*reader));
    } else {
      open_error_ = reader.error();
    }
  }

  core::Result<bool> Next(ResultRow& row) override {
    if (!reader_) return core::Unexpected(Problem(open_error_.message));
    if (!header_read_) {
      header_read_ = true;
      auto got = Read();
      if (!got || !*got) return got;  // an empty file: no rows
      if (!columns_.empty()) {
        bool same = record_.fields.size() == columns_.size();
        for (std::size_t i = 0; same && i < columns_.size(); ++i) {
          const csv::Field& field = record_.fields[i];
          same = !IsNull(field) && field.text == columns_[i].name;
        }
        if (!same) {
          return core::Unexpected(
              Problem(reader_->file().filename().string() +
                      ": line 1: the header does not name the query's columns"));
        }
      }
      width_ = record_.fields.size();
    }
    auto got = Read();
    if (!got || !*got) return got;
    if (record_.fields.size() != width_) {
      return core::Unexpected(Problem(
          reader_->file().filename().string() + ": line " + std::to_string(record_.line) + ": " +
          std::to_string(record_.fields.size()) + " fields, expected " + std::to_string(width_)));
    }
    row.resize(width_);
    for (std::size_t i = 0; i < width_; ++i) {
      const csv::Field& field = record_.fields[i];
      if (IsNull(field)) {
        row[i].reset();
      } else if (row[i]) {
        row[i]->assign(field.text);
      } else {
        row[i].emplace(field.text);
      }
    }
    return true;
  }

  std::uint64_t bytes_read() const override { return reader_ ? reader_->bytes_read() : 0; }

 private:
  // Athena writes NULL as an empty unquoted field and "" as a quoted one.
  static bool IsNull(const csv::Field& field) { return !field.quoted && field.text.empty(); }

  // `what` starts with the file's name, as csv::Reader's messages do.
  static core::Error Problem(const std::string& what) {
    return Failure(core::ErrorKind::kUpstream, "Athena result " + what, false);
  }

  // The next record into record_; a malformed one fails the result, which
  // Athena never writes.
  core::Result<bool> Read() {
    auto got = reader_->Next(record_);
    if (!got) return core::Unexpected(Problem(got.error().message));
    if (*got && !record_.problem.empty()) {
      return core::Unexpected(Problem(reader_->file().filename().string() + ": line " +
                                      std::to_string(record_.line) + ": " + record_.problem));
    }
    return got;
  }

  std::vector<ResultColumn> columns_;
  std::optional<csv::Reader> reader_;
  core::Error open_error_;
  csv::Record record_;
  std::size_t width_ = 0;
  bool header_read_ = false;
};

class PagedRows final : public QueryResultRows {
 public:
  PagedRows(AthenaClient& client, std::string id, ResultPage first, http::CallOptions call)
      : client_(client), id_(std::move(id)), page_(std::move(first)), call_(std::move(call)) {}

  core::Result<bool> Next(ResultRow& row) override {
    while (index_ == page_.rows.size()) {
      if (!page_.next_token) return false;
      auto page = client_.GetQueryResults(id_, page_.next_token, 1000, false, call_);
      if (!page) return core::Unexpected(page.error());
      std::vector<ResultColumn> columns = std::move(page_.columns);
      page_ = std::move(*page);
      page_.columns = std::move(columns);
      index_ = 0;
    }
    row = std::move(page_.rows[index_++]);
    return true;
  }

  std::uint64_t bytes_read() const override { return 0; }

 private:
  AthenaClient& client_;
  std::string id_;
  ResultPage page_;
  http::CallOptions call_;
  std::size_t index_ = 0;
};

}  // namespace

std::unique_ptr<QueryResultRows> CsvResultRows(const std::filesystem::path& file,
                                               std::vector<ResultColumn> columns) {
  return std::make_unique<CsvRows>(file, std::move(columns));
}

std::unique_ptr<QueryResultRows> PagedResultRows(AthenaClient& client, std::string query_id,
                                                 ResultPage first_page, http::CallOptions call) {
  return std::make_unique<PagedRows>(client, std::move(query_id), std::move(first_page),
                                     std::move(call));
}

}  // namespace aws
