#include "jobs/sql_import/sql_import_config.h"

#include <algorithm>
#include <set>

#include "jobs/sql_import/import_window.h"

namespace jobs::sql_import {
namespace {

bool NameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

void ReadSource(config::MapReader& with, SqlImportSettings& out) {
  std::optional<config::MapReader> source = with.Map("source", config::Need::kRequired);
  if (!source) return;
  const bool has_csv = source->Has("csv");
  const bool has_http = source->Has("http");
  if (has_csv == has_http) {
    source->ReportHere("expected one of csv: (files) or http: (a JSON API)");
  }
  if (has_csv) {
    CsvSource csv;
    std::optional<config::YamlNode> node = source->Node("csv");
    if (node && node->IsMap()) {
      if (auto map = source->Map("csv")) {
        if (auto files = map->Path("files", config::Need::kRequired)) csv.files = files->string();
        if (auto delimiter = map->String("delimiter")) {
          if (*delimiter == "\\t" || *delimiter == "tab") *delimiter = "\t";
          if (delimiter->size() != 1 || *delimiter == "\"" || *delimiter == "\n" ||
              *delimiter == "\r") {
            map->Report("delimiter", "expected one character other than a quote or a line end");
          } else {
            csv.options.delimiter = (*delimiter)[0];
          }
        }
        csv.options.encoding =
            map->Enum<csv::Encoding>("encoding", {{"utf-8", csv::Encoding::kUtf8},
                                                  {"utf8", csv::Encoding::kUtf8},
                                                  {"latin-1", csv::Encoding::kLatin1},
                                                  {"latin1", csv::Encoding::kLatin1},
                                                  {"iso-8859-1", csv::Encoding::kLatin1}})
                .value_or(csv::Encoding::kUtf8);
        map->Finish();
      }
    } else if (auto files = source->Path("csv")) {
      csv.files = files->string();
    }
    out.csv = std::move(csv);
  }
  if (has_http) {
    if (auto http = source->Map("http")) {
      HttpSource h;
      h.url = http->Secret("url", config::Need::kRequired).value_or("");
      if (http->Has("url") && h.url.rfind("http://", 0) != 0 && h.url.rfind("https://", 0) != 0) {
        http->Report("url", "expected an http:// or https:// URL");
      }
      h.headers = http->StringMap("headers").value_or(std::map<std::string, std::string>{});
      if (auto params = http->StringMap("params")) {
        for (auto& [name, value] : *params) h.params.emplace_back(name, value);
      }
      h.records = http->String("records").value_or("");
      h.next = http->String("next").value_or("");
      h.max_pages = http->Int("max_pages", 1, 1'000'000).value_or(h.max_pages);
      http->Finish();
      out.http = std::move(h);
    }
  }
  source->Finish();
}

void ReadTarget(config::MapReader& with, SqlImportSettings& out) {
  std::optional<config::MapReader> target = with.Map("target", config::Need::kRequired);
  if (!target) return;
  const bool has_sqlite = target->Has("sqlite");
  const bool has_postgres = target->Has("postgres") || target->Has("postgres_file");
  if (has_sqlite == has_postgres) {
    target->ReportHere("expected one of sqlite: FILE or postgres: URL");
  }
  if (has_sqlite) {
    out.target = TargetKind::kSqlite;
    // Relative to the state folder, like openaq's database: read as written.
    if (auto file = target->String("sqlite")) {
      if (file->empty()) target->Report("sqlite", "is empty");
      out.sqlite = *file;
    }
  } else if (has_postgres) {
    out.target = TargetKind::kPostgres;
    out.postgres = target->Secret("postgres").value_or("");
    if (out.postgres.empty()) {
      target->Report(target->Has("postgres") ? "postgres" : "postgres_file",
                     "is empty (is the environment variable set?)");
    }
  }
  target->Finish();
}

}  // namespace

bool IsColumnName(std::string_view name) {
  if (name.empty() || name.size() > 63 || (name[0] >= '0' && name[0] <= '9')) return false;
  return std::all_of(name.begin(), name.end(), NameChar);
}

bool IsTableName(std::string_view name) {
  const std::size_t dot = name.find('.');
  if (dot == std::string_view::npos) return IsColumnName(name);
  return IsColumnName(name.substr(0, dot)) && IsColumnName(name.substr(dot + 1));
}

SqlImportSettings ReadSqlImportSettings(config::MapReader& with) {
  SqlImportSettings out;
  ReadSource(with, out);
  ReadTarget(with, out);

  out.window = with.Duration("window");
  if (out.window && *out.window <= core::Duration::zero()) {
    with.Report("window", "expected a period longer than 0s, like 1d or 1h");
  }
  out.window_start = with.String("window_start");
  out.window_end = with.String("window_end");
  if (out.window_start.has_value() != out.window_end.has_value()) {
    with.ReportHere(std::string(out.window_start ? "window_end" : "window_start") +
                    " is needed too: a backfill names both ends of its window");
  }
  if (out.window_start && out.window_end) {
    if (auto window = WindowBetween(*out.window_start, *out.window_end, nullptr); !window) {
      with.Report("window_start", window.error().message);
    }
  }
  if (out.http) {
    bool uses = UsesWindow(out.http->url);
    for (const auto& [name, value] : out.http->params) uses = uses || UsesWindow(value);
    if (uses && !out.window && !out.window_start) {
      with.ReportHere("window is needed: the request uses {window_start} or {window_end}");
    }
  } else if (out.window || out.window_start) {
    with.Report(out.window ? "window" : "window_start",
                "applies to http sources (files are imported whole)");
  }

  if (auto table = with.String("table", config::Need::kRequired)) {
    if (!IsTableName(*table) ||
        (out.target == TargetKind::kSqlite && table->find('.') != std::string::npos)) {
      with.Report(
          "table",
          "expected a table name (letters, digits, _" +
              std::string(out.target == TargetKind::kPostgres ? "; schema.table allowed" : "") +
              "), got '" + *table + "'");
    }
    out.table = *table;
  }

  if (auto columns = with.NamedMaps("columns", config::Need::kRequired)) {
    for (auto& [name, spec] : *columns) {
      if (!IsColumnName(name)) {
        spec.ReportHere("expected a column name (letters, digits, _), got '" + name + "'");
      }
      out.columns.push_back(ColumnRule::Read(name, spec));
      spec.Finish();
    }
    if (columns->empty()) with.Report("columns", "expected at least one column");
  }
  auto has_column = [&](std::string_view name) {
    return std::any_of(out.columns.begin(), out.columns.end(),
                       [&](const ColumnRule& c) { return c.name == name; });
  };

  if (auto password = with.Map("password")) {
    PasswordSettings p;
    p.column = password->String("column", config::Need::kRequired).value_or("");
    p.from = password->String("from", config::Need::kRequired).value_or("");
    if (!p.column.empty() && !IsColumnName(p.column)) {
      password->Report("column", "expected a column name, got '" + p.column + "'");
    }
    if (!p.column.empty() && has_column(p.column)) {
      password->Report("column", "'" + p.column +
                                     "' is also under columns: the password column is filled by "
                                     "the hash only");
    }
    if (auto memory = password->Size("memory")) {
      if (*memory < 8 * 1024 || *memory > (std::uint64_t(4) << 30)) {
        password->Report("memory", "expected 8KiB to 4GiB");
      } else {
        p.cost.memory_kib = std::uint32_t(*memory / 1024);
      }
    }
    p.cost.iterations =
        std::uint32_t(password->Int("iterations", 1, 100).value_or(p.cost.iterations));
    p.cost.parallelism =
        std::uint32_t(password->Int("parallelism", 1, 64).value_or(p.cost.parallelism));
    password->Finish();
    ColumnRule hash;
    hash.name = p.column;
    hash.from = p.from;
    hash.required = true;
    hash.password = true;
    out.columns.push_back(std::move(hash));
    out.password = std::move(p);
  }

  if (auto key = with.StringList("key", config::Need::kRequired)) {
    std::set<std::string> seen;
    for (const std::string& column : *key) {
      if (!has_column(column)) {
        with.Report("key", "names '" + column + "', which is not under columns");
      } else if (out.password && column == out.password->column) {
        with.Report("key", "cannot include the password column");
      }
      if (!seen.insert(column).second) with.Report("key", "names '" + column + "' twice");
    }
    if (key->empty()) with.Report("key", "expected at least one column");
    out.key = *key;
  }
  for (const ColumnRule& column : out.columns) {
    if (std::find(out.key.begin(), out.key.end(), column.name) != out.key.end() &&
        !column.required) {
      // A NULL never conflicts, so a row without its key would be added again every run.
      with.Report("key",
                  "column '" + column.name + "' must be required: true (a key cannot be empty)");
    }
  }
  if (auto keep = with.StringList("keep_on_update")) {
    for (const std::string& column : *keep) {
      if (!has_column(column)) {
        with.Report("keep_on_update", "names '" + column + "', which is not a column");
      } else if (std::find(out.key.begin(), out.key.end(), column) != out.key.end()) {
        with.Report("keep_on_update", "names the key column '" + column + "'");
      }
    }
    out.keep_on_update = *keep;
  }

  if (auto checks = with.StringList("checks")) {
    for (const std::string& check : *checks) {
      if (check.find_first_not_of(" \t\r\n") == std::string::npos) {
        with.Report("checks", "has an empty expression");
      }
      if (check.find(';') != std::string::npos) {
        with.Report("checks", "expected one SQL expression per entry, without ';'");
      }
    }
    out.checks = *checks;
  }
  out.min_rows = with.Int("min_rows", 0, std::int64_t(1) << 40).value_or(0);
  out.on_invalid =
      with.Enum<OnInvalid>("on_invalid", {{"skip", OnInvalid::kSkip}, {"fail", OnInvalid::kFail}})
          .value_or(OnInvalid::kSkip);
  out.upsert =
      with.Enum<Upsert>("upsert", {{"update", Upsert::kUpdate}, {"ignore", Upsert::kIgnore}})
          .value_or(Upsert::kUpdate);
  out.create = with.Bool("create").value_or(false);
  out.dry_run = with.Bool("dry_run").value_or(false);
  return out;
}

config::JobTypeSpec SqlImportJobSpec() {
  return {"sql_import", [](config::MapReader& with, std::string_view) -> std::any {
            return ReadSqlImportSettings(with);
          }};
}

}  // namespace jobs::sql_import
