#include "jobs/athena_postgres/athena_postgres_config.h"

#include <catch2/catch.hpp>

#include "config/config_loader.h"
#include "jobs/athena_postgres/postgres_target.h"

namespace jobs::athena_postgres {
namespace {

config::LoadResult Load(const std::string& with) {
  config::LoadOptions options;
  options.job_types = {AthenaPostgresJobSpec()};
  options.folder = "/srv/jobsd";
  options.env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "DATABASE_URL") return "postgres://sync:pw@db.internal/forecasts";
    if (name == "EMPTY") return "";
    return std::nullopt;
  };
  return config::LoadConfigText(
      "jobs:\n  - name: forecast-sync\n    type: athena_postgres\n    with:\n" + with, "cfg.yaml",
      options);
}

const std::string kSeed =
    "      aws: {region: us-east-2}\n"
    "      athena: {database: forecasts, workgroup: primary, output_location: "
    "\"s3://acme-athena-results/jobsd\"}\n"
    "      query: |\n"
    "        SELECT restaurant_id, business_date, y_50, updated_at\n"
    "        FROM forecast_data WHERE updated_at > {since}\n"
    "      incremental: {column: updated_at, initial: \"2024-01-01T00:00:00Z\"}\n"
    "      postgres:\n"
    "        url: ${DATABASE_URL}\n"
    "        table: forecast_data\n"
    "        key: [restaurant_id, business_date]\n"
    "        status_table: forecast_sync_status\n";

std::string Errors(const std::string& with) {
  const auto result = Load(with);
  REQUIRE_FALSE(result.ok());
  return result.ErrorText();
}

}  // namespace

TEST_CASE("athena_postgres config: the seed's job", "[athena_postgres][config]") {
  const auto result = Load(kSeed);
  INFO(result.ErrorText());
  REQUIRE(result.ok());
  const auto* s = result.config->jobs[0].Settings<AthenaPostgresSettings>();
  REQUIRE(s != nullptr);
  CHECK(s->aws.region == "us-east-2");
  CHECK(s->database == "forecasts");
  CHECK(s->workgroup == "primary");
  CHECK(s->output_location == "s3://acme-athena-results/jobsd/");  // a prefix: '/' added
  CHECK(s->incremental_column == "updated_at");
  CHECK(s->initial == *core::ParseRfc3339("2024-01-01T00:00:00Z"));
  CHECK(s->mode == SyncMode::kIncremental);
  REQUIRE(s->targets.size() == 1);
  CHECK(s->targets[0].url == "postgres://sync:pw@db.internal/forecasts");
  CHECK(s->targets[0].table == "forecast_data");
  CHECK(s->targets[0].key == std::vector<std::string>{"restaurant_id", "business_date"});
  CHECK(s->targets[0].status_table == "forecast_sync_status");
  CHECK_FALSE(s->targets[0].create);
}

TEST_CASE("athena_postgres config: several targets, full mode, defaults",
          "[athena_postgres][config]") {
  const auto result = Load(
      "      athena: {}\n"
      "      query: SELECT * FROM t\n"
      "      mode: full\n"
      "      postgres:\n"
      "        - {url: \"host=a dbname=x\", table: analytics.t, key: [id], create: true}\n"
      "        - {url: \"host=b dbname=x\", table: t, key: [id]}\n");
  INFO(result.ErrorText());
  REQUIRE(result.ok());
  const auto* s = result.config->jobs[0].Settings<AthenaPostgresSettings>();
  REQUIRE(s->targets.size() == 2);
  CHECK(s->mode == SyncMode::kFull);
  CHECK(s->workgroup == "primary");
  CHECK(s->output_location.empty());
  CHECK(s->targets[0].table == "analytics.t");
  CHECK(s->targets[0].create);
  CHECK(s->targets[1].status_table == "jobsd_sync_status");
  CHECK(s->incremental_column.empty());
}

TEST_CASE("athena_postgres config: mistakes name the key", "[athena_postgres][config]") {
  CHECK_THAT(Errors("      athena: {}\n      postgres: {url: x, table: t, key: [id]}\n"),
             Catch::Contains("query"));
  CHECK_THAT(Errors("      athena: {}\n      query: SELECT * FROM t WHERE u > {since}\n"
                    "      postgres: {url: x, table: t, key: [id]}\n"),
             Catch::Contains("needs incremental"));
  CHECK_THAT(Errors("      athena: {}\n      query: SELECT * FROM t\n"
                    "      incremental: {column: u, initial: 2024-01-01T00:00:00Z}\n"
                    "      postgres: {url: x, table: t, key: [id]}\n"),
             Catch::Contains("has no {since}"));
  CHECK_THAT(Errors("      athena: {}\n      query: SELECT * FROM t WHERE u > {since}\n"
                    "      incremental: {column: u, initial: yesterday}\n"
                    "      postgres: {url: x, table: t, key: [id]}\n"),
             Catch::Contains("initial"));
  CHECK_THAT(Errors("      athena: {output_location: acme-results}\n      query: SELECT 1\n"
                    "      postgres: {url: x, table: t, key: [id]}\n"),
             Catch::Contains("s3://bucket/prefix/"));
  CHECK_THAT(Errors("      athena: {}\n      query: SELECT 1\n"
                    "      postgres: {url: x, table: \"t; DROP TABLE x\", key: [id]}\n"),
             Catch::Contains("expected a table name"));
  CHECK_THAT(Errors("      athena: {}\n      query: SELECT 1\n"
                    "      postgres: {url: x, table: t, key: [id, id]}\n"),
             Catch::Contains("twice"));
  CHECK_THAT(Errors("      athena: {}\n      query: SELECT 1\n"
                    "      postgres: {url: ${EMPTY}, table: t, key: [id]}\n"),
             Catch::Contains("is empty"));
  CHECK_THAT(Errors("      athena: {}\n      query: SELECT 1\n"
                    "      postgres: {url: x, table: t, key: []}\n"),
             Catch::Contains("at least one column"));
  CHECK_THAT(Errors("      athena: {}\n      query: SELECT 1\n      mode: partial\n"
                    "      postgres: {url: x, table: t, key: [id]}\n"),
             Catch::Contains("mode"));
  CHECK_THAT(
      Errors("      athena: {}\n      query: SELECT 1\n"
             "      postgres: [{url: x, table: t, key: [id]}, {url: x, table: t, key: [id]}]\n"),
      Catch::Contains("twice"));
  CHECK_THAT(Errors("      athena: {databse: x}\n      query: SELECT 1\n"
                    "      postgres: {url: x, table: t, key: [id]}\n"),
             Catch::Contains("databse"));
  // The URL is a secret: not in any message.
  CHECK_THAT(Errors("      athena: {}\n      query: SELECT 1\n"
                    "      postgres: {url: ${DATABASE_URL}, table: 7t, key: [id]}\n"),
             !Catch::Contains("pw@"));
}

TEST_CASE("athena_postgres: {since} becomes Athena's timestamp literal", "[athena_postgres]") {
  const auto t = *core::ParseRfc3339("2024-11-04T02:07:01.123456Z");
  CHECK(QueryWithSince("SELECT * FROM f WHERE u > {since} OR v > {since}", t) ==
        "SELECT * FROM f WHERE u > TIMESTAMP '2024-11-04 02:07:01.123' OR v > TIMESTAMP "
        "'2024-11-04 02:07:01.123'");
  CHECK(QueryWithSince("SELECT 1", t) == "SELECT 1");
}

TEST_CASE("athena_postgres: which Athena types fit which PostgreSQL columns", "[athena_postgres]") {
  CHECK(ColumnFits("integer", "integer"));
  CHECK(ColumnFits("integer", "bigint"));
  CHECK_FALSE(ColumnFits("bigint", "integer"));
  CHECK_FALSE(ColumnFits("double", "integer"));
  CHECK(ColumnFits("double", "double precision"));
  CHECK_FALSE(ColumnFits("double", "real"));
  CHECK(ColumnFits("decimal(10,2)", "numeric(12,2)"));
  CHECK_FALSE(ColumnFits("decimal(10,2)", "double precision"));
  CHECK(ColumnFits("varchar", "character varying(200)"));
  CHECK(ColumnFits("varchar", "text"));
  CHECK_FALSE(ColumnFits("varchar", "integer"));
  CHECK(ColumnFits("date", "date"));
  CHECK(ColumnFits("timestamp", "timestamp with time zone"));
  CHECK(ColumnFits("timestamp(3)", "timestamp without time zone"));
  CHECK_FALSE(ColumnFits("timestamp", "date"));
  CHECK(ColumnFits("array(integer)", "text"));
  CHECK_FALSE(ColumnFits("array(integer)", "integer"));
  CHECK(ColumnFits("boolean", "boolean"));
  CHECK_FALSE(ColumnFits("boolean", "integer"));
  CHECK(CreatedType({"y", "decimal", 10, 2}) == "numeric(10,2)");
  CHECK(CreatedType({"d", "timestamp"}) == "timestamp without time zone");
  CHECK(CreatedType({"v", "varchar", 2147483647}) == "text");
  CHECK(CreatedType({"n", "bigint"}) == "bigint");
}

}  // namespace jobs::athena_postgres
