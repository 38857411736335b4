// `jobsd backups` and `jobsd restore`: the backup job's folders read
// directly (backup_catalog.h), so both work without the state store, after
// restoring jobsd's own state for instance.
#include "daemon/backup_commands.h"

#include <iostream>

#include <fmt/format.h>

#include "config/config_loader.h"
#include "core/json_writer.h"
#include "daemon/commands.h"
#include "jobs/backup/backup_catalog.h"
#include "jobs/backup/backup_config.h"
#include "jobs/backup/stored_file.h"

namespace jobsd {
namespace {

// The backup job named on the command line, or nullopt after saying why.
std::optional<jobs::backup::BackupSettings> BackupJob(const CommandLine& cl,
                                                      const scheduler::JobCatalog& catalog) {
  config::LoadResult loaded = config::LoadConfigFile(cl.config_path, LoadOptionsFor(cl, catalog));
  if (!loaded.ok()) {
    std::cerr << loaded.ErrorText();
    return std::nullopt;
  }
  const std::string& name = cl.positional.front();
  const config::JobConfig* job = loaded.config->FindJob(name);
  if (job == nullptr) {
    std::cerr << "jobsd " << cl.command << ": no job named '" << name << "' in " << cl.config_path
              << "\n";
    return std::nullopt;
  }
  const auto* settings = job->Settings<jobs::backup::BackupSettings>();
  if (job->type != "backup" || settings == nullptr) {
    std::cerr << "jobsd " << cl.command << ": " << name << " is a " << job->type
              << " job, not a backup job\n";
    return std::nullopt;
  }
  return *settings;
}

std::string Size(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, units[unit]);
}

}  // namespace

int BackupsCommand(const CommandLine& cl, const scheduler::JobCatalog& catalog) {
  const auto settings = BackupJob(cl, catalog);
  if (!settings) return 2;
  const auto folder = settings->dest / cl.positional.front();
  auto listing = jobs::backup::ListBackups(folder);
  if (!listing) {
    std::cerr << "jobsd backups: " << listing.error().message << "\n";
    return 1;
  }
  for (const std::string& problem : listing->problems) {
    std::cerr << "jobsd backups: not a backup: " << problem << "\n";
  }
  if (cl.json) {
    for (const auto& b : listing->backups) {
      core::JsonWriter json;  // an object already
      json.Key("folder").String(b.folder.string());
      json.Key("taken_at").String(core::FormatRfc3339(b.manifest.taken_at));
      json.Key("verified").Bool(b.manifest.verified);
      json.Key("bytes").Int(static_cast<std::int64_t>(b.manifest.bytes()));
      json.Key("stored_bytes").Int(static_cast<std::int64_t>(b.manifest.stored_bytes()));
      json.Key("where").BeginArray().String("local");
      if (!b.manifest.s3.empty()) json.String(b.manifest.s3);
      json.EndArray();
      json.Key("sources").BeginArray();
      for (const auto& f : b.manifest.files) {
        json.BeginObject()
            .Key("source")
            .String(f.source)
            .Key("kind")
            .String(f.kind)
            .Key("file")
            .String(f.file)
            .Key("bytes")
            .Int(static_cast<std::int64_t>(f.bytes))
            .Key("stored_bytes")
            .Int(static_cast<std::int64_t>(f.stored_bytes))
            .Key("sha256")
            .String(f.sha256)
            .EndObject();
      }
      json.EndArray();
      std::cout << json.Finish() << "\n";
    }
    return 0;
  }
  if (listing->backups.empty()) {
    std::cout << "no backups in " << folder.string() << "\n";
    return 0;
  }
  for (const auto& b : listing->backups) {
    std::string sources;
    for (const auto& f : b.manifest.files) sources += (sources.empty() ? "" : ", ") + f.source;
    std::cout << fmt::format("{}  {}  {} -> {}  {}  {}{}\n", b.folder.filename().string(),
                             core::FormatRfc3339(b.manifest.taken_at), Size(b.manifest.bytes()),
                             Size(b.manifest.stored_bytes()),
                             b.manifest.verified ? "verified" : "not verified", sources,
                             b.manifest.s3.empty() ? "" : "  (also " + b.manifest.s3 + ")");
  }
  return 0;
}

int RestoreCommand(const CommandLine& cl, const scheduler::JobCatalog& catalog) {
  const auto settings = BackupJob(cl, catalog);
  if (!settings) return 2;
  auto listing = jobs::backup::ListBackups(settings->dest / cl.positional.front());
  if (!listing) {
    std::cerr << "jobsd restore: " << listing.error().message << "\n";
    return 1;
  }
  auto backup = jobs::backup::FindBackup(*listing, cl.at);
  if (!backup) {
    std::cerr << "jobsd restore: " << backup.error().message << "\n";
    return 1;
  }
  const auto& files = backup->manifest.files;
  const jobs::backup::StoredFile* file = nullptr;
  for (const auto& f : files) {
    if (f.source == cl.source || (cl.source.empty() && files.size() == 1)) file = &f;
  }
  if (file == nullptr) {
    std::string names;
    for (const auto& f : files) names += (names.empty() ? "" : ", ") + f.source;
    std::cerr << "jobsd restore: "
              << (cl.source.empty() ? "the backup holds several sources: name one with --source"
                                    : "the backup has no source '" + cl.source + "'")
              << " (" << names << ")\n";
    return 1;
  }
  auto restored = jobs::backup::RestoreStoredFile(backup->folder, *file, cl.to, cl.force);
  if (!restored) {
    std::cerr << "jobsd restore: " << restored.error().message << "\n";
    return 1;
  }
  std::cout << fmt::format("restored {} ({}) of backup {} to {}: checked\n", file->source,
                           file->kind, backup->folder.filename().string(), cl.to);
  return 0;
}

}  // namespace jobsd
