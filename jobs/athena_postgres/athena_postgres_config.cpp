#include "jobs/athena_postgres/athena_postgres_config.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

namespace jobs::athena_postgres {
namespace {

// A column or table name as the job writes it into SQL (quoted there):
// letters, digits, '_' and '$', not starting with a digit; a table may
// carry one schema ("analytics.forecast_data").
bool IsName(std::string_view name) {
  if (name.empty() || name.size() > 63 || (name[0] >= '0' && name[0] <= '9')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '$';
  });
}

bool IsTableName(std::string_view name) {
  const std::size_t dot = name.find('.');
  if (dot == std::string_view::npos) return IsName(name);
  return IsName(name.substr(0, dot)) && IsName(name.substr(dot + 1));
}

TargetSettings ReadTarget(config::MapReader& target) {
  TargetSettings out;
  out.url = target.Secret("url", config::Need::kRequired).value_or("");
  if ((target.Has("url") || target.Has("url_file")) && out.url.empty()) {
    target.Report(target.Has("url") ? "url" : "url_file",
                  "is empty (is the environment variable set?)");
  }
  if (auto table = target.String("table", config::Need::kRequired)) {
    if (!IsTableName(*table)) {
      target.Report(
          "table",
          "expected a table name (letters, digits, _; schema.table allowed), got '" + *table + "'");
    }
    out.table = *table;
  }
  if (auto key = target.StringList("key", config::Need::kRequired)) {
    std::set<std::string> seen;
    for (const std::string& column : *key) {
      if (!IsName(column)) target.Report("key", "expected column names, got '" + column + "'");
      if (!seen.insert(column).second) target.Report("key", "names '" + column + "' twice");
    }
    if (key->empty()) target.Report("key", "expected at least one column");
    out.key = *key;
  }
  if (auto status = target.String("status_table")) {
    if (!IsTableName(*status)) {
      target.Report("status_table", "expected a table name, got '" + *status + "'");
    }
    out.status_table = *status;
  }
  out.create = target.Bool("create").value_or(false);
  return out;
}

}  // namespace

AthenaPostgresSettings ReadAthenaPostgresSettings(config::MapReader& with) {
  AthenaPostgresSettings out;
  {
    config::MapReader aws = with.MapOrEmpty("aws");
    out.aws = aws::ReadAwsSettings(aws);
    aws.Finish();
  }
  if (auto athena = with.Map("athena", config::Need::kRequired)) {
    out.database = athena->String("database").value_or("");
    out.workgroup = athena->String("workgroup").value_or(out.workgroup);
    out.catalog = athena->String("catalog").value_or("");
    if (auto location = athena->String("output_location")) {
      if (location->rfind("s3://", 0) != 0 || location->size() <= 5) {
        athena->Report("output_location", "expected s3://bucket/prefix/, got '" + *location + "'");
      }
      out.output_location = *location;
      if (!out.output_location.empty() && out.output_location.back() != '/') {
        out.output_location += '/';
      }
    }
    athena->Finish();
  }
  if (auto query = with.String("query", config::Need::kRequired)) {
    if (query->find_first_not_of(" \t\r\n") == std::string::npos) {
      with.Report("query", "is empty");
    }
    out.query = *query;
  }
  const bool uses_since = out.query.find("{since}") != std::string::npos;
  if (auto incremental = with.Map("incremental")) {
    if (auto column = incremental->String("column", config::Need::kRequired)) {
      if (column->empty()) incremental->Report("column", "expected a column of the query's result");
      out.incremental_column = *column;
    }
    if (auto initial = incremental->String("initial", config::Need::kRequired)) {
      if (auto t = core::ParseRfc3339(*initial)) {
        out.initial = *t;
      } else {
        incremental->Report("initial",
                            "expected a time like 2024-01-01T00:00:00Z, got '" + *initial + "'");
      }
    }
    incremental->Finish();
    if (!uses_since) {
      with.Report("query", "has no {since}: an incremental sync would fetch everything every time");
    }
  } else if (uses_since) {
    with.Report("query", "uses {since}, which needs incremental: {column: ..., initial: ...}");
  }
  out.mode = with.Enum<SyncMode>(
                     "mode", {{"incremental", SyncMode::kIncremental}, {"full", SyncMode::kFull}})
                 .value_or(out.mode);

  if (std::optional<config::YamlNode> node = with.Node("postgres", config::Need::kRequired)) {
    if (node->IsSequence()) {
      if (auto targets = with.MapList("postgres")) {
        for (config::MapReader& target : *targets) {
          out.targets.push_back(ReadTarget(target));
          target.Finish();
        }
        if (targets->empty()) with.Report("postgres", "expected at least one target");
      }
    } else if (auto target = with.Map("postgres")) {
      out.targets.push_back(ReadTarget(*target));
      target->Finish();
    }
  }
  std::set<std::pair<std::string, std::string>> seen;
  for (const TargetSettings& target : out.targets) {
    if (!seen.insert({target.url, target.table}).second) {
      with.Report("postgres", "names the table '" + target.table + "' of one database twice");
    }
  }
  return out;
}

config::JobTypeSpec AthenaPostgresJobSpec() {
  return {"athena_postgres", [](config::MapReader& with, std::string_view) -> std::any {
            return ReadAthenaPostgresSettings(with);
          }};
}

std::string QueryWithSince(const std::string& query, core::TimePoint since) {
  // 2024-01-01T00:00:00.000000Z -> 2024-01-01 00:00:00.000
  std::string text = core::FormatRfc3339(since);
  text[10] = ' ';
  text = text.substr(0, 23);
  const std::string literal = "TIMESTAMP '" + text + "'";
  std::string out;
  std::size_t from = 0;
  for (std::size_t at; (at = query.find("{since}", from)) != std::string::npos; from = at + 7) {
    out.append(query, from, at - from);
    out += literal;
  }
  out.append(query, from);
  return out;
}

}  // namespace jobs::athena_postgres
