#include "jobs/sql_import/import_target.h"

#include <algorithm>

#include "pg/quote.h"

namespace jobs::sql_import {

// Defined beside their classes.
core::Result<std::unique_ptr<ImportTarget>> OpenSqliteTarget(const SqlImportSettings& settings,
                                                             RunFacts facts,
                                                             const std::filesystem::path& file);
core::Result<std::unique_ptr<ImportTarget>> OpenPostgresTarget(const SqlImportSettings& settings,
                                                               RunFacts facts,
                                                               scheduler::JobContext& ctx);

core::Result<std::unique_ptr<ImportTarget>> OpenTarget(const SqlImportSettings& settings,
                                                       RunFacts facts, scheduler::JobContext& ctx) {
  if (settings.target == TargetKind::kPostgres) {
    return OpenPostgresTarget(settings, std::move(facts), ctx);
  }
  std::filesystem::path file = settings.sqlite;
  if (file.is_relative() && !ctx.state_folder().empty()) file = ctx.state_folder() / file;
  return OpenSqliteTarget(settings, std::move(facts), file);
}

namespace sql {

std::vector<std::string> Names(const std::vector<ColumnRule>& columns) {
  std::vector<std::string> names;
  names.reserve(columns.size());
  for (const ColumnRule& column : columns) names.push_back(column.name);
  return names;
}

std::vector<std::string> UpdatedColumns(const SqlImportSettings& settings) {
  std::vector<std::string> out;
  for (const ColumnRule& column : settings.columns) {
    const bool key =
        std::find(settings.key.begin(), settings.key.end(), column.name) != settings.key.end();
    const bool kept = std::find(settings.keep_on_update.begin(), settings.keep_on_update.end(),
                                column.name) != settings.keep_on_update.end();
    if (!key && !kept) out.push_back(column.name);
  }
  return out;
}

std::string FailsAnyCheck(const std::vector<std::string>& checks, std::string_view yes) {
  std::string out = "NOT (";
  for (std::size_t i = 0; i < checks.size(); ++i) {
    out += (i ? " AND coalesce((" : "coalesce((") + checks[i] + "), " + std::string(yes) + ")";
  }
  return out + ")";
}

}  // namespace sql
}  // namespace jobs::sql_import
