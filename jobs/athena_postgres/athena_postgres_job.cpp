#include "jobs/athena_postgres/athena_postgres_job.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <random>

#include <fmt/format.h>

#include "aws/athena.h"
#include "aws/credentials.h"
#include "aws/s3.h"
#include "jobs/athena_postgres/athena_postgres_config.h"
#include "jobs/athena_postgres/postgres_target.h"

namespace jobs::athena_postgres {
namespace {

constexpr double kUsdPerTerabyte = 5.0;

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Rows written in Athena's own CSV form (so one reader serves both sources).
core::Result<void> WriteCsv(aws::QueryResultRows& rows,
                            const std::vector<aws::ResultColumn>& columns,
                            const std::filesystem::path& file) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  auto quoted = [&](std::string_view value) {
    out << '"';
    for (char c : value) {
      if (c == '"') out << '"';
      out << c;
    }
    out << '"';
  };
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (i) out << ',';
    quoted(columns[i].name);
  }
  out << '\n';
  aws::ResultRow row;
  for (;;) {
    auto more = rows.Next(row);
    if (!more) return core::Unexpected(more.error());
    if (!*more) break;
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (i) out << ',';
      if (row[i]) quoted(*row[i]);  // NULL: an empty unquoted field
    }
    out << '\n';
  }
  out.flush();
  if (!out) {
    return core::Unexpected(
        core::Error{core::ErrorKind::kIo, "cannot write " + file.string(), false});
  }
  return {};
}

class AthenaPostgresJob final : public scheduler::Job {
 public:
  explicit AthenaPostgresJob(AthenaPostgresSettings settings) : settings_(std::move(settings)) {}

  core::Result<void> Run(scheduler::JobContext& ctx) override {
    const auto env = aws::Environment::FromProcess();
    auto credentials = aws::ResolveCredentials(settings_.aws, env);
    if (!credentials) return core::Unexpected(credentials.error());
    auto region = aws::ResolveRegion(settings_.aws, env);
    if (!region) return core::Unexpected(region.error());

    // 1. The targets.
    pg::OpenOptions pg_options;
    pg_options.cancelled = [&ctx] { return ctx.cancel().Cancelled(); };
    pg_options.deadline = ctx.cancel().deadline();
    PostgresTarget::RunFacts facts{ctx.job_name(), ctx.run_id(), settings_.mode,
                                   settings_.incremental_column};
    std::vector<PostgresTarget> targets;
    for (const TargetSettings& target : settings_.targets) {
      auto opened = PostgresTarget::Open(target, facts, pg_options);
      if (!opened) return Fail(ctx, targets, opened.error());
      targets.push_back(std::move(*opened));
    }
    if (ctx.cancel().Cancelled()) return Fail(ctx, targets, ctx.CancelledError("connecting"));

    // 2. The watermark.
    std::vector<std::optional<core::TimePoint>> watermarks;
    std::optional<core::TimePoint> since;
    if (!settings_.incremental_column.empty()) {
      since = settings_.initial;
      bool first = true;
      for (PostgresTarget& target : targets) {
        auto watermark = target.Watermark();
        if (!watermark) return Fail(ctx, targets, watermark.error());
        watermarks.push_back(*watermark);
        const core::TimePoint mark = watermark->value_or(settings_.initial);
        if (settings_.mode == SyncMode::kIncremental && (first || mark < *since)) since = mark;
        first = false;
      }
      if (settings_.mode == SyncMode::kFull) since = settings_.initial;
      ctx.Info(fmt::format("{} sync of the rows after {}",
                           settings_.mode == SyncMode::kFull ? "full" : "incremental",
                           core::FormatRfc3339(*since)));
    } else {
      watermarks.resize(targets.size());
    }
    const std::string query = since ? QueryWithSince(settings_.query, *since) : settings_.query;

    // 3. The query.
    aws::AthenaOptions athena_options;
    athena_options.region = *region;
    athena_options.endpoint = settings_.aws.endpoint;
    athena_options.credentials = *credentials;
    athena_options.ca_file = settings_.aws.ca_file;
    athena_options.wait = [&ctx](core::Duration d) { return ctx.cancel().WaitFor(d); };
    aws::AthenaClient athena(ctx.http(), athena_options);
    aws::QueryRequest request;
    request.query = query;
    request.database = settings_.database;
    request.catalog = settings_.catalog;
    request.workgroup = settings_.workgroup;
    request.output_location = settings_.output_location;
    // The same for every request of this run (a start whose answer was lost
    // and is sent again finds the query it started), and never the same for
    // two runs: run ids start over with a new state file, and Athena would
    // answer a reused token with that earlier query's old result.
    request.client_request_token =
        aws::QueryToken(fmt::format("{}/run {}/{:016x}", ctx.job_name(), ctx.run_id(),
                                    std::random_device{}() * 0x100000000ull ^ std::random_device{}()),
                        query);
    const auto query_started = std::chrono::steady_clock::now();
    auto execution = athena.RunQuery(request, {}, ctx.CallOptions());
    ctx.metrics().Set("query_seconds", SecondsSince(query_started));
    ctx.metrics().Add("athena_throttled", athena.throttled());
    if (!execution) return Fail(ctx, targets, Interrupted(ctx, execution.error()));
    ctx.metrics().Add("bytes_scanned", double(execution->data_scanned_bytes));
    ctx.metrics().Add("cost_usd", double(execution->data_scanned_bytes) / 1e12 * kUsdPerTerabyte);
    ctx.Info(fmt::format("query {} succeeded, {} bytes scanned", execution->id,
                         execution->data_scanned_bytes));

    // 4. The columns, checked against every target before anything is written.
    auto first_page =
        athena.GetQueryResults(execution->id, std::nullopt, 1000, true, ctx.CallOptions());
    if (!first_page) return Fail(ctx, targets, Interrupted(ctx, first_page.error()));
    const std::vector<aws::ResultColumn> columns = first_page->columns;
    if (!settings_.incremental_column.empty() &&
        std::none_of(columns.begin(), columns.end(), [&](const aws::ResultColumn& c) {
          return c.name == settings_.incremental_column;
        })) {
      return Fail(ctx, targets,
                  core::InvalidArgument("incremental.column '" + settings_.incremental_column +
                                        "' is not a column of the query's result"));
    }
    std::vector<std::optional<core::Error>> failures(targets.size());
    for (std::size_t i = 0; i < targets.size(); ++i) {
      if (auto checked = targets[i].Check(columns); !checked) failures[i] = checked.error();
    }

    // 5. The result, into the scratch folder.
    auto scratch = ctx.ScratchFolder();
    if (!scratch) return Fail(ctx, targets, scratch.error());
    const std::filesystem::path result_file = *scratch / "result.csv";
    const auto fetch_started = std::chrono::steady_clock::now();
    if (auto fetched = FetchResult(ctx, athena, *execution, std::move(*first_page), columns,
                                   *credentials, *region, result_file);
        !fetched) {
      return Fail(ctx, targets, Interrupted(ctx, fetched.error()));
    }
    ctx.metrics().Set("fetch_seconds", SecondsSince(fetch_started));
    std::error_code ec;
    ctx.metrics().Add("result_bytes", double(std::filesystem::file_size(result_file, ec)));

    // 6. Each target in a transaction of its own.
    const auto load_started = std::chrono::steady_clock::now();
    bool rows_counted = false;
    double changed = 0;
    for (std::size_t i = 0; i < targets.size(); ++i) {
      if (failures[i]) continue;
      auto rows = aws::CsvResultRows(result_file, columns);
      auto loaded = targets[i].Load(
          columns, [&](aws::ResultRow& row) { return rows->Next(row); }, watermarks[i]);
      if (!loaded) {
        failures[i] = Interrupted(ctx, loaded.error());
        continue;
      }
      if (!rows_counted) {
        ctx.metrics().Add("rows", double(loaded->rows));
        ctx.metrics().Add("duplicate_keys", double(loaded->duplicate_keys));
        rows_counted = true;
      }
      ctx.metrics().AddRecords("inserted", double(loaded->inserted));
      ctx.metrics().AddRecords("updated", double(loaded->updated));
      ctx.metrics().AddRecords("unchanged", double(loaded->unchanged));
      changed += double(loaded->inserted + loaded->updated);
      ctx.Info(fmt::format("{}: {} rows: {} inserted, {} updated, {} unchanged", targets[i].name(),
                           loaded->rows, loaded->inserted, loaded->updated, loaded->unchanged));
    }
    ctx.metrics().Add("load_seconds", SecondsSince(load_started));
    ctx.metrics().SetChanged(changed > 0);

    std::vector<std::size_t> failed;
    for (std::size_t i = 0; i < targets.size(); ++i) {
      if (failures[i]) failed.push_back(i);
    }
    if (failed.empty()) return {};
    for (std::size_t i : failed) Record(ctx, targets[i], *failures[i]);
    core::Error error = *failures[failed.front()];
    if (targets.size() > 1) {
      error.message = fmt::format("{} of {} targets failed; first: {}", failed.size(),
                                  targets.size(), error.message);
      error.retryable = std::all_of(failed.begin(), failed.end(),
                                    [&](std::size_t i) { return failures[i]->retryable; });
    }
    return core::Unexpected(std::move(error));
  }

 private:
  // S3 GetObject of the result; GetQueryResults pages when that object
  // cannot be read (no s3:GetObject on the results bucket, say).
  core::Result<void> FetchResult(scheduler::JobContext& ctx, aws::AthenaClient& athena,
                                 const aws::QueryExecution& execution, aws::ResultPage first_page,
                                 const std::vector<aws::ResultColumn>& columns,
                                 const aws::Credentials& credentials, const std::string& region,
                                 const std::filesystem::path& file) {
    std::string why;
    if (auto location = aws::ParseS3Url(execution.output_location); location) {
      aws::S3Options s3_options;
      s3_options.region = region;
      s3_options.endpoint = settings_.aws.s3_endpoint;
      s3_options.credentials = credentials;
      s3_options.ca_file = settings_.aws.ca_file;
      aws::S3Client s3(ctx.http(), s3_options);
      auto got = s3.GetObject(location->bucket, location->key, file, ctx.CallOptions());
      if (got) return {};
      if (ctx.cancel().Cancelled()) return core::Unexpected(got.error());
      why = got.error().message;
    } else {
      why = location.error().message;
    }
    ctx.Warn("cannot read the result from S3 (" + why + "); reading it through GetQueryResults");
    auto pages =
        aws::PagedResultRows(athena, execution.id, std::move(first_page), ctx.CallOptions());
    return WriteCsv(*pages, columns, file);
  }

  // An error from a call the run's cancellation or deadline cut short says so.
  static core::Error Interrupted(const scheduler::JobContext& ctx, const core::Error& error) {
    if (ctx.cancel().Cancelled() && error.kind != core::ErrorKind::kInvalidArgument &&
        error.kind != core::ErrorKind::kUpstream) {
      return ctx.CancelledError(error.message);
    }
    return error;
  }

  static void Record(scheduler::JobContext& ctx, PostgresTarget& target, const core::Error& error) {
    if (auto recorded = target.RecordFailure(error.message); !recorded) {
      ctx.Warn(target.name() +
               ": cannot record the failure in the status table: " + recorded.error().message);
    }
  }

  // Every target's status table says the run failed.
  static core::Unexpected Fail(scheduler::JobContext& ctx, std::vector<PostgresTarget>& targets,
                               core::Error error) {
    for (PostgresTarget& target : targets) Record(ctx, target, error);
    return core::Unexpected(std::move(error));
  }

  const AthenaPostgresSettings settings_;
};

}  // namespace

scheduler::JobType Type() {
  return scheduler::JobType{
      AthenaPostgresJobSpec(), [](const config::JobConfig& job) {
        const auto* settings = job.Settings<AthenaPostgresSettings>();
        return std::make_unique<AthenaPostgresJob>(settings ? *settings : AthenaPostgresSettings{});
      }};
}

}  // namespace jobs::athena_postgres
