#include "jobs/backup/stored_file.h"

#include <unistd.h>

#include <system_error>

#include "archive/packing.h"
#include "crypto/sha256.h"
#include "process/child_process.h"
#include "sqlite/database.h"
#include "sqlite/statement.h"

namespace jobs::backup {
namespace fs = std::filesystem;
namespace {

core::Error Damaged(const fs::path& folder, const StoredFile& file, const std::string& what) {
  return core::Error{core::ErrorKind::kInvalidArgument,
                     "backup " + folder.filename().string() + ": " + file.file + ": " + what,
                     false};
}

core::Result<void> CheckSqlite(const fs::path& db, const fs::path& folder, const StoredFile& file) {
  auto opened = sqlite::Database::Open(db, sqlite::Database::Mode::kReadOnly);
  if (!opened) return core::Unexpected(Damaged(folder, file, opened.error().message));
  auto stmt = opened->Prepare("PRAGMA integrity_check");
  if (!stmt) return core::Unexpected(Damaged(folder, file, stmt.error().message));
  auto row = stmt->Step();
  if (!row) return core::Unexpected(Damaged(folder, file, row.error().message));
  const std::string answer = *row ? stmt->Text(0) : "no answer";
  if (answer != "ok") return core::Unexpected(Damaged(folder, file, "integrity_check: " + answer));
  return {};
}

core::Result<void> CheckDump(const fs::path& dump, const fs::path& folder, const StoredFile& file) {
  process::Command list;
  list.argv = {"pg_restore", "--list", dump.string()};
  list.stdout_file = "/dev/null";
  auto outcome = process::Run(list);
  if (!outcome) return core::Unexpected(Damaged(folder, file, outcome.error().message));
  if (!outcome->Succeeded()) {
    return core::Unexpected(Damaged(folder, file, "pg_restore --list: " + outcome->LastLine()));
  }
  return {};
}

// Checks what `plain` (the stored file decompressed) holds.
core::Result<void> CheckContent(const fs::path& plain, const fs::path& folder,
                                const StoredFile& file) {
  if (file.kind == "sqlite" || file.kind == "state") return CheckSqlite(plain, folder, file);
  if (file.kind == "postgres") return CheckDump(plain, folder, file);
  return {};
}

core::Result<void> CheckSha(const fs::path& stored, const fs::path& folder,
                            const StoredFile& file) {
  auto sha = crypto::Sha256OfFile(stored);
  if (!sha) return core::Unexpected(Damaged(folder, file, sha.error().message));
  if (*sha != file.sha256) {
    return core::Unexpected(Damaged(
        folder, file, "its SHA-256 is not the manifest's: the stored file was changed or damaged"));
  }
  return {};
}

}  // namespace

core::Result<void> VerifyStoredFile(const fs::path& folder, const StoredFile& file,
                                    const fs::path& scratch, const Cancelled& cancelled) {
  const fs::path stored = folder / file.file;
  if (auto sha = CheckSha(stored, folder, file); !sha) return sha;
  if (file.kind == "files") {
    auto read = archives::ReadTarThrough(stored);
    if (!read) return core::Unexpected(Damaged(folder, file, read.error().message));
    return {};
  }
  const fs::path plain = scratch / ("verify-" + file.file);
  auto unpacked = archives::DecompressFile(stored, plain, cancelled);
  if (!unpacked) return core::Unexpected(Damaged(folder, file, unpacked.error().message));
  auto checked = CheckContent(plain, folder, file);
  std::error_code ec;
  fs::remove(plain, ec);
  return checked;
}

core::Result<void> RestoreStoredFile(const fs::path& folder, const StoredFile& file,
                                     const fs::path& to, bool force) {
  std::error_code ec;
  if (fs::exists(fs::symlink_status(to, ec)) && !force) {
    return core::Unexpected(core::InvalidArgument(
        to.string() + " exists; restore over it with --force, or choose another --to"));
  }
  const fs::path stored = folder / file.file;
  if (auto sha = CheckSha(stored, folder, file); !sha) return sha;
  const fs::path parent = to.has_parent_path() ? to.parent_path() : fs::path(".");
  const fs::path temporary =
      parent / (".restore-" + std::to_string(::getpid()) + "-" + to.filename().string());
  fs::remove_all(temporary, ec);
  auto fail = [&](core::Error error) {
    std::error_code ignored;
    fs::remove_all(temporary, ignored);
    return core::Unexpected(std::move(error));
  };
  if (file.kind == "files") {
    fs::create_directories(temporary, ec);
    if (ec) return fail({core::ErrorKind::kIo, "cannot create " + temporary.string(), false});
    auto extracted = archives::ExtractTar(stored, temporary);
    if (!extracted) return fail(Damaged(folder, file, extracted.error().message));
  } else {
    auto unpacked = archives::DecompressFile(stored, temporary);
    if (!unpacked) return fail(Damaged(folder, file, unpacked.error().message));
    if (auto checked = CheckContent(temporary, folder, file); !checked) {
      return fail(checked.error());
    }
  }
  if (force) fs::remove_all(to, ec);
  if (::rename(temporary.c_str(), to.c_str()) != 0) {
    return fail({core::ErrorKind::kIo, "cannot move the restored copy to " + to.string(), false});
  }
  return {};
}

}  // namespace jobs::backup
