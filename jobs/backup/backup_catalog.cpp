#include "jobs/backup/backup_catalog.h"

#include <algorithm>
#include <fstream>
#include <iterator>

#include <boost/json.hpp>

#include "core/json_writer.h"
#include "json/json_fields.h"

namespace jobs::backup {
namespace fs = std::filesystem;

std::uint64_t Manifest::bytes() const {
  std::uint64_t total = 0;
  for (const StoredFile& f : files) total += f.bytes;
  return total;
}

std::uint64_t Manifest::stored_bytes() const {
  std::uint64_t total = 0;
  for (const StoredFile& f : files) total += f.stored_bytes;
  return total;
}

std::string ManifestJson(const Manifest& m) {
  core::JsonWriter json;  // an object already
  json.Key("format").Int(1);
  json.Key("job").String(m.job);
  json.Key("taken_at").String(core::FormatRfc3339(m.taken_at));
  json.Key("jobsd").String(m.jobsd_version);
  json.Key("codec").String(m.codec);
  json.Key("verified").Bool(m.verified);
  json.Key("tools").BeginObject();
  for (const auto& [tool, version] : m.tools) json.Key(tool).String(version);
  json.EndObject();
  json.Key("files").BeginArray();
  for (const StoredFile& f : m.files) {
    json.BeginObject();
    json.Key("source").String(f.source);
    json.Key("kind").String(f.kind);
    json.Key("file").String(f.file);
    json.Key("bytes").Int(static_cast<std::int64_t>(f.bytes));
    json.Key("stored_bytes").Int(static_cast<std::int64_t>(f.stored_bytes));
    json.Key("sha256").String(f.sha256);
    json.EndObject();
  }
  json.EndArray();
  if (!m.s3.empty()) json.Key("s3").String(m.s3);
  return json.Finish() + "\n";
}

core::Result<Manifest> ParseManifest(std::string_view text) {
  auto parsed = json::Parse(text);
  if (!parsed) return core::Unexpected(parsed.error());
  json::Field root(*parsed);
  Manifest m;
  auto job = root.Required<std::string>("job");
  auto taken = root.Required<std::string>("taken_at");
  auto version = root.Optional<std::string>("jobsd");
  auto codec = root.Optional<std::string>("codec");
  auto verified = root.Optional<bool>("verified");
  auto s3 = root.Optional<std::string>("s3");
  for (const auto* problem : {&job, &taken}) {
    if (!*problem) return core::Unexpected(problem->error());
  }
  if (!version) return core::Unexpected(version.error());
  if (!codec) return core::Unexpected(codec.error());
  if (!verified) return core::Unexpected(verified.error());
  if (!s3) return core::Unexpected(s3.error());
  m.job = *job;
  auto t = core::ParseRfc3339(*taken);
  if (!t) return core::Unexpected(t.error());
  m.taken_at = *t;
  m.jobsd_version = version->value_or("");
  m.codec = codec->value_or("");
  m.verified = verified->value_or(false);
  m.s3 = s3->value_or("");
  auto tools = root.Optional<const boost::json::object*>("tools");
  if (!tools) return core::Unexpected(tools.error());
  if (*tools) {
    for (const auto& [name, value] : *(**tools)) {
      if (value.is_string()) m.tools[std::string(name)] = std::string(value.as_string());
    }
  }
  auto files = root.Required("files");
  if (!files) return core::Unexpected(files.error());
  auto elements = files->Elements();
  if (!elements) return core::Unexpected(elements.error());
  for (const json::Field& f : *elements) {
    StoredFile file;
    auto source = f.Required<std::string>("source");
    auto kind = f.Required<std::string>("kind");
    auto name = f.Required<std::string>("file");
    auto bytes = f.Required<std::int64_t>("bytes");
    auto stored = f.Required<std::int64_t>("stored_bytes");
    auto sha = f.Required<std::string>("sha256");
    if (!source) return core::Unexpected(source.error());
    if (!kind) return core::Unexpected(kind.error());
    if (!name) return core::Unexpected(name.error());
    if (!bytes) return core::Unexpected(bytes.error());
    if (!stored) return core::Unexpected(stored.error());
    if (!sha) return core::Unexpected(sha.error());
    // The file name comes from a file someone could have edited: one name
    // inside the folder, nothing else.
    if (name->empty() || name->find('/') != std::string::npos || *name == "." || *name == "..") {
      return core::Unexpected(f.Problem("file: not a file name of the backup folder"));
    }
    file.source = *source;
    file.kind = *kind;
    file.file = *name;
    file.bytes = static_cast<std::uint64_t>(std::max<std::int64_t>(0, *bytes));
    file.stored_bytes = static_cast<std::uint64_t>(std::max<std::int64_t>(0, *stored));
    file.sha256 = *sha;
    m.files.push_back(std::move(file));
  }
  return m;
}

std::string FolderName(core::TimePoint t) {
  // 2026-12-03T03:00:00.123456Z -> 2026-12-03T030000Z
  const std::string text = core::FormatRfc3339(t);
  return text.substr(0, 13) + text.substr(14, 2) + text.substr(17, 2) + "Z";
}

std::optional<core::TimePoint> ParseFolderName(std::string_view name) {
  if (name.size() < 18 || name[10] != 'T' || name[17] != 'Z') return std::nullopt;
  if (name.size() > 18 && name[18] != '-') return std::nullopt;
  const std::string text = std::string(name.substr(0, 13)) + ":" + std::string(name.substr(13, 2)) +
                           ":" + std::string(name.substr(15, 2)) + "Z";
  auto t = core::ParseRfc3339(text);
  if (!t) return std::nullopt;
  return *t;
}

core::Result<Listing> ListBackups(const fs::path& job_folder) {
  Listing listing;
  std::error_code ec;
  if (!fs::exists(job_folder, ec)) return listing;
  for (const fs::directory_entry& entry : fs::directory_iterator(job_folder, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name[0] == '.' || !entry.is_directory()) continue;
    std::ifstream in(entry.path() / kManifestFile, std::ios::binary);
    if (!in) {
      listing.problems.push_back(name + ": no " + kManifestFile);
      continue;
    }
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    auto manifest = ParseManifest(text);
    if (!manifest) {
      listing.problems.push_back(name + ": " + kManifestFile + ": " + manifest.error().message);
      continue;
    }
    listing.backups.push_back({entry.path(), std::move(*manifest)});
  }
  if (ec) {
    return core::Unexpected(core::Error{
        core::ErrorKind::kIo, "cannot list " + job_folder.string() + ": " + ec.message(), false});
  }
  std::sort(listing.backups.begin(), listing.backups.end(),
            [](const BackupFolder& a, const BackupFolder& b) {
              return a.manifest.taken_at != b.manifest.taken_at
                         ? a.manifest.taken_at < b.manifest.taken_at
                         : a.folder < b.folder;
            });
  return listing;
}

core::Result<BackupFolder> FindBackup(const Listing& listing, std::string_view at) {
  if (listing.backups.empty()) {
    return core::Unexpected(core::Error{core::ErrorKind::kNotFound, "there is no backup", false});
  }
  if (at.empty() || at == "latest") return listing.backups.back();
  for (const BackupFolder& b : listing.backups) {
    if (b.folder.filename() == at) return b;
  }
  auto t = core::ParseRfc3339(at);
  if (!t) {
    return core::Unexpected(core::InvalidArgument(
        "--at: expected latest, a time (2026-12-03T03:00:00Z) or a backup's folder name, got '" +
        std::string(at) + "'"));
  }
  const BackupFolder* found = nullptr;
  for (const BackupFolder& b : listing.backups) {
    if (b.manifest.taken_at <= *t) found = &b;
  }
  if (found == nullptr) {
    return core::Unexpected(core::Error{
        core::ErrorKind::kNotFound, "no backup was taken at or before " + std::string(at), false});
  }
  return *found;
}

}  // namespace jobs::backup
