// pg::CopyIn against a real PostgreSQL 15 ([pg], see pg_test_server.h).
#include "pg/copy_in.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <random>

#include "pg/connection.h"
#include "pg/error.h"
#include "pg/transaction.h"
#include "tests/lib/pg/pg_test_server.h"

namespace {

using pg_test::Connect;
using pg_test::Exec;
using pg_test::One;

// Row i's two text values: every awkward character COPY's text format has,
// NULLs, empty strings and the texts that look like markers.
std::optional<std::string> ValueA(int i) {
  switch (i % 11) {
    case 0:
      return std::nullopt;
    case 1:
      return "";
    case 2:
      return "tab\there\tand\tthere";
    case 3:
      return "line\nbreak\r\nwindows\rmac";
    case 4:
      return "back\\slash \\N \\. \\\\";
    case 5:
      return "\\N";
    case 6:
      return "\\.";
    case 7:
      return "Zürich – 東京 🚀 " + std::to_string(i);
    case 8:
      return "'quotes' \"double\" ,commas, ;semi;";
    case 9:
      return std::string(300 + i % 97, 'x');
    default:
      return "plain " + std::to_string(i);
  }
}

std::optional<std::string> ValueB(int i) {
  if (i % 7 == 3) return std::nullopt;
  return "b" + std::to_string(i * 31) + (i % 5 == 0 ? "\t\n\\" : "");
}

std::optional<std::string_view> View(const std::optional<std::string>& s) {
  return s ? std::optional<std::string_view>(*s) : std::nullopt;
}

void MakeTable(pg::Connection& conn) {
  Exec(conn,
       "DROP TABLE IF EXISTS copied; CREATE TABLE copied (id int PRIMARY KEY, a text, b text)");
}

std::string Count(pg::Connection& conn) { return One(conn, "SELECT count(*) FROM copied"); }

// Every row as stored equals what was written.
void CheckRows(pg::Connection& conn, int n) {
  auto rows = conn.Query("SELECT id, a, b FROM copied ORDER BY id");
  REQUIRE(rows);
  REQUIRE(rows->row_count() == n);
  int mismatches = 0;
  for (int i = 0; i < n; ++i) {
    const auto a = ValueA(i);
    const auto b = ValueB(i);
    const bool same = rows->Text(i, 0) == std::to_string(i) && rows->Value(i, 1) == View(a) &&
                      rows->Value(i, 2) == View(b);
    if (!same && ++mismatches <= 5) {
      UNSCOPED_INFO("row " << i << ": a=" << rows->Text(i, 1) << " b=" << rows->Text(i, 2));
    }
  }
  CHECK(mismatches == 0);
}

}  // namespace

TEST_CASE("pg: COPY of 200,000 awkward rows, streamed, compared row by row", "[.pg]") {
  constexpr int kRows = 200000;
  pg::Connection conn = Connect();
  MakeTable(conn);
  auto copy = conn.CopyIn("COPY copied (id, a, b) FROM STDIN");
  if (!copy) FAIL(copy.error().message);
  CHECK(copy->active());
  std::string line;
  std::size_t most_buffered = 0;
  std::uint64_t bytes = 0;
  for (int i = 0; i < kRows; ++i) {
    line.clear();
    const std::string id = std::to_string(i);
    const auto a = ValueA(i);
    const auto b = ValueB(i);
    pg::AppendCopyRow(line, {id, View(a), View(b)});
    bytes += line.size();
    auto ok = copy->Write(line);
    if (!ok) FAIL(ok.error().message);
    most_buffered = std::max(most_buffered, copy->buffered());
  }
  CHECK(bytes > 10 * pg::CopyIn::kChunkBytes);
  CHECK(most_buffered < pg::CopyIn::kChunkBytes);
  auto rows = copy->Finish();
  if (!rows) FAIL(rows.error().message);
  CHECK(*rows == kRows);
  CHECK_FALSE(copy->active());
  CheckRows(conn, kRows);
}

TEST_CASE("pg: COPY data split anywhere, in one big write or byte by byte", "[.pg]") {
  constexpr int kRows = 20000;
  std::string data;
  for (int i = 0; i < kRows; ++i) {
    const auto a = ValueA(i);
    const auto b = ValueB(i);
    pg::AppendCopyRow(data, {std::to_string(i), View(a), View(b)});
  }
  pg::Connection conn = Connect();
  SECTION("one write of several chunks") {
    MakeTable(conn);
    auto copy = conn.CopyIn("COPY copied FROM STDIN");
    REQUIRE(copy);
    REQUIRE(copy->Write(data));
    CHECK(copy->buffered() < pg::CopyIn::kChunkBytes);
    auto rows = copy->Finish();
    REQUIRE(rows);
    CHECK(*rows == kRows);
    CheckRows(conn, kRows);
  }
  SECTION("random splits, some inside escapes and characters") {
    MakeTable(conn);
    auto copy = conn.CopyIn("COPY copied FROM STDIN");
    REQUIRE(copy);
    std::mt19937 random(7);
    std::string_view rest = data;
    while (!rest.empty()) {
      const std::size_t n =
          std::min<std::size_t>(rest.size(), random() % 3 == 0 ? 1 : random() % 100000);
      REQUIRE(copy->Write(rest.substr(0, n)));
      rest.remove_prefix(n);
    }
    auto rows = copy->Finish();
    REQUIRE(rows);
    CHECK(*rows == kRows);
    CheckRows(conn, kRows);
  }
}

TEST_CASE("pg: COPY in CSV format", "[.pg]") {
  pg::Connection conn = Connect();
  MakeTable(conn);
  auto copy = conn.CopyIn("COPY copied (id, a, b) FROM STDIN (FORMAT csv)");
  REQUIRE(copy);
  REQUIRE(copy->Write("1,\"with, comma\",\n2,\"multi\nline\",\"\"\n"));
  auto rows = copy->Finish();
  REQUIRE(rows);
  CHECK(*rows == 2);
  CHECK(One(conn, "SELECT a FROM copied WHERE id = 2") == "multi\nline");
  CHECK(One(conn, "SELECT b IS NULL FROM copied WHERE id = 1") == "t");
  CHECK(One(conn, "SELECT b = '' FROM copied WHERE id = 2") == "t");
}

TEST_CASE("pg: an aborted COPY leaves nothing and the connection goes on", "[.pg]") {
  pg::Connection conn = Connect();
  MakeTable(conn);
  std::string data;
  for (int i = 0; i < 50000; ++i) pg::AppendCopyRow(data, {std::to_string(i), "x", "y"});
  SECTION("Abort") {
    auto copy = conn.CopyIn("COPY copied FROM STDIN");
    REQUIRE(copy);
    REQUIRE(copy->Write(data));  // several chunks already on the server
    copy->Abort("changed my mind");
    CHECK_FALSE(copy->active());
    CHECK_FALSE(copy->Write("1\tx\ty\n"));
    CHECK_FALSE(copy->Finish());
    copy->Abort("again: harmless");
  }
  SECTION("destroyed without Finish") {
    auto copy = conn.CopyIn("COPY copied FROM STDIN");
    REQUIRE(copy);
    REQUIRE(copy->Write(data));
  }
  CHECK_FALSE(conn.IsBroken());
  CHECK(conn.last_sqlstate().empty());
  CHECK(Count(conn) == "0");
  pg::Connection other = Connect();
  CHECK(Count(other) == "0");
}

TEST_CASE("pg: a bad row fails Finish with the server's error; nothing is stored", "[.pg]") {
  pg::Connection conn = Connect();
  MakeTable(conn);
  auto copy = conn.CopyIn("COPY copied FROM STDIN");
  REQUIRE(copy);
  std::string data;
  for (int i = 0; i < 1000; ++i) pg::AppendCopyRow(data, {std::to_string(i), "x", "y"});
  pg::AppendCopyRow(data, {"not a number", "x", "y"});
  for (int i = 2000; i < 3000; ++i) pg::AppendCopyRow(data, {std::to_string(i), "x", "y"});
  REQUIRE(copy->Write(data));
  auto rows = copy->Finish();
  REQUIRE_FALSE(rows);
  INFO(rows.error().message);
  CHECK(pg::SqlState(rows.error()) == "22P02");
  CHECK(rows.error().message.find("not a number") != std::string::npos);
  CHECK_FALSE(rows.error().retryable);
  CHECK(conn.last_sqlstate() == "22P02");
  CHECK(Count(conn) == "0");
  SECTION("a duplicate key too") {
    auto dup = conn.CopyIn("COPY copied FROM STDIN");
    REQUIRE(dup);
    REQUIRE(dup->Write("1\tx\ty\n1\tx\ty\n"));
    auto failed = dup->Finish();
    REQUIRE_FALSE(failed);
    CHECK(pg::SqlState(failed.error()) == pg::kUniqueViolation);
  }
  CHECK(Count(conn) == "0");
}

TEST_CASE("pg: while a COPY is open the connection takes no other call", "[.pg]") {
  pg::Connection conn = Connect();
  MakeTable(conn);
  auto copy = conn.CopyIn("COPY copied FROM STDIN");
  REQUIRE(copy);
  auto busy = conn.Query("SELECT 1");
  REQUIRE_FALSE(busy);
  CHECK(busy.error().kind == core::ErrorKind::kInternal);
  CHECK_FALSE(conn.CopyIn("COPY copied FROM STDIN"));
  REQUIRE(copy->Write("1\tx\ty\n"));
  auto rows = copy->Finish();
  REQUIRE(rows);
  CHECK(*rows == 1);
  CHECK(Count(conn) == "1");
}

TEST_CASE("pg: CopyIn refuses what is not a COPY FROM STDIN", "[.pg]") {
  pg::Connection conn = Connect();
  MakeTable(conn);
  SECTION("a SELECT") {
    auto copy = conn.CopyIn("SELECT 1");
    REQUIRE_FALSE(copy);
    CHECK(copy.error().kind == core::ErrorKind::kInvalidArgument);
  }
  SECTION("a COPY TO") {
    auto copy = conn.CopyIn("COPY copied TO STDOUT");
    REQUIRE_FALSE(copy);
    CHECK(copy.error().kind == core::ErrorKind::kInvalidArgument);
  }
  SECTION("a table that does not exist") {
    auto copy = conn.CopyIn("COPY nowhere FROM STDIN");
    REQUIRE_FALSE(copy);
    CHECK(pg::SqlState(copy.error()) == pg::kUndefinedTable);
  }
  SECTION("two statements") {
    auto copy = conn.CopyIn("SELECT 1; COPY copied FROM STDIN");
    REQUIRE_FALSE(copy);
    CHECK(pg::SqlState(copy.error()) == "42601");  // one statement only
  }
  CHECK(One(conn, "SELECT 1") == "1");
  CHECK_FALSE(conn.IsBroken());
}

TEST_CASE("pg: a COPY cancelled half-way leaves nothing", "[.pg]") {
  pg::Connection conn = Connect();
  MakeTable(conn);
  bool cancelled = false;
  conn.SetCancelled([&] { return cancelled; });
  auto copy = conn.CopyIn("COPY copied FROM STDIN");
  REQUIRE(copy);
  std::string line;
  core::Result<void> written;
  int i = 0;
  for (; i < 1000000 && written; ++i) {
    if (i == 30000) cancelled = true;
    line.clear();
    pg::AppendCopyRow(line, {std::to_string(i), "x", "y"});
    written = copy->Write(line);
  }
  REQUIRE_FALSE(written);
  CHECK(written.error().kind == core::ErrorKind::kCancelled);
  CHECK(i < 30000 + 10000);  // stopped within about a chunk
  CHECK_FALSE(copy->active());
  cancelled = false;
  CHECK_FALSE(conn.IsBroken());
  CHECK(Count(conn) == "0");
}

TEST_CASE("pg: a COPY in a transaction rolled back leaves nothing", "[.pg]") {
  pg::Connection conn = Connect();
  MakeTable(conn);
  {
    auto tx = pg::Transaction::Begin(conn);
    REQUIRE(tx);
    auto copy = conn.CopyIn("COPY copied FROM STDIN");
    REQUIRE(copy);
    REQUIRE(copy->Write("1\tx\ty\n2\tx\ty\n"));
    auto rows = copy->Finish();
    REQUIRE(rows);
    CHECK(*rows == 2);
    CHECK(Count(conn) == "2");
  }
  CHECK(Count(conn) == "0");
}
