// The pure text functions of lib/pg: quoting, conninfo redaction, COPY
// text escaping. No server needed.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "pg/conninfo.h"
#include "pg/copy_in.h"
#include "pg/error.h"
#include "pg/quote.h"

TEST_CASE("pg: QuoteIdentifier quotes each part of a qualified name", "[pg_text]") {
  struct Case {
    std::string_view name;
    std::string_view quoted;
  };
  const Case cases[] = {
      {"orders", R"("orders")"},
      {"sales.orders", R"("sales"."orders")"},
      {"db.sales.orders", R"("db"."sales"."orders")"},
      {"Orders", R"("Orders")"},  // literal, not folded
      {R"(a"b)", R"("a""b")"},
      {R"(s.a"b)", R"("s"."a""b")"},
      {R"("my.schema".orders)", R"("my.schema"."orders")"},
      {R"("a""b")", R"("a""b")"},
      {R"("x"."y")", R"("x"."y")"},
      {"with space", R"("with space")"},
      {"Zürich", R"("Zürich")"},
      {"a;DROP TABLE x", R"("a;DROP TABLE x")"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    auto quoted = pg::QuoteIdentifier(c.name);
    REQUIRE(quoted);
    CHECK(*quoted == c.quoted);
  }
}

TEST_CASE("pg: QuoteIdentifier refuses names that are not names", "[pg_text]") {
  const std::string_view bad[] = {
      "",        ".",     "a.",
      ".a",      "a..b",  R"("unterminated)",
      R"("a"b)", R"("")", std::string_view("a\0b", 3),
  };
  for (std::string_view name : bad) {
    INFO(name);
    auto quoted = pg::QuoteIdentifier(name);
    REQUIRE_FALSE(quoted);
    CHECK(quoted.error().kind == core::ErrorKind::kInvalidArgument);
  }
}

TEST_CASE("pg: QuoteSingleIdentifier never splits", "[pg_text]") {
  CHECK(pg::QuoteSingleIdentifier("a.b") == R"("a.b")");
  CHECK(pg::QuoteSingleIdentifier(R"(x"y)") == R"("x""y")");
  CHECK(pg::QuoteSingleIdentifier("") == R"("")");
}

TEST_CASE("pg: QuoteLiteral doubles quotes and escapes backslashes", "[pg_text]") {
  CHECK(pg::QuoteLiteral("plain") == "'plain'");
  CHECK(pg::QuoteLiteral("") == "''");
  CHECK(pg::QuoteLiteral("it's") == "'it''s'");
  CHECK(pg::QuoteLiteral("''") == "''''''");
  CHECK(pg::QuoteLiteral(R"(C:\dir)") == R"(E'C:\\dir')");
  CHECK(pg::QuoteLiteral(R"(\' OR 1=1 --)") == R"(E'\\'' OR 1=1 --')");
  CHECK(pg::QuoteLiteral("東京") == "'東京'");
}

TEST_CASE("pg: RedactConninfo masks passwords in URLs", "[pg_text]") {
  struct Case {
    std::string_view in;
    std::string_view out;
  };
  const Case cases[] = {
      {"postgres://jobs:s3cret@db.example:5432/app?sslmode=require",
       "postgres://jobs:***@db.example:5432/app?sslmode=require"},
      {"postgresql://jobs:s3cret@db/app", "postgresql://jobs:***@db/app"},
      {"postgres://jobs@db/app", "postgres://jobs@db/app"},
      {"postgres://db/app", "postgres://db/app"},
      {"postgres://jobs:@db/app", "postgres://jobs:***@db/app"},
      {"postgres://jobs:p%40ss@h1:1,h2:2/app", "postgres://jobs:***@h1:1,h2:2/app"},
      // A raw '@' or '?' in the password: masked whole.
      {"postgres://jobs:p@ss@db/app", "postgres://jobs:***@db/app"},
      {"postgres://jobs:p?ss@db/app", "postgres://jobs:***@db/app"},
      // A raw '/' in the password: libpq would not parse it, still masked.
      {"postgres://jobs:pa/ss@db/app", "postgres://jobs:***@db/app"},
      {"postgres://db/app?user=jobs&password=s3cret&sslmode=verify-full",
       "postgres://db/app?user=jobs&password=***&sslmode=verify-full"},
      {"postgres://db/app?sslpassword=keypass", "postgres://db/app?sslpassword=***"},
      // libpq decodes query keys: so does the redaction.
      {"postgres://db/app?pass%77ord=s3cret", "postgres://db/app?pass%77ord=***"},
      {"postgres://u:a@db/app?password=b", "postgres://u:***@db/app?password=***"},
      {"postgres://[::1]:5432/app", "postgres://[::1]:5432/app"},
  };
  for (const Case& c : cases) {
    INFO(c.in);
    CHECK(pg::RedactConninfo(c.in) == c.out);
  }
}

TEST_CASE("pg: RedactConninfo masks passwords in key=value strings", "[pg_text]") {
  struct Case {
    std::string_view in;
    std::string_view out;
  };
  const Case cases[] = {
      {"host=db port=5432 user=jobs password=s3cret dbname=app",
       "host=db port=5432 user=jobs password=*** dbname=app"},
      {"host=db password = s3cret sslmode=require", "host=db password = *** sslmode=require"},
      {R"(host=db password='it\'s a secret' dbname=app)", "host=db password=*** dbname=app"},
      {R"(password=a\ b host=db)", "password=*** host=db"},
      {"password='' host=db", "password=*** host=db"},
      {"sslpassword=keypass host=db", "sslpassword=*** host=db"},
      {"host=db dbname=app", "host=db dbname=app"},
      // An unquoted password with a space: the rest does not parse; masked.
      {"host=db password=abc def port=5432", "host=db password=*** ***"},
      {"host=db password='unterminated", "host=db password=***"},
      // A dbname that is itself a connection string.
      {"dbname='postgres://u:pw@db/app' connect_timeout=5",
       "dbname='postgres://u:***@db/app' connect_timeout=5"},
      {"app", "app"},
      {"", ""},
  };
  for (const Case& c : cases) {
    INFO(c.in);
    CHECK(pg::RedactConninfo(c.in) == c.out);
  }
}

TEST_CASE("pg: ConninfoSecrets finds passwords as written and as decoded", "[pg_text]") {
  auto has = [](const std::vector<std::string>& v, std::string_view s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  auto url = pg::ConninfoSecrets("postgres://u:p%40ss%2Fw0rd@db/app?password=other");
  CHECK(has(url, "p%40ss%2Fw0rd"));
  CHECK(has(url, "p@ss/w0rd"));
  CHECK(has(url, "other"));
  auto kv = pg::ConninfoSecrets(R"(host=db password='it\'s' sslpassword=k3y)");
  CHECK(has(kv, "it's"));
  CHECK(has(kv, "k3y"));
  CHECK_FALSE(has(kv, "db"));
  auto broken = pg::ConninfoSecrets("host=db password=abc defgh port=1");
  CHECK(has(broken, "abc"));
  CHECK(has(broken, "defgh"));
  CHECK(pg::ConninfoSecrets("host=db user=jobs").empty());
  CHECK(pg::ConninfoSecrets("postgres://jobs@db/app").empty());
}

TEST_CASE("pg: MaskSecrets replaces every occurrence, longest first", "[pg_text]") {
  CHECK(pg::MaskSecrets("a s3cret and s3cret again", {"s3cret"}) == "a *** and *** again");
  CHECK(pg::MaskSecrets("token abcdef", {"abc", "abcdef"}) == "token ***");
  CHECK(pg::MaskSecrets("nothing here", {}) == "nothing here");
  CHECK(pg::MaskSecrets("x", {""}) == "x");
}

TEST_CASE("pg: AppendCopyText escapes what COPY's text format needs", "[pg_text]") {
  struct Case {
    std::optional<std::string_view> value;
    std::string_view escaped;
  };
  const Case cases[] = {
      {std::nullopt, R"(\N)"},
      {"", ""},
      {"plain", "plain"},
      {R"(\N)", R"(\\N)"},  // the text "\N" is not NULL
      {"a\tb", R"(a\tb)"},
      {"a\nb", R"(a\nb)"},
      {"a\r\nb", R"(a\r\nb)"},
      {R"(back\slash)", R"(back\\slash)"},
      {R"(\.)", R"(\\.)"},  // not the end-of-data marker
      {"Zürich 東京 🚀", "Zürich 東京 🚀"},
  };
  for (const Case& c : cases) {
    INFO(c.value.value_or("NULL"));
    std::string line = "x\t";
    pg::AppendCopyText(line, c.value);
    CHECK(line == "x\t" + std::string(c.escaped));
  }
}

TEST_CASE("pg: AppendCopyRow joins fields with tabs and ends the line", "[pg_text]") {
  std::string out;
  pg::AppendCopyRow(out, {"1", std::nullopt, "a\tb"});
  pg::AppendCopyRow(out, {"2"});
  CHECK(out == "1\t\\N\ta\\tb\n2\n");
}

TEST_CASE("pg: SqlState reads the suffix lib/pg writes and nothing else", "[pg_text]") {
  auto error = [](std::string message) {
    return core::Error{core::ErrorKind::kUpstream, std::move(message), false};
  };
  CHECK(pg::SqlState(error("x: duplicate key (SQLSTATE 23505)")) == "23505");
  CHECK(pg::SqlState(error("x: syntax error; hint: h (SQLSTATE 42601)")) == "42601");
  CHECK(pg::SqlState(error("x: (SQLSTATE 42P01)")) == "42P01");
  CHECK(pg::SqlState(error("x: raised 'see (SQLSTATE 12345)' here")).empty());
  CHECK(pg::SqlState(error("x: connection lost")).empty());
  CHECK(pg::SqlState(error("(SQLSTATE 2350)")).empty());
  CHECK(pg::SqlState(error("")).empty());
}

TEST_CASE("pg: IsRetryableSqlState follows the SQLSTATE classes", "[pg_text]") {
  for (std::string_view code : {"08000", "08006", "08P01", "40001", "40P01", "53000", "53100",
                                "53200", "53300", "57P01", "57P02", "57P03"}) {
    INFO(code);
    CHECK(pg::IsRetryableSqlState(code));
  }
  for (std::string_view code : {"42601", "42P01", "23505", "23503", "22P02", "22001", "28P01",
                                "28000", "57014", "25P02", "0800", "", "XX000"}) {
    INFO(code);
    CHECK_FALSE(pg::IsRetryableSqlState(code));
  }
}
