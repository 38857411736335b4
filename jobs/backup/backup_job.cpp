#include "jobs/backup/backup_job.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>

#include "aws/s3.h"
#include "fs/atomic_file.h"
#include "jobs/backup/backup_catalog.h"
#include "jobs/backup/backup_config.h"
#include "jobs/backup/retention_policy.h"
#include "jobs/backup/stored_file.h"
#include "pg/connection.h"
#include "pg/conninfo.h"
#include "process/child_process.h"
#include "sqlite/backup.h"
#include "sqlite/database.h"
#include "sqlite/statement.h"

#ifndef JOBSD_VERSION
#define JOBSD_VERSION "unknown"
#endif

namespace jobs::backup {
namespace fs = std::filesystem;
namespace {

core::Error IoError(std::string what) {
  return core::Error{core::ErrorKind::kIo, std::move(what), false};
}

std::string StoredName(const Source& source, archives::Codec codec) {
  std::string name = source.name;
  switch (source.kind) {
    case SourceKind::kSqlite:
    case SourceKind::kState:
      if (!name.ends_with(".db") && !name.ends_with(".sqlite")) name += ".db";
      break;
    case SourceKind::kPostgres:
      name += ".dump";
      break;
    case SourceKind::kFiles:
      name += ".tar";
      break;
  }
  return name + std::string(archives::CodecExtension(codec));
}

class BackupJob final : public scheduler::Job {
 public:
  explicit BackupJob(BackupSettings settings) : settings_(std::move(settings)) {}

  core::Result<void> Run(scheduler::JobContext& ctx) override {
    const auto started = std::chrono::steady_clock::now();
    const fs::path job_folder = settings_.dest / ctx.job_name();
    std::error_code ec;
    fs::create_directories(job_folder, ec);
    if (ec)
      return core::Unexpected(
          IoError("cannot create " + job_folder.string() + ": " + ec.message()));
    RemoveLeftovers(ctx, job_folder);

    auto scratch = ctx.ScratchFolder();
    if (!scratch) return core::Unexpected(scratch.error());
    const core::TimePoint now = ctx.Now();
    std::string name = FolderName(now);
    for (int n = 2; fs::exists(job_folder / name, ec); ++n)
      name = FolderName(now) + "-" + std::to_string(n);
    const fs::path building = job_folder / (".building-" + name);
    fs::create_directories(building, ec);
    if (ec)
      return core::Unexpected(IoError("cannot create " + building.string() + ": " + ec.message()));
    auto made = Make(ctx, building, *scratch, now);
    if (!made) {
      fs::remove_all(building, ec);
      return core::Unexpected(made.error());
    }
    Manifest& manifest = *made;
    const fs::path final_folder = job_folder / name;
    if (::rename(building.c_str(), final_folder.c_str()) != 0 || !files::SyncFolder(job_folder)) {
      fs::remove_all(building, ec);
      return core::Unexpected(IoError("cannot move the backup to " + final_folder.string()));
    }
    ctx.Info(fmt::format("backup {}: {} sources, {} bytes stored as {}{}", name,
                         manifest.files.size(), manifest.bytes(), manifest.stored_bytes(),
                         manifest.verified ? ", verified" : ""));

    std::optional<aws::S3Client> s3;
    if (settings_.s3) {
      auto client = S3(ctx);
      if (!client) return core::Unexpected(client.error());
      s3.emplace(std::move(*client));
      if (auto uploaded = Upload(ctx, *s3, final_folder, manifest); !uploaded) return uploaded;
    }
    ctx.metrics().Set(
        "seconds",
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    return Retain(ctx, job_folder, name, s3 ? &*s3 : nullptr);
  }

 private:
  void RemoveLeftovers(scheduler::JobContext& ctx, const fs::path& job_folder) {
    std::error_code ec;
    for (const fs::directory_entry& entry : fs::directory_iterator(job_folder, ec)) {
      const std::string n = entry.path().filename().string();
      if (n.rfind(".building-", 0) != 0) continue;
      std::error_code removed;
      fs::remove_all(entry.path(), removed);
      ctx.Info("removed " + n + ", left by an interrupted run");
    }
  }

  core::Result<Manifest> Make(scheduler::JobContext& ctx, const fs::path& building,
                              const fs::path& scratch, core::TimePoint now) {
    Manifest manifest;
    manifest.job = ctx.job_name();
    manifest.taken_at = now;
    manifest.jobsd_version = JOBSD_VERSION;
    manifest.codec = std::string(archives::CodecName(settings_.codec));
    const auto cancelled = [&ctx] { return ctx.cancel().Cancelled(); };
    for (const Source& source : settings_.sources) {
      if (ctx.cancel().Cancelled()) return core::Unexpected(ctx.CancelledError("the backup"));
      const std::string stored_name = StoredName(source, settings_.codec);
      const fs::path stored = building / stored_name;
      core::Result<archives::Packed> packed = archives::Packed{};
      switch (source.kind) {
        case SourceKind::kSqlite:
        case SourceKind::kState: {
          const fs::path file = source.kind == SourceKind::kState ? ctx.state_file() : source.path;
          if (file.empty())
            return core::Unexpected(
                core::InvalidArgument("state: true, but this run has no state file"));
          auto copied = CopySqlite(ctx, file, scratch / (source.name + ".db"), manifest);
          if (!copied) return core::Unexpected(copied.error());
          packed =
              archives::CompressFile(*copied, stored, settings_.codec, settings_.level, cancelled);
          std::error_code ec;
          fs::remove(*copied, ec);
          break;
        }
        case SourceKind::kPostgres: {
          auto dumped = DumpPostgres(ctx, source, scratch / (source.name + ".dump"), manifest);
          if (!dumped) return core::Unexpected(dumped.error());
          packed =
              archives::CompressFile(*dumped, stored, settings_.codec, settings_.level, cancelled);
          std::error_code ec;
          fs::remove(*dumped, ec);
          break;
        }
        case SourceKind::kFiles:
          packed =
              archives::TarFolder(source.path, stored, settings_.codec, settings_.level, cancelled);
          if (packed && packed->skipped > 0) {
            ctx.Warn(fmt::format(
                "{}: {} entries that are neither files, folders nor links were left out",
                source.path.string(), packed->skipped));
          }
          break;
      }
      if (!packed) {
        if (packed.error().kind == core::ErrorKind::kCancelled) {
          return core::Unexpected(ctx.CancelledError("the backup"));
        }
        return core::Unexpected(packed.error());
      }
      manifest.files.push_back({source.name, std::string(SourceKindName(source.kind)), stored_name,
                                packed->bytes_in, packed->bytes_out, packed->sha256});
      ctx.metrics().Add("bytes", double(packed->bytes_in));
      ctx.metrics().Add("bytes_stored", double(packed->bytes_out));
      ctx.metrics().Add("files", 1);
    }
    if (settings_.verify) {
      for (const StoredFile& file : manifest.files) {
        if (auto ok = VerifyStoredFile(building, file, scratch, cancelled); !ok) {
          core::Error error = ok.error();
          error.message = "verify failed, the backup is removed: " + error.message;
          return core::Unexpected(std::move(error));
        }
      }
      manifest.verified = true;
    }
    if (settings_.s3) {
      manifest.s3 = "s3://" + settings_.s3->bucket + "/" + settings_.s3->prefix + ctx.job_name() +
                    "/" + building.filename().string().substr(std::string(".building-").size()) +
                    "/";
    }
    auto written = files::WriteFileAtomically(building / kManifestFile, ManifestJson(manifest));
    if (!written) return core::Unexpected(written.error());
    if (auto synced = files::SyncFolder(building); !synced) return core::Unexpected(synced.error());
    return manifest;
  }

  core::Result<fs::path> CopySqlite(scheduler::JobContext& ctx, const fs::path& file,
                                    const fs::path& copy, Manifest& manifest) {
    auto db = sqlite::Database::Open(file, sqlite::Database::Mode::kReadOnly);
    if (!db) return core::Unexpected(db.error());
    if (!manifest.tools.count("sqlite")) {
      if (auto stmt = db->Prepare("SELECT sqlite_version()")) {
        if (auto row = stmt->Step(); row && *row) manifest.tools["sqlite"] = stmt->Text(0);
      }
    }
    sqlite::BackupOptions options;
    options.cancelled = [&ctx] { return ctx.cancel().Cancelled(); };
    auto copied = sqlite::BackupTo(*db, copy, options);
    if (!copied) {
      if (copied.error().kind == core::ErrorKind::kCancelled) {
        return core::Unexpected(ctx.CancelledError("the SQLite backup"));
      }
      return core::Unexpected(copied.error());
    }
    if (copied->restarts > 0) {
      ctx.Info(fmt::format("{}: written to during the copy, started over {} times", file.string(),
                           copied->restarts));
    }
    return copy;
  }

  core::Result<fs::path> DumpPostgres(scheduler::JobContext& ctx, const Source& source,
                                      const fs::path& dump, Manifest& manifest) {
    auto conninfo = pg::ConninfoForTools(source.url);
    if (!conninfo) return core::Unexpected(conninfo.error());
    if (!manifest.tools.count("pg_dump")) {
      process::Command version;
      version.argv = {"pg_dump", "--version"};
      if (auto v = process::Run(version); v && v->Succeeded())
        manifest.tools["pg_dump"] = v->LastLine();
    }
    process::Command command;
    // The password only in the environment: never on the command line.
    command.argv = {"pg_dump",       "--format=custom",         "--compress=0",
                    "--no-password", "--file=" + dump.string(), "--dbname=" + conninfo->conninfo};
    if (!conninfo->password.empty()) command.env["PGPASSWORD"] = conninfo->password;
    command.cancelled = [&ctx] { return ctx.cancel().Cancelled(); };
    command.deadline = ctx.cancel().deadline();
    auto outcome = process::Run(command);
    if (!outcome) return core::Unexpected(outcome.error());
    if (outcome->cancelled || outcome->timed_out)
      return core::Unexpected(ctx.CancelledError("pg_dump"));
    if (!outcome->Succeeded()) {
      const std::string why = pg::MaskSecrets(outcome->LastLine(), pg::ConninfoSecrets(source.url));
      return core::Unexpected(core::Error{core::ErrorKind::kUpstream,
                                          "pg_dump of source '" + source.name + "' failed: " + why,
                                          true});
    }
    return dump;
  }

  core::Result<aws::S3Client> S3(scheduler::JobContext& ctx) {
    aws::AwsSettings aws = settings_.s3->aws;
    if (aws.s3_endpoint.empty()) aws.s3_endpoint = aws.endpoint;  // `endpoint` means S3's here
    auto options = aws::S3OptionsFor(aws, aws::Environment::FromProcess());
    if (!options) return core::Unexpected(options.error());
    return aws::S3Client(ctx.http(), *options);
  }

  std::string S3Folder(const std::string& job, const std::string& folder) const {
    return settings_.s3->prefix + job + "/" + folder + "/";
  }

  core::Result<void> Upload(scheduler::JobContext& ctx, aws::S3Client& s3, const fs::path& folder,
                            const Manifest& manifest) {
    const std::string prefix = S3Folder(ctx.job_name(), folder.filename().string());
    std::vector<std::string> names;
    for (const StoredFile& f : manifest.files) names.push_back(f.file);
    names.push_back(kManifestFile);  // last: a folder with a manifest is complete
    for (const std::string& n : names) {
      auto put = s3.PutObject(settings_.s3->bucket, prefix + n, folder / n, ctx.CallOptions());
      if (!put) {
        core::Error error = put.error();
        error.message = "upload of backup " + folder.filename().string() + ": " + error.message;
        return core::Unexpected(std::move(error));
      }
      std::error_code ec;
      ctx.metrics().Add("uploaded_bytes", double(fs::file_size(folder / n, ec)));
    }
    return {};
  }

  core::Result<void> Retain(scheduler::JobContext& ctx, const fs::path& job_folder,
                            const std::string& made, aws::S3Client* s3) {
    auto listing = ListBackups(job_folder);
    if (!listing) return core::Unexpected(listing.error());
    for (const std::string& problem : listing->problems) ctx.Warn("not a backup: " + problem);
    // Every backup by its folder name, here and under the S3 prefix.
    std::map<std::string, core::TimePoint> backups;
    for (const BackupFolder& b : listing->backups)
      backups[b.folder.filename().string()] = b.manifest.taken_at;
    std::map<std::string, std::vector<std::string>> s3_keys;
    if (s3 != nullptr) {
      const std::string prefix = settings_.s3->prefix + ctx.job_name() + "/";
      auto objects = s3->ListObjectsV2(settings_.s3->bucket, prefix, ctx.CallOptions());
      if (!objects) return core::Unexpected(objects.error());
      for (const aws::ObjectInfo& o : *objects) {
        const std::string rest = o.key.substr(prefix.size());
        const std::size_t slash = rest.find('/');
        if (slash == std::string::npos) continue;
        const std::string folder = rest.substr(0, slash);
        auto t = ParseFolderName(folder);
        if (!t) continue;  // not one of ours
        s3_keys[folder].push_back(o.key);
        backups.emplace(folder, *t);
      }
    }
    std::vector<std::string> names;
    std::vector<core::TimePoint> times;
    for (const auto& [n, t] : backups) {
      names.push_back(n);
      times.push_back(t);
    }
    const std::set<std::size_t> keep = BackupsToKeep(times, settings_.keep);
    int kept = 0;
    int deleted = 0;
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (keep.count(i) || names[i] == made) {
        ++kept;
        continue;
      }
      std::error_code ec;
      fs::remove_all(job_folder / names[i], ec);
      if (ec) {
        ctx.Warn("cannot delete the backup " + names[i] + ": " + ec.message());
        continue;
      }
      if (s3 != nullptr) {
        for (const std::string& key : s3_keys[names[i]]) {
          if (auto gone = s3->DeleteObject(settings_.s3->bucket, key, ctx.CallOptions()); !gone) {
            ctx.Warn("cannot delete s3://" + settings_.s3->bucket + "/" + key + ": " +
                     gone.error().message);
          }
        }
      }
      ++deleted;
      ctx.Info("deleted the backup " + names[i] + " (no keep rule holds it)");
    }
    ctx.metrics().Set("backups_kept", kept);
    ctx.metrics().Add("backups_deleted", deleted);
    return {};
  }

  const BackupSettings settings_;
};

}  // namespace

scheduler::JobType Type() {
  return scheduler::JobType{
      BackupJobSpec(), [](const config::JobConfig& job) {
        const auto* settings = job.Settings<BackupSettings>();
        return std::make_unique<BackupJob>(settings ? *settings : BackupSettings{});
      }};
}

}  // namespace jobs::backup
