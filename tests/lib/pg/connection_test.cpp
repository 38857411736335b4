// pg::Connection against a real PostgreSQL 15 ([pg], hidden: run through
// tests/support/pg_server.py, see pg_test_server.h) and, for what needs no
// server, against closed and silent ports ([pg_offline]).
#include "pg/connection.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "pg/error.h"
#include "pg/quote.h"
#include "tests/lib/pg/pg_test_server.h"

namespace {

using Clock = std::chrono::steady_clock;
using pg_test::Connect;
using pg_test::Exec;
using pg_test::One;

// A loopback TCP socket that listens and never answers: the kernel
// completes the handshake, the server never speaks.
struct SilentPort {
  int fd = -1;
  int port = 0;
  explicit SilentPort(bool listen_too) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    socklen_t length = sizeof address;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    port = ntohs(address.sin_port);
    if (listen_too) REQUIRE(::listen(fd, 16) == 0);
  }
  ~SilentPort() { ::close(fd); }
};

std::string LocalUrl(int port) {
  return "postgres://postgres:n0tTheRealOne@127.0.0.1:" + std::to_string(port) + "/postgres";
}

// After the test, the server is up again whatever happened in between.
struct BringServerUp {
  ~BringServerUp() {
    const char* script = std::getenv("JOBSD_TEST_PG_SERVER");
    const char* state = std::getenv("JOBSD_TEST_PG_STATE");
    if (script && state) {
      const std::string command = std::string("/usr/bin/python3 '") + script +
                                  "' up --state-file '" + state + "' >/dev/null 2>&1";
      (void)std::system(command.c_str());
    }
  }
};

// True once `after` has passed since it was made.
std::function<bool()> CancelAfter(std::chrono::milliseconds after) {
  const auto at = Clock::now() + after;
  return [at] { return Clock::now() >= at; };
}

core::TimePoint In(std::chrono::milliseconds d) {
  return std::chrono::time_point_cast<core::Duration>(std::chrono::system_clock::now()) + d;
}

}  // namespace

// ---- no server needed -------------------------------------------------------

TEST_CASE("pg: a connection string libpq cannot read fails without quoting the password",
          "[pg_offline]") {
  // libpq's own messages quote the offending token: "s3cr%zzet" here,
  // "s3cretpart" below.
  const std::string_view strings[] = {
      "postgres://postgres:s3cr%zzet@127.0.0.1:1/postgres",
      "host=127.0.0.1 port=1 password=abc s3cretpart",
      "postgres://127.0.0.1:1/postgres?password=x%zzsecretq",
  };
  for (std::string_view s : strings) {
    INFO(s);
    auto conn = pg::Connection::Open(s);
    REQUIRE_FALSE(conn);
    const std::string& message = conn.error().message;
    INFO(message);
    CHECK(conn.error().kind == core::ErrorKind::kInvalidArgument);
    CHECK_FALSE(conn.error().retryable);
    CHECK(message.find("s3cr") == std::string::npos);
    CHECK(message.find("secret") == std::string::npos);
    CHECK(message.find("***") != std::string::npos);
  }
}

TEST_CASE("pg: a port nothing listens on is a retryable connection error", "[pg_offline]") {
  int port;
  {
    SilentPort closed(false);
    port = closed.port;
  }
  auto conn = pg::Connection::Open(LocalUrl(port));
  REQUIRE_FALSE(conn);
  INFO(conn.error().message);
  CHECK(conn.error().kind == core::ErrorKind::kIo);
  CHECK(conn.error().retryable);
  CHECK(conn.error().message.find("Connection refused") != std::string::npos);
  CHECK(conn.error().message.find("n0tTheRealOne") == std::string::npos);
  CHECK(conn.error().message.find("postgres:***@127.0.0.1") != std::string::npos);
}

TEST_CASE("pg: a server that never answers meets the connect timeout", "[pg_offline]") {
  SilentPort silent(true);
  pg::OpenOptions options;
  options.connect_timeout = std::chrono::milliseconds(300);
  const auto start = Clock::now();
  auto conn = pg::Connection::Open(LocalUrl(silent.port), options);
  const auto took = Clock::now() - start;
  REQUIRE_FALSE(conn);
  INFO(conn.error().message);
  CHECK(conn.error().kind == core::ErrorKind::kTimeout);
  CHECK(conn.error().retryable);
  CHECK(took >= std::chrono::milliseconds(280));
  CHECK(took < std::chrono::milliseconds(1500));
}

TEST_CASE("pg: opening honours cancelled and the deadline", "[pg_offline]") {
  SilentPort silent(true);
  SECTION("cancelled") {
    pg::OpenOptions options;
    options.cancelled = CancelAfter(std::chrono::milliseconds(200));
    const auto start = Clock::now();
    auto conn = pg::Connection::Open(LocalUrl(silent.port), options);
    REQUIRE_FALSE(conn);
    CHECK(conn.error().kind == core::ErrorKind::kCancelled);
    CHECK_FALSE(conn.error().retryable);
    CHECK(Clock::now() - start < std::chrono::milliseconds(1000));
  }
  SECTION("deadline") {
    pg::OpenOptions options;
    options.deadline = In(std::chrono::milliseconds(200));
    const auto start = Clock::now();
    auto conn = pg::Connection::Open(LocalUrl(silent.port), options);
    REQUIRE_FALSE(conn);
    CHECK(conn.error().kind == core::ErrorKind::kTimeout);
    CHECK_FALSE(conn.error().retryable);  // the run's time is up
    CHECK(Clock::now() - start < std::chrono::milliseconds(1000));
  }
}

// ---- opening ----------------------------------------------------------------

TEST_CASE("pg: opens with a URL, as jobsd, UTF-8", "[.pg]") {
  pg::Connection conn = Connect();
  CHECK(One(conn, "SELECT 1") == "1");
  CHECK(conn.ServerVersion() >= 150000);
  CHECK(conn.ServerVersion() < 160000);
  CHECK_FALSE(conn.IsBroken());
  CHECK_FALSE(conn.InTransaction());
  CHECK(One(conn, "SELECT current_setting('application_name')") == "jobsd");
  CHECK(One(conn, "SHOW client_encoding") == "UTF8");
  const auto server = pg_test::ServerParts();
  CHECK(conn.target() == "postgresql://127.0.0.1:" + server.port + "/postgres");
}

TEST_CASE("pg: opens with a key=value conninfo", "[.pg]") {
  const auto server = pg_test::ServerParts();
  auto conn =
      pg::Connection::Open("host=127.0.0.1 port=" + server.port +
                           " user=postgres dbname=postgres password='" + server.password + "'");
  REQUIRE(conn);
  CHECK(One(*conn, "SELECT current_user") == "postgres");
}

TEST_CASE("pg: the user's application_name and sslmode are used as written", "[.pg]") {
  const std::string url = pg_test::ServerUrl();
  {
    auto conn = pg::Connection::Open(url + "?application_name=orders_sync&sslmode=disable");
    REQUIRE(conn);
    CHECK(One(*conn, "SELECT current_setting('application_name')") == "orders_sync");
  }
  {
    // The test server has no TLS: sslmode=require must fail, not be
    // downgraded, and retrying cannot help.
    auto conn = pg::Connection::Open(url + "?sslmode=require");
    REQUIRE_FALSE(conn);
    INFO(conn.error().message);
    CHECK(conn.error().message.find("SSL") != std::string::npos);
    CHECK_FALSE(conn.error().retryable);
  }
}

TEST_CASE("pg: passwords with quotes, spaces and escapes work in both forms", "[.pg]") {
  pg::Connection admin = Connect();
  const std::string password = R"(p@ss w'rd\x/?&=)";
  Exec(admin, "DROP ROLE IF EXISTS odd_user");
  Exec(admin, "CREATE ROLE odd_user LOGIN PASSWORD " + pg::QuoteLiteral(password));
  const auto server = pg_test::ServerParts();
  {
    auto conn =
        pg::Connection::Open(R"(host=127.0.0.1 port=)" + server.port +
                             R"( dbname=postgres user=odd_user password='p@ss w\'rd\\x/?&=')");
    if (!conn) FAIL(conn.error().message);
    CHECK(One(*conn, "SELECT current_user") == "odd_user");
  }
  {
    auto conn = pg::Connection::Open(
        "postgres://odd_user:p%40ss%20w%27rd%5Cx%2F%3F%26%3D@127.0.0.1:" + server.port +
        "/postgres");
    if (!conn) FAIL(conn.error().message);
    CHECK(One(*conn, "SELECT current_user") == "odd_user");
  }
}

TEST_CASE("pg: a wrong password is a clear error without the password, not retryable", "[.pg]") {
  const auto server = pg_test::ServerParts();
  const std::string wrong = "Wr0ngPassw0rdXYZ";
  const std::string strings[] = {
      "postgres://postgres:" + wrong + "@127.0.0.1:" + server.port + "/postgres",
      "host=127.0.0.1 port=" + server.port + " user=postgres dbname=postgres password=" + wrong,
  };
  for (const std::string& s : strings) {
    INFO(s);
    auto conn = pg::Connection::Open(s);
    REQUIRE_FALSE(conn);
    const core::Error& error = conn.error();
    INFO(error.message);
    CHECK(error.message.find("password authentication failed for user \"postgres\"") !=
          std::string::npos);
    CHECK(error.message.find(wrong) == std::string::npos);
    CHECK(error.message.find(server.password) == std::string::npos);
    CHECK_FALSE(error.retryable);
    CHECK(error.kind == core::ErrorKind::kUpstream);
  }
}

TEST_CASE("pg: no password, or a database that does not exist: not retryable", "[.pg]") {
  const auto server = pg_test::ServerParts();
  SECTION("no password") {
    ::unsetenv("PGPASSWORD");
    auto conn = pg::Connection::Open("host=127.0.0.1 port=" + server.port +
                                     " user=postgres dbname=postgres passfile=/nonexistent");
    REQUIRE_FALSE(conn);
    INFO(conn.error().message);
    CHECK_FALSE(conn.error().retryable);
  }
  SECTION("no such database") {
    auto conn = pg::Connection::Open("postgres://postgres:" + server.password +
                                     "@127.0.0.1:" + server.port + "/no_such_db");
    REQUIRE_FALSE(conn);
    INFO(conn.error().message);
    CHECK(conn.error().message.find("does not exist") != std::string::npos);
    CHECK_FALSE(conn.error().retryable);
  }
}

// ---- statements ---------------------------------------------------------------

TEST_CASE("pg: parameters carry NULLs, unicode and quotes as values", "[.pg]") {
  pg::Connection conn = Connect();
  const std::string tricky = R"('; DROP TABLE x; -- \ " $1)";
  auto rows = conn.Query("SELECT $1::text AS a, $2::text AS b, $3::int AS c, $4 AS d",
                         {"Zürich – 東京 🚀", std::nullopt, "42", tricky});
  REQUIRE(rows);
  REQUIRE(rows->row_count() == 1);
  REQUIRE(rows->column_count() == 4);
  CHECK(rows->column_name(0) == "a");
  CHECK(rows->column_name(3) == "d");
  CHECK(rows->column_type(0) == 25);  // text
  CHECK(rows->column_type(2) == 23);  // int4
  CHECK(rows->ColumnIndex("c") == 2);
  CHECK_FALSE(rows->ColumnIndex("C"));
  CHECK(rows->Value(0, 0) == std::optional<std::string_view>("Zürich – 東京 🚀"));
  CHECK_FALSE(rows->IsNull(0, 0));
  CHECK(rows->IsNull(0, 1));
  CHECK_FALSE(rows->Value(0, 1));
  CHECK(rows->Text(0, 1).empty());
  CHECK(rows->Text(0, 2) == "42");
  CHECK(rows->Text(0, 3) == tricky);
  CHECK(rows->CommandStatus() == "SELECT 1");
  CHECK(conn.last_sqlstate().empty());
}

TEST_CASE("pg: rows and counts of several statements", "[.pg]") {
  pg::Connection conn = Connect();
  Exec(conn,
       "DROP TABLE IF EXISTS counted; CREATE TABLE counted (k int PRIMARY KEY, v text);"
       "INSERT INTO counted VALUES (1, 'a')");
  auto inserted = conn.Query("INSERT INTO counted SELECT g, NULL FROM generate_series(2, 4) g");
  REQUIRE(inserted);
  CHECK(inserted->CommandTuples() == 3);
  CHECK(inserted->column_count() == 0);
  auto updated = conn.Query("UPDATE counted SET v = $1 WHERE k >= $2", {"x", "3"});
  REQUIRE(updated);
  CHECK(updated->CommandTuples() == 2);
  CHECK(updated->CommandStatus() == "UPDATE 2");
  auto rows = conn.Query("SELECT k, v FROM counted ORDER BY k");
  REQUIRE(rows);
  REQUIRE(rows->row_count() == 4);
  CHECK(rows->CommandTuples() == 4);
  CHECK(rows->Text(0, 1) == "a");
  CHECK(rows->IsNull(1, 1));
  CHECK(rows->Text(3, 0) == "4");
  CHECK(rows->Text(3, 1) == "x");
  // Rows outlive their connection.
  pg::Connection other = Connect();
  auto kept = other.Query("SELECT 'kept'");
  REQUIRE(kept);
  { pg::Connection gone = std::move(other); }
  CHECK(kept->Text(0, 0) == "kept");
}

TEST_CASE("pg: SQL errors carry the server's message and SQLSTATE", "[.pg]") {
  pg::Connection conn = Connect();
  SECTION("syntax error: 42601") {
    auto ok = conn.Exec("SELEC 1");
    REQUIRE_FALSE(ok);
    INFO(ok.error().message);
    CHECK(ok.error().message.find("syntax error at or near \"SELEC\"") != std::string::npos);
    CHECK(ok.error().message.find("running `SELEC 1`") != std::string::npos);
    CHECK(ok.error().message.ends_with(" (SQLSTATE 42601)"));
    CHECK(pg::SqlState(ok.error()) == pg::kSyntaxError);
    CHECK(conn.last_sqlstate() == "42601");
    CHECK(ok.error().kind == core::ErrorKind::kUpstream);
    CHECK_FALSE(ok.error().retryable);
  }
  SECTION("undefined table: 42P01, through Query too") {
    auto rows = conn.Query("SELECT * FROM no_such_table WHERE k = $1", {"1"});
    REQUIRE_FALSE(rows);
    INFO(rows.error().message);
    CHECK(rows.error().message.find("relation \"no_such_table\" does not exist") !=
          std::string::npos);
    CHECK(pg::SqlState(rows.error()) == pg::kUndefinedTable);
    CHECK_FALSE(rows.error().retryable);
  }
  SECTION("a hint comes along") {
    auto rows = conn.Query("SELECT no_such_function(1)");
    REQUIRE_FALSE(rows);
    INFO(rows.error().message);
    CHECK(rows.error().message.find("; hint: No function matches") != std::string::npos);
    CHECK(pg::SqlState(rows.error()) == "42883");
  }
  // The connection goes on, and the SQLSTATE clears with the next success.
  CHECK(One(conn, "SELECT 2") == "2");
  CHECK(conn.last_sqlstate().empty());
  CHECK_FALSE(conn.IsBroken());
}

TEST_CASE("pg: a unique violation is 23505 with the server's detail", "[.pg]") {
  pg::Connection conn = Connect();
  Exec(conn, "DROP TABLE IF EXISTS uniq; CREATE TABLE uniq (k int PRIMARY KEY)");
  REQUIRE(conn.Query("INSERT INTO uniq VALUES ($1)", {"7"}));
  auto again = conn.Query("INSERT INTO uniq VALUES ($1)", {"7"});
  REQUIRE_FALSE(again);
  INFO(again.error().message);
  CHECK(pg::SqlState(again.error()) == pg::kUniqueViolation);
  CHECK(again.error().message.find("duplicate key value violates unique constraint") !=
        std::string::npos);
  CHECK(again.error().message.find("; detail: Key (k)=(7) already exists.") != std::string::npos);
  CHECK_FALSE(again.error().retryable);
}

TEST_CASE("pg: Exec runs several statements as one and stops at the first error", "[.pg]") {
  pg::Connection conn = Connect();
  Exec(conn, "DROP TABLE IF EXISTS multi");
  auto ok = conn.Exec(
      "CREATE TABLE multi (k int); INSERT INTO multi VALUES (1); SELECT 1/0; "
      "INSERT INTO multi VALUES (2)");
  REQUIRE_FALSE(ok);
  CHECK(pg::SqlState(ok.error()) == "22012");
  CHECK_FALSE(ok.error().retryable);
  // The implicit transaction rolled back the CREATE too.
  CHECK(One(conn, "SELECT to_regclass('multi') IS NULL") == "t");
  Exec(conn,
       "CREATE TABLE multi (k int); INSERT INTO multi VALUES (1); INSERT INTO multi VALUES (2)");
  CHECK(One(conn, "SELECT count(*) FROM multi") == "2");
}

TEST_CASE("pg: NUL bytes and COPY are refused, the connection stays usable", "[.pg]") {
  pg::Connection conn = Connect();
  auto nul_param = conn.Query("SELECT $1", {std::string("a\0b", 3)});
  REQUIRE_FALSE(nul_param);
  CHECK(nul_param.error().kind == core::ErrorKind::kInvalidArgument);
  CHECK(nul_param.error().message.find("$1") != std::string::npos);
  auto nul_sql = conn.Exec(std::string_view("SELECT 1\0; DROP TABLE x", 24));
  REQUIRE_FALSE(nul_sql);
  CHECK(nul_sql.error().kind == core::ErrorKind::kInvalidArgument);
  Exec(conn, "DROP TABLE IF EXISTS copied; CREATE TABLE copied (k int)");
  auto copy_in = conn.Exec("COPY copied FROM STDIN");
  REQUIRE_FALSE(copy_in);
  CHECK(copy_in.error().kind == core::ErrorKind::kInvalidArgument);
  CHECK(One(conn, "SELECT 3") == "3");
  Exec(conn, "INSERT INTO copied VALUES (1), (2)");
  auto copy_out = conn.Query("COPY copied TO STDOUT");
  REQUIRE_FALSE(copy_out);
  CHECK(copy_out.error().kind == core::ErrorKind::kInvalidArgument);
  CHECK(One(conn, "SELECT 4") == "4");
  CHECK_FALSE(conn.IsBroken());
}

// ---- cancellation and deadlines ----------------------------------------------

TEST_CASE("pg: cancelled() stops a long statement on the server", "[.pg]") {
  pg::Connection conn = Connect();
  const std::string pid = One(conn, "SELECT pg_backend_pid()");
  SECTION("Query") {
    conn.SetCancelled(CancelAfter(std::chrono::milliseconds(200)));
    const auto start = Clock::now();
    auto rows = conn.Query("SELECT pg_sleep(30)");
    const auto took = Clock::now() - start;
    REQUIRE_FALSE(rows);
    INFO(rows.error().message);
    CHECK(rows.error().kind == core::ErrorKind::kCancelled);
    CHECK_FALSE(rows.error().retryable);
    CHECK(rows.error().message.find("cancelled") != std::string::npos);
    CHECK(took >= std::chrono::milliseconds(190));
    CHECK(took < std::chrono::milliseconds(1000));
  }
  SECTION("Exec") {
    conn.SetCancelled(CancelAfter(std::chrono::milliseconds(200)));
    const auto start = Clock::now();
    auto ok = conn.Exec("SELECT 1; SELECT pg_sleep(30); SELECT 2");
    REQUIRE_FALSE(ok);
    CHECK(ok.error().kind == core::ErrorKind::kCancelled);
    CHECK(Clock::now() - start < std::chrono::milliseconds(1000));
  }
  SECTION("already cancelled: nothing is sent") {
    conn.SetCancelled([] { return true; });
    auto rows = conn.Query("SELECT pg_sleep(30)");
    REQUIRE_FALSE(rows);
    CHECK(rows.error().kind == core::ErrorKind::kCancelled);
  }
  conn.SetCancelled(nullptr);
  CHECK_FALSE(conn.IsBroken());
  CHECK(One(conn, "SELECT 'still here'") == "still here");
  // The same session: not a reconnection behind the caller's back.
  CHECK(One(conn, "SELECT pg_backend_pid()") == pid);
  // And the server is not still sleeping on it.
  pg::Connection other = Connect();
  CHECK(One(other,
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' "
            "AND state = 'active' AND pid <> pg_backend_pid()") == "0");
}

TEST_CASE("pg: the deadline stops a long statement: kTimeout", "[.pg]") {
  pg::Connection conn = Connect();
  SECTION("passing while it runs") {
    conn.SetDeadline(In(std::chrono::milliseconds(300)));
    const auto start = Clock::now();
    auto rows = conn.Query("SELECT pg_sleep(30)");
    const auto took = Clock::now() - start;
    REQUIRE_FALSE(rows);
    INFO(rows.error().message);
    CHECK(rows.error().kind == core::ErrorKind::kTimeout);
    CHECK_FALSE(rows.error().retryable);
    CHECK(took >= std::chrono::milliseconds(290));
    CHECK(took < std::chrono::milliseconds(1100));
  }
  SECTION("passed before") {
    conn.SetDeadline(In(std::chrono::milliseconds(-1)));
    auto ok = conn.Exec("SELECT 1");
    REQUIRE_FALSE(ok);
    CHECK(ok.error().kind == core::ErrorKind::kTimeout);
  }
  SECTION("set at Open") {
    pg::OpenOptions options;
    options.deadline = In(std::chrono::milliseconds(1500));
    pg::Connection timed = Connect(options);
    auto rows = timed.Query("SELECT pg_sleep(30)");
    REQUIRE_FALSE(rows);
    CHECK(rows.error().kind == core::ErrorKind::kTimeout);
  }
  conn.SetDeadline(core::TimePoint::max());
  CHECK(One(conn, "SELECT 5") == "5");
}

TEST_CASE("pg: a statement that ends before the cancel reaches it keeps its result", "[.pg]") {
  pg::Connection conn = Connect();
  // Turns true while the (instant) statement is in flight; the server has
  // answered by then or answers regardless.
  int asked = 0;
  conn.SetCancelled([&] { return ++asked > 1; });
  auto rows = conn.Query("SELECT 6");
  if (rows) {
    CHECK(rows->Text(0, 0) == "6");
  } else {
    CHECK(rows.error().kind == core::ErrorKind::kCancelled);
  }
  conn.SetCancelled(nullptr);
  CHECK(One(conn, "SELECT 7") == "7");
}

// ---- losing the server --------------------------------------------------------

TEST_CASE("pg: a server restart under an open connection: retryable, broken", "[.pg]") {
  BringServerUp guard;
  pg::Connection conn = Connect();
  CHECK(One(conn, "SELECT 1") == "1");
  pg_test::ControlServer("restart");
  auto rows = conn.Query("SELECT 1");
  REQUIRE_FALSE(rows);
  INFO(rows.error().message);
  CHECK(rows.error().retryable);
  CHECK(rows.error().kind == core::ErrorKind::kIo);
  CHECK(conn.IsBroken());
  // Later calls fail at once, still retryable.
  auto again = conn.Exec("SELECT 1");
  REQUIRE_FALSE(again);
  CHECK(again.error().retryable);
  CHECK(again.error().message.find("broken") != std::string::npos);
  // A new connection works.
  pg::Connection fresh = Connect();
  CHECK(One(fresh, "SELECT 1") == "1");
}

TEST_CASE("pg: a server killed mid-statement: retryable, broken, no SQLSTATE", "[.pg]") {
  BringServerUp guard;
  pg::Connection conn = Connect();
  int killed = -1;
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const std::string command = "/usr/bin/python3 '" + pg_test::Env("JOBSD_TEST_PG_SERVER") +
                                "' kill9 --state-file '" + pg_test::Env("JOBSD_TEST_PG_STATE") +
                                "'";
    killed = std::system(command.c_str());
  });
  const auto start = Clock::now();
  auto rows = conn.Query("SELECT pg_sleep(20)");
  killer.join();
  REQUIRE(killed == 0);
  REQUIRE_FALSE(rows);
  INFO(rows.error().message);
  CHECK(Clock::now() - start < std::chrono::seconds(10));
  CHECK(rows.error().retryable);
  CHECK(rows.error().kind == core::ErrorKind::kIo);
  CHECK(pg::SqlState(rows.error()).empty());
  CHECK(conn.IsBroken());
  pg_test::ControlServer("up");
  pg::Connection fresh = Connect();
  CHECK(One(fresh, "SELECT 1") == "1");
}

TEST_CASE("pg: a session terminated by the server: retryable, broken", "[.pg]") {
  pg::Connection conn = Connect();
  pg::Connection admin = Connect();
  const std::string pid = One(conn, "SELECT pg_backend_pid()");
  CHECK(One(admin, "SELECT pg_terminate_backend($1)", {pid}) == "t");
  auto rows = conn.Query("SELECT 1");
  REQUIRE_FALSE(rows);
  INFO(rows.error().message);
  CHECK(rows.error().retryable);
  CHECK(conn.IsBroken());
}

TEST_CASE("pg: a server that is down: opening fails retryable, then works again", "[.pg]") {
  BringServerUp guard;
  pg_test::ControlServer("down");
  auto conn = pg::Connection::Open(pg_test::ServerUrl());
  REQUIRE_FALSE(conn);
  INFO(conn.error().message);
  CHECK(conn.error().retryable);
  CHECK(conn.error().message.find(pg_test::ServerParts().password) == std::string::npos);
  pg_test::ControlServer("up");
  pg::Connection up = Connect();
  CHECK(One(up, "SELECT 1") == "1");
}

TEST_CASE("pg: notices go to on_notice, also after the connection moved", "[.pg]") {
  std::vector<std::string> notices;
  pg::OpenOptions options;
  options.on_notice = [&](std::string_view notice) { notices.emplace_back(notice); };
  pg::Connection first = Connect(options);
  pg::Connection conn = std::move(first);
  Exec(conn, "DROP TABLE IF EXISTS never_there");
  Exec(conn, "DO $$ BEGIN RAISE WARNING 'careful: %', 42; END $$");
  REQUIRE(notices.size() == 2);
  CHECK(notices[0] == "NOTICE: table \"never_there\" does not exist, skipping");
  CHECK(notices[1] == "WARNING: careful: 42");
}
