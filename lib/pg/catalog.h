// What jobsd asks PostgreSQL's catalog about a table before writing into it.
//
// Blocking, like every Connection call; errors are the Connection's.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "pg/connection.h"

namespace pg {

// Whether `table_sql` (quoted, possibly schema-qualified: QuoteIdentifier's
// form) has a unique index or constraint on exactly `columns`, in any
// order, that is neither partial nor on expressions: what `INSERT ... ON
// CONFLICT (columns)` needs.
core::Result<bool> HasUniqueIndexOn(Connection& conn, std::string_view table_sql,
                                    const std::vector<std::string>& columns);

}  // namespace pg
