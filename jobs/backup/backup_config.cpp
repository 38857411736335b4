#include "jobs/backup/backup_config.h"

#include <set>

namespace jobs::backup {
namespace {

// A stored file's stem: letters, digits, '-', '_' and '.'.
bool IsName(std::string_view name) {
  if (name.empty() || name.size() > 100 || name[0] == '.') return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

std::string DefaultName(const Source& source) {
  switch (source.kind) {
    case SourceKind::kState:
      return "state";
    case SourceKind::kPostgres:
      return "postgres";
    case SourceKind::kSqlite:
    case SourceKind::kFiles: {
      std::string stem = source.path.filename().string();
      if (stem.empty()) stem = source.path.parent_path().filename().string();
      std::string out;
      for (char c : stem) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
        out += ok ? c : '_';
      }
      while (!out.empty() && out[0] == '.') out.erase(0, 1);
      return out.empty() ? std::string(SourceKindName(source.kind)) : out;
    }
  }
  return "source";
}

}  // namespace

std::string_view SourceKindName(SourceKind kind) {
  switch (kind) {
    case SourceKind::kSqlite:
      return "sqlite";
    case SourceKind::kState:
      return "state";
    case SourceKind::kPostgres:
      return "postgres";
    case SourceKind::kFiles:
      return "files";
  }
  return "?";
}

BackupSettings ReadBackupSettings(config::MapReader& with) {
  BackupSettings out;
  if (auto sources = with.MapList("sources", config::Need::kRequired)) {
    std::set<std::string> names;
    for (config::MapReader& item : *sources) {
      Source source;
      int kinds = 0;
      if (item.Has("sqlite")) {
        ++kinds;
        source.kind = SourceKind::kSqlite;
        source.path = item.Path("sqlite").value_or("");
      }
      if (item.Has("state")) {
        ++kinds;
        source.kind = SourceKind::kState;
        if (!item.Bool("state").value_or(false))
          item.Report("state", "only state: true means anything");
      }
      if (item.Has("postgres") || item.Has("postgres_file")) {
        ++kinds;
        source.kind = SourceKind::kPostgres;
        source.url = item.Secret("postgres").value_or("");
        if (source.url.empty()) {
          item.Report(item.Has("postgres") ? "postgres" : "postgres_file",
                      "is empty (is the environment variable set?)");
        }
      }
      if (item.Has("files")) {
        ++kinds;
        source.kind = SourceKind::kFiles;
        source.path = item.Path("files").value_or("");
      }
      if (kinds != 1) {
        item.ReportHere("expected exactly one of sqlite:, state:, postgres: or files:");
      }
      if (auto name = item.String("name")) {
        if (!IsName(*name))
          item.Report("name", "expected letters, digits, '-', '_' or '.', got '" + *name + "'");
        source.name = *name;
      } else {
        source.name = DefaultName(source);
      }
      if (!names.insert(source.name).second) {
        item.ReportHere("two sources would be stored as '" + source.name + "': give one a name:");
      }
      item.Finish();
      out.sources.push_back(std::move(source));
    }
    if (sources->empty()) with.Report("sources", "expected at least one source");
  }
  out.dest = with.Path("dest", config::Need::kRequired).value_or("");
  if (!out.dest.empty() && out.dest == out.dest.root_path()) {
    with.Report("dest", "must be a folder of its own, not the root of the file system");
  }
  if (auto compress = with.Map("compress")) {
    out.codec = compress
                    ->Enum<archives::Codec>("codec", {{"zstd", archives::Codec::kZstd},
                                                      {"gzip", archives::Codec::kGzip},
                                                      {"none", archives::Codec::kNone}})
                    .value_or(out.codec);
    const int max = out.codec == archives::Codec::kGzip ? 9 : 19;
    out.level = static_cast<int>(
        compress->Int("level", 1, max).value_or(out.codec == archives::Codec::kGzip ? 6 : 3));
    compress->Finish();
  }
  if (auto keep = with.Map("keep")) {
    out.keep.last = static_cast<int>(keep->Int("last", 0, 100000).value_or(0));
    out.keep.daily = static_cast<int>(keep->Int("daily", 0, 100000).value_or(0));
    out.keep.weekly = static_cast<int>(keep->Int("weekly", 0, 100000).value_or(0));
    out.keep.monthly = static_cast<int>(keep->Int("monthly", 0, 100000).value_or(0));
    keep->Finish();
  }
  out.verify = with.Bool("verify").value_or(out.verify);
  if (auto s3 = with.Map("s3")) {
    S3Target target;
    target.bucket = s3->String("bucket", config::Need::kRequired).value_or("");
    target.prefix = s3->String("prefix").value_or("");
    if (!target.prefix.empty() && target.prefix.back() != '/') target.prefix += '/';
    target.aws = aws::ReadAwsSettings(*s3);
    s3->Finish();
    out.s3 = std::move(target);
  }
  return out;
}

config::JobTypeSpec BackupJobSpec() {
  return {"backup", [](config::MapReader& with, std::string_view) -> std::any {
            return ReadBackupSettings(with);
          }};
}

}  // namespace jobs::backup
