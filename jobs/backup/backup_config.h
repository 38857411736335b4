// The `with:` block of a `type: backup` job: what to copy, where to keep it,
// how to compress it and how many backups to keep.
//
//   with:
//     sources:
//       - {sqlite: data/dashboard.db}    # any SQLite file, copied online (backup API)
//       - {state: true}                  # jobsd's own state store
//       - {postgres: "${DATABASE_URL}"}  # pg_dump --format=custom
//       - {files: data/features}         # a folder, as a tar archive
//       # each may carry name: (the stored file's name; default from the source)
//     dest: backups                      # required; relative to the config file's folder
//     compress: {codec: zstd, level: 3}  # zstd | gzip | none
//     keep: {last: 3, daily: 7, weekly: 4, monthly: 12}
//     verify: true
//     s3: {bucket: acme-backups, prefix: jobsd/, region: eu-central-1}   # optional;
//         # also access_key_id, secret_access_key, session_token, profile, endpoint
//
// Plain values; the job and `jobsd backups` / `jobsd restore` read them with
// JobConfig::Settings<BackupSettings>().
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "archive/packing.h"
#include "aws/credentials.h"
#include "config/job_type.h"
#include "config/map_reader.h"
#include "jobs/backup/retention_policy.h"

namespace jobs::backup {

enum class SourceKind { kSqlite, kState, kPostgres, kFiles };
std::string_view SourceKindName(SourceKind kind);  // "sqlite", "state", "postgres", "files"

struct Source {
  SourceKind kind = SourceKind::kSqlite;
  std::filesystem::path path;  // sqlite, files
  std::string url;             // postgres: a secret, never logged
  std::string name;            // unique within the job: the stored file's stem
};

struct S3Target {
  std::string bucket;
  std::string prefix;  // ends with '/' unless empty
  aws::AwsSettings aws;
};

struct BackupSettings {
  std::vector<Source> sources;
  std::filesystem::path dest;
  archives::Codec codec = archives::Codec::kZstd;
  int level = 3;
  KeepPolicy keep;
  bool verify = true;
  std::optional<S3Target> s3;
};

BackupSettings ReadBackupSettings(config::MapReader& with);

config::JobTypeSpec BackupJobSpec();

}  // namespace jobs::backup
