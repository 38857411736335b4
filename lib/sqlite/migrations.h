// Numbered schema migrations for any SQLite file.
//
// A database's schema is a list of SQL steps: steps[0] takes a new file to
// version 1, steps[i] takes version i to i + 1. The version a file is at is
// its PRAGMA user_version. Migrate applies the steps a file lacks, each in
// its own BEGIN IMMEDIATE transaction together with the new user_version,
// so a crash or a failing step leaves the file at the last version that
// completed, never between two. The version is read again inside each
// transaction, so two processes opening one file at once apply each step
// once.
//
// Never edit a step that has shipped: add the next one. To adopt files made
// before their schema had a version (user_version 0 with the tables already
// there), write step 1 with CREATE ... IF NOT EXISTS, as the schema was.
//
// Blocking; the Database's thread. A file at a version newer than `steps`
// knows is an error (kInvalidArgument) naming the file and both versions;
// it is left unchanged. A failing step is an error naming the file and the
// step, with SQLite's message.
#pragma once

#include <span>
#include <string_view>

#include "core/result.h"
#include "sqlite/database.h"

namespace sqlite {

// The steps of a schema, in order; usually a constexpr array of raw strings.
using Migrations = std::span<const std::string_view>;

struct MigrationOutcome {
  int from_version = 0;  // before Migrate
  int to_version = 0;    // now: the number of steps
};

core::Result<MigrationOutcome> Migrate(Database& db, Migrations steps);

// The file's PRAGMA user_version.
core::Result<int> SchemaVersion(Database& db);

}  // namespace sqlite
