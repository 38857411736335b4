#include "pg/catalog.h"

#include <algorithm>

namespace pg {

core::Result<bool> HasUniqueIndexOn(Connection& conn, std::string_view table_sql,
                                    const std::vector<std::string>& columns) {
  std::vector<std::string> sorted = columns;
  std::sort(sorted.begin(), sorted.end());
  // A text[] literal; the names are quoted inside it, so any name fits.
  std::string array = "{";
  for (const std::string& column : sorted) {
    if (array.size() > 1) array += ',';
    array += '"';
    for (char c : column) {
      if (c == '"' || c == '\\') array += '\\';
      array += c;
    }
    array += '"';
  }
  array += '}';
  auto unique = conn.Query(
      "SELECT count(*) FROM pg_index i WHERE i.indrelid = to_regclass($1) AND i.indisunique "
      "AND i.indpred IS NULL AND i.indexprs IS NULL AND (SELECT array_agg(a.attname::text "
      "ORDER BY a.attname::text) FROM pg_attribute a WHERE a.attrelid = i.indrelid "
      "AND a.attnum = ANY(i.indkey)) = $2::text[]",
      {std::string(table_sql), array});
  if (!unique) return core::Unexpected(unique.error());
  return unique->Text(0, 0) != "0";
}

}  // namespace pg
