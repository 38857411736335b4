// Connection strings as users write them, made safe to show: the password
// masked in a libpq URL and in a key=value conninfo, and the secret texts
// found in one, so that a message that quotes part of the string (libpq's
// own parse errors do, and so may pg_dump's stderr) can be scrubbed.
//
// The two forms libpq reads (PostgreSQL 15 docs, 34.1.1):
//   postgres://user:secret@host:5432,host2/db?sslmode=require&password=x
//   host=db.example port=5432 user=jobs password='it''s \'quoted\'' dbname=app
// Masked: the password of the URL's userinfo, the values of `password` and
// `sslpassword` in either form (URL query keys percent-decoded first, as
// libpq does), and a password inside a `dbname` value that is itself a
// connection string. The rest is kept as written, so a log line still says
// which host, port, user and database was meant.
//
// Text that does not parse is masked conservatively: in a key=value string
// everything from the first token that does not parse to the end (an
// unquoted password with a space in it lands there); in a URL userinfo is
// taken up to the last '@' before the path (a raw '@' or '?' in a password
// is masked whole, a '/' too when a later '@' shows it was one). Masking too
// much is the safe side: these functions are for messages, never for
// connecting.
//
// Pure functions; any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pg {

// `conninfo` (a URL, a key=value string or a bare database name) with its
// secrets replaced by "***".
std::string RedactConninfo(std::string_view conninfo);

// The secret texts of `conninfo`: each password as written and as libpq
// decodes it, and the tokens of a part that did not parse (which may be the
// rest of a password). Empty when it holds none.
std::vector<std::string> ConninfoSecrets(std::string_view conninfo);

// `text` with every occurrence of each of `secrets` replaced by "***",
// longest secrets first (so that one secret inside another leaves nothing).
std::string MaskSecrets(std::string_view text, const std::vector<std::string>& secrets);

}  // namespace pg
