// Extracts a zip archive that came from outside (a CI artifact built by
// someone else) into a staging folder, never writing outside it.
//
// What is extracted is what the central directory lists (libarchive's
// seekable zip reader; the directory is also read raw, so that libarchive's
// normalizations cannot hide a name or a file type), each entry checked
// before anything of it is written.
// Refused, each with an Error that names the archive, the entry (its number
// in the order the archive stores entries, and its name with control
// characters escaped) and the rule:
//   - names that are absolute, contain a backslash or a NUL byte, have an
//     empty component, a component over 255 bytes, or a ".." that would
//     leave the folder (files::ConfinedPath; "..foo" is an ordinary name);
//   - symlinks, hard links, device files, FIFOs, sockets (Unix modes in the
//     external attributes), encrypted entries;
//   - two entries with one name after normalization ("a/b" and "a/./b"), a
//     file where an earlier entry made a folder, or a path through a file;
//   - more than ExtractLimits::max_entries entries, or a central directory
//     over 64 MiB.
// Every file and folder is created new (O_EXCL, mkdirat) relative to an
// open descriptor of its parent, opened with O_NOFOLLOW: a symlink put in
// the tree by someone else meanwhile makes the extraction fail; it is never
// followed.
//
// Limits: the bytes written are counted as they are decompressed, and the
// extraction stops before the write that would take the total over
// max_bytes or over max_ratio times the archive's size: a zip bomb writes at
// most max_bytes, never its whole content. Memory stays flat whatever the
// sizes (data is streamed block by block).
//
// Files get mode 0644, or 0755 when the entry has any executable bit;
// folders 0755; modification times come from the entries when they have
// them. Nothing is fsynced: the caller, who made `folder` beside the final
// destination, fsyncs and renames it into place (see fs/folder_swap.h).
//
// Blocking (disk I/O, decompression): worker threads only. Each call owns
// its descriptors and libarchive handle; calls on different folders may run
// at once.
//
// Failure (core::Error):
//   - a refused entry or a crossed limit: kInvalidArgument, not retryable
//     ("artifact.zip: entry #3 '../x': '..' leads outside");
//   - a file that is not a zip at all (an HTML error page saved as .zip):
//     kInvalidArgument, the message shows its first bytes in hex;
//   - a damaged archive (truncated, bad CRC, bad central directory): kIo,
//     retryable ("damaged zip archive (truncated download?): ...");
//   - `cancelled` returned true: kCancelled;
//   - the archive cannot be read or a file cannot be written: kIo naming it.
// On any failure whatever was written stays in `folder`: the caller removes
// the staging folder.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>

#include "core/result.h"

// Not `archive`: libarchive's `struct archive` has that name in the global
// namespace (as lib/fs is namespace files).
namespace archives {

struct ExtractLimits {
  std::uint64_t max_bytes = std::uint64_t(4) << 30;  // total extracted size
  double max_ratio = 100;              // extracted bytes / archive file size; 0 turns the check off
  std::uint64_t max_entries = 100000;  // files and folders the archive lists
};

struct ExtractReport {
  std::uint64_t files = 0;
  std::uint64_t folders = 0;  // folder entries and the folders made for files' paths
  std::uint64_t bytes = 0;    // extracted content
  std::uint64_t archive_bytes = 0;
};

// Whether `file` starts like a zip archive: a local file header, or the end
// record of an empty archive. kIo (kNotFound when missing) if it cannot be
// read.
core::Result<bool> IsZipFile(const std::filesystem::path& file);

// Extracts `zip` into `folder`, which must exist and be empty. `cancelled`
// is polled between entries and data blocks.
core::Result<ExtractReport> ExtractZip(const std::filesystem::path& zip,
                                       const std::filesystem::path& folder,
                                       const ExtractLimits& limits,
                                       const std::function<bool()>& cancelled = {});

}  // namespace archives
