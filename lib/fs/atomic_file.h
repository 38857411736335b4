// Files that are either wholly written or not there: a reader (or the next
// run after a kill -9) sees the previous content or the new one, never half.
//
// AtomicFileWriter writes under a temporary name in the target's folder
// ("<name>.part-<pid>-<n>"), and Commit() fsyncs it, renames it over the
// target and fsyncs the folder, so the rename itself survives a power cut.
// A writer destroyed without Commit() (an error, a cancelled run, an
// exception) removes its temporary file and leaves the target untouched. A
// kill -9 mid-write can leave a stray "*.part-*" file, never a torn target.
//
// Blocking (disk I/O): worker threads only. One writer is used by one thread
// at a time; it owns its file descriptor and its temporary file.
// Failure: every call returns an Error of kind kIo naming the target and the
// system's reason; after a failed Write() the writer can only be abandoned.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string_view>

#include "core/result.h"

namespace files {

class AtomicFileWriter {
 public:
  // Creates the temporary file beside `target` (whose folder must exist).
  static core::Result<AtomicFileWriter> Create(const std::filesystem::path& target,
                                               mode_t mode = 0644);

  AtomicFileWriter(AtomicFileWriter&& other) noexcept;
  AtomicFileWriter& operator=(AtomicFileWriter&& other) noexcept;
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  // Abandons an uncommitted file.
  ~AtomicFileWriter();

  // Appends to the temporary file (no buffering of its own: give it chunks).
  core::Result<void> Write(std::string_view data);
  core::Result<void> Write(const void* data, std::size_t size);
  // fsync, close, rename over the target, fsync the folder. Once only; after
  // it the writer is empty.
  core::Result<void> Commit();
  // Removes the temporary file now; the target stays as it was.
  void Abandon();

  const std::filesystem::path& target() const { return target_; }
  const std::filesystem::path& temp_path() const { return temp_; }
  std::uint64_t size() const { return size_; }

 private:
  AtomicFileWriter(std::filesystem::path target, std::filesystem::path temp, int fd);
  core::Result<void> Fail(const char* what);

  std::filesystem::path target_;
  std::filesystem::path temp_;  // empty once committed or abandoned
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

// The whole of `content` as `target`, atomically (AtomicFileWriter in one go).
core::Result<void> WriteFileAtomically(const std::filesystem::path& target,
                                       std::string_view content, mode_t mode = 0644);

// fsync of a folder, so that renames and creations in it are durable.
core::Result<void> SyncFolder(const std::filesystem::path& folder);

}  // namespace files
