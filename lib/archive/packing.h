// Files and folders packed for keeping (the backup job and `jobsd restore`):
// a file compressed as one stream, a folder as a tar archive, both with
// zstd, gzip or nothing, and the way back.
//
// Everything streams through libarchive in 64 KiB pieces (memory stays flat
// whatever the size), and what is written is hashed as it is written (the
// SHA-256 of the stored file, for the backup's manifest). Output goes to
// the path given, which the caller makes final by renaming; a failed or
// cancelled call removes what it wrote.
//
// Folders: regular files, directories and symlinks (stored as links, never
// followed); other kinds (sockets, devices, FIFOs) are skipped and counted.
// Extraction (ExtractTar) refuses absolute paths, `..` and paths through
// symlinks (libarchive's secure extraction flags), so a tar from a backup
// folder someone else could write lands under `folder` only.
//
// Integrity: a stream cut short is an error on the way back, but a changed
// byte inside a zstd frame may decompress without one (libarchive writes
// frames without a content checksum): the SHA-256 of the stored file, kept
// in the backup's manifest, is what proves it intact.
//
// Blocking; any thread. Errors (kIo, or kInvalidArgument for data that is
// not what it claims) name the file and what libarchive said; cancellation
// is kCancelled.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace archives {

enum class Codec { kNone, kGzip, kZstd };
// "", ".gz", ".zst": what the stored file's name ends with.
std::string_view CodecExtension(Codec codec);
std::string_view CodecName(Codec codec);  // "none", "gzip", "zstd"

struct Packed {
  std::uint64_t bytes_in = 0;   // before compression (for a folder: its files' bytes)
  std::uint64_t bytes_out = 0;  // the stored file
  std::string sha256;           // of the stored file, lowercase hex
  std::uint64_t files = 0;      // entries written (1 for a file)
  std::uint64_t skipped = 0;    // entries of a kind a tar does not keep
};

using Cancelled = std::function<bool()>;

// `level`: zstd 1..19, gzip 1..9; ignored for kNone.
core::Result<Packed> CompressFile(const std::filesystem::path& in, const std::filesystem::path& out,
                                  Codec codec, int level, const Cancelled& cancelled = {});
core::Result<Packed> TarFolder(const std::filesystem::path& folder,
                               const std::filesystem::path& out, Codec codec, int level,
                               const Cancelled& cancelled = {});

// The way back; the codec is recognised from the data. Returns the bytes
// (or entries, for a tar) written.
core::Result<std::uint64_t> DecompressFile(const std::filesystem::path& in,
                                           const std::filesystem::path& out,
                                           const Cancelled& cancelled = {});
// Reads a (compressed) tar to its end without writing anything: a damaged
// or truncated archive is an error. Returns its entries.
core::Result<std::uint64_t> ReadTarThrough(const std::filesystem::path& in);
core::Result<std::uint64_t> ExtractTar(const std::filesystem::path& in,
                                       const std::filesystem::path& folder);

}  // namespace archives
