// The PostgreSQL server of the [pg] tests: tests/support/pg_server.py
// starts it (`pg_server.py run -- jobsd_tests "[pg]"`, which ctest's
// pg_unit does) and passes its URL in JOBSD_TEST_PG_URL. A test run
// without it fails rather than skips: a missing server must not pass.
#pragma once

#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

#include "pg/connection.h"

namespace pg_test {

inline std::string Env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    FAIL(name << " is unset: run the [pg] tests through tests/support/pg_server.py run -- "
                 "jobsd_tests \"[pg]\" (ctest -R pg_unit)");
  }
  return value;
}

inline std::string ServerUrl() { return Env("JOBSD_TEST_PG_URL"); }

// The pieces of pg_server.py's URL,
// postgres://postgres:PASSWORD@127.0.0.1:PORT/postgres.
struct Server {
  std::string url;
  std::string password;
  std::string port;
};

inline Server ServerParts() {
  Server server;
  server.url = ServerUrl();
  // postgres://postgres:PASSWORD@127.0.0.1:PORT/postgres (no std::regex:
  // GCC 12 warns inside it under ASan).
  const std::string prefix = "postgres://postgres:";
  const std::string host = "@127.0.0.1:";
  const std::string suffix = "/postgres";
  const std::size_t at = server.url.rfind(host);
  if (server.url.rfind(prefix, 0) != 0 || at == std::string::npos ||
      !server.url.ends_with(suffix) || at < prefix.size()) {
    FAIL("unexpected URL " << server.url);
  }
  server.password = server.url.substr(prefix.size(), at - prefix.size());
  server.port = server.url.substr(at + host.size(),
                                  server.url.size() - suffix.size() - at - host.size());
  return server;
}

inline pg::Connection Connect(const pg::OpenOptions& options = {}) {
  auto conn = pg::Connection::Open(ServerUrl(), options);
  if (!conn) FAIL(conn.error().message);
  return std::move(*conn);
}

// pg_server.py restart / stop / up on the test's server.
inline void ControlServer(const std::string& action) {
  const std::string command = "/usr/bin/python3 '" + Env("JOBSD_TEST_PG_SERVER") + "' " + action +
                              " --state-file '" + Env("JOBSD_TEST_PG_STATE") + "'";
  REQUIRE(std::system(command.c_str()) == 0);
}

// The one value of a one-row, one-column query, as text ("" for NULL).
inline std::string One(pg::Connection& conn, const std::string& sql,
                       const pg::Params& params = {}) {
  auto rows = conn.Query(sql, params);
  if (!rows) FAIL(rows.error().message);
  REQUIRE(rows->row_count() == 1);
  REQUIRE(rows->column_count() == 1);
  return rows->Text(0, 0);
}

inline void Exec(pg::Connection& conn, const std::string& sql) {
  auto ok = conn.Exec(sql);
  if (!ok) FAIL(ok.error().message);
}

}  // namespace pg_test
