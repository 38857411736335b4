// The sql_import job against real SQLite files (and, tagged [.pg], a real
// PostgreSQL from tests/support/pg_server.py): what lands, what is
// rejected and why, and what a failed run leaves.
#include "jobs/sql_import/sql_import_job.h"

#include <catch2/catch.hpp>

#include <fstream>
#include <random>
#include <sstream>

#include "config/config_loader.h"
#include "crypto/password_hash.h"
#include "jobs/sql_import/sql_import_config.h"
#include "sqlite/database.h"
#include "tests/lib/pg/pg_test_server.h"
#include "tests/support/job_run.h"

namespace jobs::sql_import {
namespace {

namespace fs = std::filesystem;

struct Folder {
  fs::path path;
  Folder() {
    std::random_device seed;
    path = fs::temp_directory_path() / ("jobsd-sql-import-" + std::to_string(seed()));
    fs::create_directories(path);
  }
  ~Folder() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path Write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name, std::ios::binary) << text;
    return path / name;
  }
};

std::string ReadAll(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

config::JobConfig Job(const std::string& with) {
  config::LoadOptions options;
  options.job_types = {SqlImportJobSpec()};
  options.folder = "/";
  options.env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  auto result = config::LoadConfigText(
      "jobs:\n  - name: sales-sync\n    type: sql_import\n    timezone: Europe/Berlin\n    "
      "with:\n" +
          with,
      "cfg.yaml", options);
  INFO(result.ErrorText());
  REQUIRE(result.ok());
  return result.config->jobs.at(0);
}

support::JobRun Run(const config::JobConfig& job, std::int64_t run_id = 1) {
  static http::Client http;
  scheduler::CancelToken cancel;
  return support::RunJob(Type(), job, cancel, http, {}, run_id);
}

const char* kSalesColumns =
    "      key: [sale_date, user_id, product_name]\n"
    "      columns:\n"
    "        sale_date:    {type: date, from: date, required: true}\n"
    "        user_id:      {type: integer, required: true}\n"
    "        product_name: {type: text, required: true, max_length: 20}\n"
    "        quantity:     {type: integer, min: 1}\n"
    "        unit_price:   {type: decimal, min: 0}\n"
    "        total_amount: {type: decimal, min: 0}\n"
    "        region:       {type: text, in: [North America, Europe, Asia]}\n"
    "      checks: ['abs(total_amount - quantity * unit_price) < 0.01']\n";

const char* kSalesHeader = "date,user_id,product_name,quantity,unit_price,total_amount,region\n";

std::string SqliteWith(const Folder& folder, const std::string& extra = "") {
  return "      source: {csv: '" + (folder.path / "in" / "*.csv").string() + "'}\n" +
         "      target: {sqlite: '" + (folder.path / "dashboard.db").string() + "'}\n" +
         "      table: sales\n      create: true\n" + kSalesColumns + extra;
}

std::vector<std::string> Rows(const fs::path& db_file, const std::string& sql) {
  auto db = sqlite::Database::Open(db_file, sqlite::Database::Mode::kReadOnly);
  REQUIRE(db);
  auto statement = db->Prepare(sql);
  REQUIRE(statement);
  std::vector<std::string> out;
  for (;;) {
    auto row = statement->Step();
    REQUIRE(row);
    if (!*row) break;
    out.push_back(statement->IsNull(0) ? "NULL" : statement->Text(0));
  }
  return out;
}

}  // namespace

TEST_CASE("sql_import: CSV into SQLite, bad records rejected with every reason", "[sql_import]") {
  Folder folder;
  fs::create_directories(folder.path / "in");
  folder.Write("in/2026-01.csv",
               std::string("\xEF\xBB\xBF") + kSalesHeader +
                   "2026-01-02,7,Widget,2,9.99,19.98,Europe\n"
                   "2026-01-02,8,\"Gadget, large\",1,100.00,100.00,Asia\n"
                   "2026-01-03,9,Thing,0,5.00,0,Mars\n"       // min and in
                   "2026-01-03,,Thing,1,5.00,5.00,Asia\n"     // required
                   "2026-01-04,10,Bolt,3,2.00,7.00,Europe\n"  // the check
                   "2026-01-05,11,\"Nut\nwith newline\",1,1,1,Asia\n"
                   "2026-01-06,12,Washer,1,1\n");  // too few fields
  const config::JobConfig job = Job(SqliteWith(folder, "      min_rows: 1\n"));
  auto run = Run(job);
  INFO(run.output);
  REQUIRE(run);
  CHECK(run.Metric("read") == 7);
  CHECK(run.Metric("inserted") == 3);
  CHECK(run.Metric("invalid") == 4);
  CHECK(run.Metric("invalid_min") == 1);
  CHECK(run.Metric("invalid_in") == 1);
  CHECK(run.Metric("invalid_required") == 1);
  CHECK(run.Metric("invalid_check") == 1);
  CHECK(run.Metric("invalid_columns") == 1);
  CHECK(run.Metric("files") == 1);
  const fs::path db = folder.path / "dashboard.db";
  CHECK(Rows(db, "SELECT product_name || '|' || total_amount FROM sales ORDER BY user_id") ==
        std::vector<std::string>{"Widget|19.98", "Gadget, large|100", "Nut\nwith newline|1"});
  const auto rejects = Rows(db, "SELECT source || ' ' || reasons FROM sales_rejects ORDER BY id");
  REQUIRE(rejects.size() == 4);
  CHECK_THAT(rejects[0], Catch::Contains("2026-01.csv line 4") &&
                             Catch::Contains("below the minimum 1") &&
                             Catch::Contains("'Mars' is not one of"));
  CHECK_THAT(rejects[1], Catch::Contains("line 5") && Catch::Contains("user_id: missing"));
  CHECK_THAT(rejects[2],
             Catch::Contains("line 9") && Catch::Contains("5 fields, the header has 7"));
  CHECK_THAT(rejects[3], Catch::Contains("line 6") && Catch::Contains("check failed: abs("));
  // The whole record is kept.
  CHECK(Rows(db, "SELECT record FROM sales_rejects WHERE source LIKE '% line 4'")[0] ==
        "{\"date\":\"2026-01-03\",\"user_id\":\"9\",\"product_name\":\"Thing\",\"quantity\":\"0\","
        "\"unit_price\":\"5.00\",\"total_amount\":\"0\",\"region\":\"Mars\"}");

  SECTION("a file imported once is skipped; a new one upserts on the key") {
    // min_rows: 1 makes a run without new data fail ("no sales data").
    auto again = Run(job, 2);
    REQUIRE_FALSE(again);
    CHECK_THAT(
        again.error().message,
        Catch::Contains("0 valid rows, fewer than min_rows 1: nothing imported (no new files)"));
    CHECK(again.Metric("files_skipped") == 1);
    CHECK(again.Metric("read") == 0);
    CHECK(Rows(db, "SELECT count(*) FROM sales")[0] == "3");
  }
}

TEST_CASE("sql_import: the upsert counts inserted, updated and unchanged; the last key wins",
          "[sql_import]") {
  Folder folder;
  fs::create_directories(folder.path / "in");
  folder.Write("in/a.csv", std::string(kSalesHeader) +
                               "2026-01-02,7,Widget,2,9.99,19.98,Europe\n"
                               "2026-01-02,8,Gadget,1,100,100,Asia\n");
  const config::JobConfig job = Job(SqliteWith(folder));
  REQUIRE(Run(job));
  folder.Write("in/b.csv", std::string(kSalesHeader) +
                               "2026-01-02,7,Widget,2,9.99,19.98,Europe\n"  // unchanged
                               "2026-01-02,8,Gadget,2,100,200,Asia\n"       // updated
                               "2026-01-02,9,Bolt,1,1,1,Asia\n"             // inserted
                               "2026-01-02,9,Bolt,5,1,5,Asia\n");  // the same key: last wins
  auto run = Run(job, 2);
  INFO(run.output);
  REQUIRE(run);
  CHECK(run.Metric("files_skipped") == 1);
  CHECK(run.Metric("inserted") == 1);
  CHECK(run.Metric("updated") == 1);
  CHECK(run.Metric("unchanged") == 1);
  CHECK(run.Metric("duplicate_keys") == 1);
  CHECK(Rows(folder.path / "dashboard.db", "SELECT quantity FROM sales ORDER BY user_id") ==
        std::vector<std::string>{"2", "2", "5"});

  SECTION("upsert: ignore keeps existing rows") {
    folder.Write("in/c.csv", std::string(kSalesHeader) + "2026-01-02,8,Gadget,9,100,900,Asia\n");
    auto ignored = Run(Job(SqliteWith(folder, "      upsert: ignore\n")), 3);
    REQUIRE(ignored);
    CHECK(ignored.Metric("updated") == 0);
    CHECK(ignored.Metric("unchanged") == 1);
    CHECK(Rows(folder.path / "dashboard.db", "SELECT quantity FROM sales WHERE user_id = 8")[0] ==
          "2");
  }
}

TEST_CASE("sql_import: on_invalid fail, min_rows and dry_run write no rows", "[sql_import]") {
  Folder folder;
  fs::create_directories(folder.path / "in");
  folder.Write("in/a.csv", std::string(kSalesHeader) +
                               "2026-01-02,7,Widget,2,9.99,19.98,Europe\n"
                               "2026-01-02,8,Gadget,-1,100,100,Asia\n");
  const fs::path db = folder.path / "dashboard.db";

  auto failed = Run(Job(SqliteWith(folder, "      on_invalid: fail\n")));
  REQUIRE_FALSE(failed);
  CHECK_THAT(failed.error().message,
             Catch::Contains("1 of 2 records are invalid") && Catch::Contains("a.csv line 3"));
  CHECK_FALSE(failed.error().retryable);
  CHECK(Rows(db, "SELECT count(*) FROM sales")[0] == "0");
  CHECK(Rows(db, "SELECT count(*) FROM sales_rejects")[0] == "1");
  CHECK(Rows(db, "SELECT count(*) FROM jobsd_imported_files")[0] == "0");

  auto too_few = Run(Job(SqliteWith(folder, "      min_rows: 5\n")), 2);
  REQUIRE_FALSE(too_few);
  CHECK_THAT(too_few.error().message, Catch::Contains("1 valid rows, fewer than min_rows 5"));
  CHECK(Rows(db, "SELECT count(*) FROM sales")[0] == "0");

  const std::string before = ReadAll(db);
  auto dry = Run(Job(SqliteWith(folder, "      dry_run: true\n")), 3);
  INFO(dry.output);
  REQUIRE(dry);
  CHECK(dry.Metric("dry_run") == 1);
  CHECK(dry.Metric("read") == 2);
  CHECK(dry.Metric("invalid") == 1);
  CHECK_THAT(dry.output, Catch::Contains("would have inserted 1") && Catch::Contains("dry run"));
  CHECK(ReadAll(db) == before);
}

TEST_CASE("sql_import: the table is checked before anything is read", "[sql_import]") {
  Folder folder;
  fs::create_directories(folder.path / "in");
  folder.Write("in/a.csv", std::string(kSalesHeader) + "2026-01-02,7,Widget,2,9.99,19.98,Europe\n");
  const fs::path db = folder.path / "dashboard.db";
  std::string with = SqliteWith(folder);
  with.replace(with.find("      create: true\n"), 19, "");
  {
    auto missing = Run(Job(with));
    REQUIRE_FALSE(missing);
    CHECK_THAT(missing.error().message, Catch::Contains("there is no such table"));
  }
  {
    auto conn = sqlite::Database::Open(db, sqlite::Database::Mode::kReadWrite);
    REQUIRE(conn);
    REQUIRE(
        conn->Execute("CREATE TABLE sales (sale_date TEXT, user_id INTEGER, product_name TEXT, "
                      "quantity INTEGER, unit_price NUMERIC, total_amount NUMERIC)"));
  }
  auto no_region = Run(Job(with));
  REQUIRE_FALSE(no_region);
  CHECK_THAT(no_region.error().message, Catch::Contains("has no column 'region'"));
  {
    auto conn = sqlite::Database::Open(db, sqlite::Database::Mode::kReadWrite);
    REQUIRE(conn->Execute("ALTER TABLE sales ADD COLUMN region TEXT"));
  }
  auto no_key = Run(Job(with));
  REQUIRE_FALSE(no_key);
  CHECK_THAT(no_key.error().message,
             Catch::Contains("has no unique index on (sale_date, user_id, product_name)"));
  {
    auto conn = sqlite::Database::Open(db, sqlite::Database::Mode::kReadWrite);
    REQUIRE(conn->Execute("CREATE UNIQUE INDEX k ON sales (product_name, sale_date, user_id)"));
  }
  auto ok = Run(Job(with));
  INFO(ok.output);
  REQUIRE(ok);
  CHECK(ok.Metric("inserted") == 1);
}

TEST_CASE("sql_import: a truncated or unreadable file fails the run and leaves the table",
          "[sql_import]") {
  Folder folder;
  fs::create_directories(folder.path / "in");
  folder.Write("in/a.csv", std::string(kSalesHeader) + "2026-01-02,7,Widget,2,9.99,19.98,Europe\n");
  const config::JobConfig job = Job(SqliteWith(folder));
  REQUIRE(Run(job));
  folder.Write("in/b.csv", std::string(kSalesHeader) +
                               "2026-01-02,9,Bolt,1,1,1,Asia\n"
                               "2026-01-02,10,\"Nut, unfinished,1,1,1,Asia\n");
  auto run = Run(job, 2);
  REQUIRE_FALSE(run);
  CHECK_THAT(run.error().message, Catch::Contains("b.csv") && Catch::Contains("line 3"));
  const fs::path db = folder.path / "dashboard.db";
  CHECK(Rows(db, "SELECT count(*) FROM sales")[0] == "1");
  CHECK(Rows(db, "SELECT count(*) FROM jobsd_imported_files")[0] == "1");

  folder.Write("in/c.csv", "date,user\n2026-01-02,7\n");
  fs::remove(folder.path / "in" / "b.csv");
  auto header = Run(job, 3);
  REQUIRE_FALSE(header);
  CHECK_THAT(header.error().message,
             Catch::Contains("c.csv: line 1: no column 'user_id' in the header"));
}

TEST_CASE("sql_import: latin-1, ';' and a naive timestamp in the job's zone", "[sql_import]") {
  Folder folder;
  fs::create_directories(folder.path / "in");
  folder.Write("in/a.csv", "name;seen\nJos\xE9;2026-07-01 12:00\n");
  auto run = Run(Job("      source: {csv: {files: '" + (folder.path / "in/*.csv").string() +
                     "', delimiter: ';', encoding: latin-1}}\n"
                     "      target: {sqlite: '" +
                     (folder.path / "x.db").string() +
                     "'}\n"
                     "      table: people\n      create: true\n      key: [name]\n"
                     "      columns:\n        name: {type: text, required: true}\n"
                     "        seen: {type: timestamp}\n"));
  INFO(run.output);
  REQUIRE(run);
  CHECK(Rows(folder.path / "x.db", "SELECT name || ' ' || seen FROM people")[0] ==
        "Jos\xC3\xA9 2026-07-01T10:00:00.000000Z");
}

TEST_CASE("sql_import: passwords are hashed with Argon2id and never stored in clear",
          "[sql_import]") {
  Folder folder;
  fs::create_directories(folder.path / "in");
  folder.Write("in/users.csv",
               "username,email,role,initial_password\n"
               "ada,ada@example.com,admin,Correct-Horse-1\n"
               "bob,bob@example.com,user,Battery-Staple-2\n"
               "eve,not-an-email,user,Secret-Eve-3\n");
  const std::string with = "      source: {csv: '" + (folder.path / "in/*.csv").string() + "'}\n" +
                           "      target: {sqlite: '" + (folder.path / "users.db").string() +
                           "'}\n" +
                           "      table: users\n      create: true\n      key: [username]\n"
                           "      columns:\n"
                           "        username: {type: text, required: true}\n"
                           "        email: {type: text, pattern: '[^@ ]+@[^@ ]+'}\n"
                           "        role: {type: text, in: [admin, user]}\n"
                           "      password: {column: password_hash, from: initial_password, "
                           "memory: 1MiB, iterations: 1}\n"
                           "      keep_on_update: [password_hash]\n";
  auto run = Run(Job(with));
  INFO(run.output);
  REQUIRE(run);
  CHECK(run.Metric("inserted") == 2);
  CHECK(run.Metric("invalid_pattern") == 1);
  const fs::path db = folder.path / "users.db";
  const auto hashes = Rows(db, "SELECT password_hash FROM users ORDER BY username");
  REQUIRE(hashes.size() == 2);
  CHECK_THAT(hashes[0], Catch::StartsWith("$argon2id$v=19$m=1024,t=1,p=1$"));
  CHECK(crypto::VerifyPassword(hashes[0], "Correct-Horse-1"));
  CHECK(crypto::VerifyPassword(hashes[1], "Battery-Staple-2"));
  CHECK_FALSE(crypto::VerifyPassword(hashes[0], "Battery-Staple-2"));
  CHECK(Rows(db, "SELECT record FROM users_rejects")[0].find("[hidden]") != std::string::npos);
  for (const char* clear : {"Correct-Horse-1", "Battery-Staple-2", "Secret-Eve-3"}) {
    CHECK(ReadAll(db).find(clear) == std::string::npos);
    CHECK(run.output.find(clear) == std::string::npos);
  }

  // A second import changes bob's role but keeps his password.
  folder.Write("in/users2.csv",
               "username,email,role,initial_password\nbob,bob@example.com,admin,Another-One-4\n");
  auto again = Run(Job(with), 2);
  REQUIRE(again);
  CHECK(again.Metric("updated") == 1);
  const auto after =
      Rows(db, "SELECT role || ' ' || password_hash FROM users WHERE username = 'bob'");
  CHECK(after[0] == "admin " + hashes[1]);
}

// ---- PostgreSQL ----

namespace {

std::string PgText(pg::Connection& conn, const std::string& sql) {
  auto rows = conn.Query(sql);
  if (!rows) FAIL(rows.error().message);
  return rows->row_count() ? rows->Text(0, 0) : "";
}

}  // namespace

TEST_CASE("sql_import: CSV into PostgreSQL, with the table's limits as rules",
          "[.pg][sql_import]") {
  Folder folder;
  fs::create_directories(folder.path / "in");
  pg::Connection conn = pg_test::Connect();
  REQUIRE(conn.Exec(
      "DROP TABLE IF EXISTS imp_sales, imp_sales_rejects, jobsd_imported_files; "
      "CREATE TABLE imp_sales (sale_date date NOT NULL, user_id integer NOT NULL, product_name "
      "varchar(10) NOT NULL, quantity integer, unit_price numeric(6,2), total_amount numeric(8,2), "
      "region text, loaded_at timestamptz NOT NULL DEFAULT now(), UNIQUE (sale_date, user_id, "
      "product_name))"));
  folder.Write("in/a.csv", std::string(kSalesHeader) +
                               "2026-01-02,7,Widget,2,9.99,19.98,Europe\n"
                               "2026-01-02,8,Gadget,1,100.00,100.00,Asia\n"
                               "2026-01-02,9,Much too long a name,1,1,1,Asia\n"  // varchar(10)
                               "2026-01-02,3000000000,Bolt,1,1,1,Asia\n"         // integer
                               "2026-01-02,11,Bolt,1,1.005,1.005,Asia\n"         // numeric(6,2)
                               "2026-01-02,12,Nut,3,2.00,7.00,Asia\n"            // the check
                               "2026-01-02,8,Gadget,2,100.00,200.00,Asia\n");    // last wins
  std::string with = "      source: {csv: '" + (folder.path / "in/*.csv").string() + "'}\n" +
                     "      target: {postgres: '" + pg_test::ServerUrl() + "'}\n" +
                     "      table: imp_sales\n" + kSalesColumns;
  with.replace(with.find("max_length: 20"), 14, "max_length: 200");
  const config::JobConfig job = Job(with);
  auto run = Run(job);
  INFO(run.output);
  REQUIRE(run);
  CHECK(run.Metric("read") == 7);
  CHECK(run.Metric("inserted") == 2);
  CHECK(run.Metric("duplicate_keys") == 1);
  CHECK(run.Metric("invalid_max_length") == 1);
  CHECK(run.Metric("invalid_max") == 1);
  CHECK(run.Metric("invalid_precision") == 2);  // two columns of one record
  CHECK(run.Metric("invalid_check") == 1);
  CHECK(PgText(conn,
               "SELECT string_agg(product_name || ':' || total_amount, ',' ORDER BY user_id) FROM "
               "imp_sales") == "Widget:19.98,Gadget:200.00");
  CHECK(PgText(conn, "SELECT count(*) FROM imp_sales_rejects") == "4");
  CHECK(PgText(conn,
               "SELECT record->>'product_name' FROM imp_sales_rejects WHERE reasons::text LIKE "
               "'%check failed%'") == "Nut");
  CHECK(PgText(conn, "SELECT count(*) FROM jobsd_imported_files") == "1");

  folder.Write("in/b.csv", std::string(kSalesHeader) +
                               "2026-01-02,7,Widget,2,9.99,19.98,Europe\n"
                               "2026-01-02,8,Gadget,3,100.00,300.00,Asia\n"
                               "2026-01-03,8,Gadget,1,100.00,100.00,Asia\n");
  auto second = Run(job, 2);
  INFO(second.output);
  REQUIRE(second);
  CHECK(second.Metric("inserted") == 1);
  CHECK(second.Metric("updated") == 1);
  CHECK(second.Metric("unchanged") == 1);

  SECTION("on_invalid: fail leaves the table as it was") {
    folder.Write("in/c.csv", std::string(kSalesHeader) +
                                 "2026-01-04,8,Gadget,1,100.00,100.00,Asia\n"
                                 "2026-01-04,9,Gadget,0,100.00,0,Asia\n");
    auto failed = Run(Job(with + "      on_invalid: fail\n"), 3);
    REQUIRE_FALSE(failed);
    CHECK(PgText(conn, "SELECT count(*) FROM imp_sales") == "3");
    CHECK(PgText(conn, "SELECT count(*) FROM jobsd_imported_files") == "2");
  }
  SECTION("a check that is not SQL fails before anything is read") {
    auto bad = Run(
        Job(with + "      create: false\n").name.empty()
            ? job
            : Job(std::string(with).replace(with.find("abs(total_amount"), 16, "abs(totl_amount")),
        4);
    REQUIRE_FALSE(bad);
    CHECK_THAT(bad.error().message, Catch::Contains("checks[0]") && Catch::Contains("totl_amount"));
  }
  SECTION("create: true on PostgreSQL") {
    REQUIRE(conn.Exec("DROP TABLE IF EXISTS imp_new, imp_new_rejects"));
    std::string created = with;
    created.replace(created.find("table: imp_sales"), 16, "table: imp_new\n      create: true");
    auto made = Run(Job(created), 5);
    INFO(made.output);
    REQUIRE(made);
    CHECK(made.Metric("inserted") == 6);  // both files: they are tracked per table
    CHECK(PgText(conn,
                 "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
                 "'imp_new'::regclass AND attname = 'unit_price'") == "numeric");
  }
}

}  // namespace jobs::sql_import
