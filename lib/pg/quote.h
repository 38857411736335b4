// Names and values spliced into SQL that jobsd builds itself (a table name
// from the config in a COPY or a CREATE TABLE, a literal in a statement
// that takes no parameters). Prefer parameters (Connection::Query) for
// values: these are for the places where SQL has no parameter.
//
// Pure functions; any thread. The results assume a server encoding that is
// ASCII-compatible (UTF8 and every server-side encoding are), which holds
// for every PostgreSQL server.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace pg {

// A possibly qualified name as the user wrote it in the config, quoted for
// SQL: `orders` -> "orders", `sales.orders` -> "sales"."orders",
// `a"b` -> "a""b". Parts are split at dots; a part that starts with a
// double quote is a quoted part, as in SQL (`"my.schema".orders` ->
// "my.schema"."orders", `"a""b"` -> "a""b"); a quote later in a bare part
// is just a character. Each part is taken literally, case included: this
// names the object as the catalog spells it (`Orders` is "Orders", not
// SQL's folded orders). Names longer than 63 bytes are truncated by the
// server (with a NOTICE), as for any identifier.
// Errors (kInvalidArgument): an empty name or part (`a..b`, `.a`), an
// unterminated quote, text after a closing quote, a NUL byte.
core::Result<std::string> QuoteIdentifier(std::string_view name);

// One identifier, never split: `a.b` -> "a.b". For names that come from the
// catalog (a column called "x.y" is one column).
std::string QuoteSingleIdentifier(std::string_view identifier);

// Column names quoted one by one and joined for a column list, each with
// `prefix` in front: {"a", "b"} -> "a", "b"; with "t." -> t."a", t."b".
std::string QuoteColumnList(const std::vector<std::string>& names, std::string_view prefix = {});

// A string literal: 'it''s'. Text with a backslash becomes an escape
// string (E'C:\\dir') so that it reads the same whatever the server's
// standard_conforming_strings is. A NUL byte cannot be in PostgreSQL text:
// Exec/Query refuse SQL that holds one.
std::string QuoteLiteral(std::string_view value);

}  // namespace pg
