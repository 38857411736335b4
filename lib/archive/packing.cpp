#include "archive/packing.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <system_error>

#include "crypto/hex.h"
#include "crypto/sha256.h"
#include "fs/confined_path.h"

namespace archives {
namespace fs = std::filesystem;
namespace {

constexpr std::size_t kPiece = 64 * 1024;

core::Error IoError(std::string what) {
  return core::Error{core::ErrorKind::kIo, std::move(what), false};
}

core::Error ArchiveError(struct archive* a, const fs::path& file, std::string_view what) {
  const char* message = archive_error_string(a);
  return IoError(std::string(what) + " " + file.string() + ": " +
                 (message ? message : "libarchive failed"));
}

core::Error CancelledError(const fs::path& file) {
  return core::Error{core::ErrorKind::kCancelled, "cancelled while packing " + file.string(),
                     false};
}

struct ArchiveFree {
  void operator()(struct archive* a) const { archive_free(a); }
};
using ArchivePtr = std::unique_ptr<struct archive, ArchiveFree>;
struct EntryFree {
  void operator()(struct archive_entry* e) const { archive_entry_free(e); }
};
using EntryPtr = std::unique_ptr<struct archive_entry, EntryFree>;

// Where libarchive's output goes: a file, hashed and counted as written.
struct Sink {
  int fd = -1;
  crypto::Sha256 sha;
  std::uint64_t bytes = 0;
  int error = 0;
};

la_ssize_t WriteToSink(struct archive*, void* data, const void* buffer, size_t length) {
  auto* sink = static_cast<Sink*>(data);
  const char* p = static_cast<const char*>(buffer);
  std::size_t left = length;
  while (left > 0) {
    const ssize_t n = ::write(sink->fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      sink->error = errno;
      return -1;
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  sink->sha.Update(buffer, length);
  sink->bytes += length;
  return static_cast<la_ssize_t>(length);
}

// A writer on `out` with `codec`; the caller sets the format first.
class Writer {
 public:
  Writer(const fs::path& out, Codec codec, int level) : out_(out) {
    a_.reset(archive_write_new());
    codec_ = codec;
    level_ = level;
  }
  ~Writer() {
    if (sink_.fd >= 0) ::close(sink_.fd);
    if (!done_) {
      std::error_code ec;
      fs::remove(out_, ec);
    }
  }

  struct archive* get() {
    return a_.get();
  }

  core::Result<void> Open() {
    struct archive* a = a_.get();
    int rc = ARCHIVE_OK;
    const std::string level = std::to_string(level_);
    switch (codec_) {
      case Codec::kNone:
        rc = archive_write_add_filter_none(a);
        break;
      case Codec::kGzip:
        rc = archive_write_add_filter_gzip(a);
        if (rc == ARCHIVE_OK)
          rc = archive_write_set_filter_option(a, "gzip", "compression-level", level.c_str());
        break;
      case Codec::kZstd:
        rc = archive_write_add_filter_zstd(a);
        if (rc == ARCHIVE_OK)
          rc = archive_write_set_filter_option(a, "zstd", "compression-level", level.c_str());
        break;
    }
    if (rc != ARCHIVE_OK)
      return core::Unexpected(ArchiveError(a, out_, "cannot set up the compression of"));
    // Written to the file in 64 KiB pieces (libarchive's default of 10 KiB
    // costs a write(2) per 10 KiB), and the last piece not padded: the file
    // holds exactly the stream.
    archive_write_set_bytes_per_block(a, static_cast<int>(kPiece));
    archive_write_set_bytes_in_last_block(a, 1);
    sink_.fd = ::open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (sink_.fd < 0)
      return core::Unexpected(
          IoError("cannot create " + out_.string() + ": " + std::strerror(errno)));
    if (archive_write_open2(a, &sink_, nullptr, WriteToSink, nullptr, nullptr) != ARCHIVE_OK) {
      return core::Unexpected(ArchiveError(a, out_, "cannot write"));
    }
    return {};
  }

  core::Result<void> Check(la_ssize_t rc, std::string_view what) {
    if (rc >= ARCHIVE_WARN) return {};
    if (sink_.error != 0) {
      return core::Unexpected(
          IoError("cannot write " + out_.string() + ": " + std::strerror(sink_.error)));
    }
    return core::Unexpected(ArchiveError(a_.get(), out_, what));
  }

  core::Result<Packed> Finish(Packed packed) {
    if (auto closed = Check(archive_write_close(a_.get()), "cannot finish"); !closed) {
      return core::Unexpected(closed.error());
    }
    if (::fsync(sink_.fd) != 0)
      return core::Unexpected(
          IoError("cannot flush " + out_.string() + ": " + std::strerror(errno)));
    ::close(sink_.fd);
    sink_.fd = -1;
    packed.bytes_out = sink_.bytes;
    packed.sha256 = crypto::Hex(sink_.sha.Finish());
    done_ = true;
    return packed;
  }

 private:
  fs::path out_;
  ArchivePtr a_;
  Codec codec_ = Codec::kNone;
  int level_ = 3;
  Sink sink_;
  bool done_ = false;
};

// Copies the file at `fd` into the archive's current entry.
core::Result<std::uint64_t> CopyData(Writer& writer, int fd, const fs::path& file,
                                     const Cancelled& cancelled) {
  std::array<char, kPiece> buffer;
  std::uint64_t total = 0;
  for (;;) {
    if (cancelled && cancelled()) return core::Unexpected(CancelledError(file));
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return core::Unexpected(
          IoError("cannot read " + file.string() + ": " + std::strerror(errno)));
    }
    if (n == 0) return total;
    if (auto ok =
            writer.Check(archive_write_data(writer.get(), buffer.data(), static_cast<size_t>(n)),
                         "cannot write");
        !ok) {
      return core::Unexpected(ok.error());
    }
    total += static_cast<std::uint64_t>(n);
  }
}

ArchivePtr Reader(bool raw) {
  ArchivePtr a(archive_read_new());
  archive_read_support_filter_all(a.get());
  if (raw) {
    archive_read_support_format_raw(a.get());
  } else {
    archive_read_support_format_tar(a.get());
  }
  return a;
}

// The bytes of `in` into `out` as they are, hashed (a file stored with
// codec none).
core::Result<Packed> CopyFile(const fs::path& in, const fs::path& out, const Cancelled& cancelled,
                              bool hash) {
  const int from = ::open(in.c_str(), O_RDONLY | O_CLOEXEC);
  if (from < 0)
    return core::Unexpected(IoError("cannot open " + in.string() + ": " + std::strerror(errno)));
  const int to = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (to < 0) {
    ::close(from);
    return core::Unexpected(IoError("cannot create " + out.string() + ": " + std::strerror(errno)));
  }
  Sink sink;
  sink.fd = to;
  std::array<char, kPiece> buffer;
  core::Result<Packed> result = Packed{};
  for (;;) {
    if (cancelled && cancelled()) {
      result = core::Unexpected(CancelledError(in));
      break;
    }
    const ssize_t n = ::read(from, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      result =
          core::Unexpected(IoError("cannot read " + in.string() + ": " + std::strerror(errno)));
      break;
    }
    if (n == 0) break;
    if (WriteToSink(nullptr, &sink, buffer.data(), static_cast<size_t>(n)) < 0) {
      result = core::Unexpected(
          IoError("cannot write " + out.string() + ": " + std::strerror(sink.error)));
      break;
    }
  }
  if (result && ::fsync(to) != 0)
    result = core::Unexpected(IoError("cannot flush " + out.string()));
  ::close(from);
  ::close(to);
  if (!result) {
    std::error_code ec;
    fs::remove(out, ec);
    return result;
  }
  result->bytes_in = sink.bytes;
  result->bytes_out = sink.bytes;
  result->files = 1;
  if (hash) result->sha256 = crypto::Hex(sink.sha.Finish());
  return result;
}

// zstd and gzip streams start with their magic numbers; anything else was
// stored as it was.
bool IsCompressed(const fs::path& file) {
  unsigned char magic[4] = {};
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return true;  // let libarchive say what is wrong
  const ssize_t n = ::read(fd, magic, sizeof magic);
  ::close(fd);
  if (n >= 4 && magic[0] == 0x28 && magic[1] == 0xB5 && magic[2] == 0x2F && magic[3] == 0xFD)
    return true;
  return n >= 2 && magic[0] == 0x1F && magic[1] == 0x8B;
}

}  // namespace

std::string_view CodecExtension(Codec codec) {
  switch (codec) {
    case Codec::kNone:
      return "";
    case Codec::kGzip:
      return ".gz";
    case Codec::kZstd:
      return ".zst";
  }
  return "";
}

std::string_view CodecName(Codec codec) {
  switch (codec) {
    case Codec::kNone:
      return "none";
    case Codec::kGzip:
      return "gzip";
    case Codec::kZstd:
      return "zstd";
  }
  return "none";
}

core::Result<Packed> CompressFile(const fs::path& in, const fs::path& out, Codec codec, int level,
                                  const Cancelled& cancelled) {
  if (codec == Codec::kNone) return CopyFile(in, out, cancelled, true);
  const int fd = ::open(in.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return core::Unexpected(IoError("cannot open " + in.string() + ": " + std::strerror(errno)));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return core::Unexpected(IoError("cannot stat " + in.string()));
  Writer writer(out, codec, level);
  if (archive_write_set_format_raw(writer.get()) != ARCHIVE_OK) {
    return core::Unexpected(ArchiveError(writer.get(), out, "cannot set up"));
  }
  if (auto opened = writer.Open(); !opened) return core::Unexpected(opened.error());
  EntryPtr entry(archive_entry_new());
  archive_entry_set_pathname(entry.get(), "data");
  archive_entry_set_filetype(entry.get(), AE_IFREG);
  archive_entry_set_perm(entry.get(), 0600);
  archive_entry_set_size(entry.get(), st.st_size);
  if (auto ok = writer.Check(archive_write_header(writer.get(), entry.get()), "cannot write");
      !ok) {
    return core::Unexpected(ok.error());
  }
  auto copied = CopyData(writer, fd, in, cancelled);
  if (!copied) return core::Unexpected(copied.error());
  Packed packed;
  packed.bytes_in = *copied;
  packed.files = 1;
  return writer.Finish(packed);
}

core::Result<Packed> TarFolder(const fs::path& folder, const fs::path& out, Codec codec, int level,
                               const Cancelled& cancelled) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) {
    return core::Unexpected(IoError(folder.string() + " is not a folder"));
  }
  Writer writer(out, codec, level);
  if (archive_write_set_format_pax_restricted(writer.get()) != ARCHIVE_OK) {
    return core::Unexpected(ArchiveError(writer.get(), out, "cannot set up"));
  }
  if (auto opened = writer.Open(); !opened) return core::Unexpected(opened.error());
  ArchivePtr disk(archive_read_disk_new());
  archive_read_disk_set_symlink_physical(disk.get());  // links are stored, never followed
  Packed packed;
  fs::recursive_directory_iterator it(folder, fs::directory_options::none, ec);
  if (ec) return core::Unexpected(IoError("cannot list " + folder.string() + ": " + ec.message()));
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec)
      return core::Unexpected(IoError("cannot list " + folder.string() + ": " + ec.message()));
    if (cancelled && cancelled()) return core::Unexpected(CancelledError(folder));
    const fs::path& path = it->path();
    const fs::file_status status = it->symlink_status(ec);
    if (ec) continue;  // gone while listed
    if (!fs::is_regular_file(status) && !fs::is_directory(status) && !fs::is_symlink(status)) {
      ++packed.skipped;
      continue;
    }
    int fd = -1;
    if (fs::is_regular_file(status)) {
      fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) {
        if (errno == ENOENT) continue;  // removed while listed
        return core::Unexpected(
            IoError("cannot open " + path.string() + ": " + std::strerror(errno)));
      }
    }
    struct Closer {
      int fd;
      ~Closer() {
        if (fd >= 0) ::close(fd);
      }
    } closer{fd};
    EntryPtr entry(archive_entry_new());
    archive_entry_copy_sourcepath(entry.get(), path.c_str());
    if (archive_read_disk_entry_from_file(disk.get(), entry.get(), fd, nullptr) != ARCHIVE_OK) {
      return core::Unexpected(ArchiveError(disk.get(), path, "cannot read the metadata of"));
    }
    archive_entry_copy_pathname(entry.get(), path.lexically_relative(folder).c_str());
    if (auto ok = writer.Check(archive_write_header(writer.get(), entry.get()), "cannot write");
        !ok) {
      return core::Unexpected(ok.error());
    }
    ++packed.files;
    if (fd >= 0) {
      auto copied = CopyData(writer, fd, path, cancelled);
      if (!copied) return core::Unexpected(copied.error());
      packed.bytes_in += *copied;
    }
  }
  return writer.Finish(packed);
}

core::Result<std::uint64_t> DecompressFile(const fs::path& in, const fs::path& out,
                                           const Cancelled& cancelled) {
  if (!IsCompressed(in)) {
    auto copied = CopyFile(in, out, cancelled, false);
    if (!copied) return core::Unexpected(copied.error());
    return copied->bytes_out;
  }
  ArchivePtr a = Reader(true);
  if (archive_read_open_filename(a.get(), in.c_str(), kPiece) != ARCHIVE_OK) {
    return core::Unexpected(ArchiveError(a.get(), in, "cannot read"));
  }
  const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return core::Unexpected(IoError("cannot create " + out.string() + ": " + std::strerror(errno)));
  bool ok = false;
  struct Cleanup {
    int fd;
    const fs::path& out;
    bool& ok;
    ~Cleanup() {
      ::close(fd);
      if (!ok) {
        std::error_code ec;
        fs::remove(out, ec);
      }
    }
  } cleanup{fd, out, ok};
  struct archive_entry* entry = nullptr;
  const int header = archive_read_next_header(a.get(), &entry);
  std::uint64_t total = 0;
  if (header == ARCHIVE_EOF) {
    ok = true;
    return total;
  }
  if (header < ARCHIVE_WARN) return core::Unexpected(ArchiveError(a.get(), in, "cannot read"));
  std::array<char, kPiece> buffer;
  for (;;) {
    if (cancelled && cancelled()) return core::Unexpected(CancelledError(in));
    const la_ssize_t n = archive_read_data(a.get(), buffer.data(), buffer.size());
    if (n < 0) return core::Unexpected(ArchiveError(a.get(), in, "damaged data in"));
    if (n == 0) break;
    const char* p = buffer.data();
    std::size_t left = static_cast<std::size_t>(n);
    while (left > 0) {
      const ssize_t w = ::write(fd, p, left);
      if (w < 0) {
        if (errno == EINTR) continue;
        return core::Unexpected(
            IoError("cannot write " + out.string() + ": " + std::strerror(errno)));
      }
      p += w;
      left -= static_cast<std::size_t>(w);
    }
    total += static_cast<std::uint64_t>(n);
  }
  if (::fsync(fd) != 0) return core::Unexpected(IoError("cannot flush " + out.string()));
  ok = true;
  return total;
}

core::Result<std::uint64_t> ReadTarThrough(const fs::path& in) {
  ArchivePtr a = Reader(false);
  if (archive_read_open_filename(a.get(), in.c_str(), kPiece) != ARCHIVE_OK) {
    return core::Unexpected(ArchiveError(a.get(), in, "cannot read"));
  }
  std::uint64_t entries = 0;
  std::array<char, kPiece> buffer;
  for (;;) {
    struct archive_entry* entry = nullptr;
    const int rc = archive_read_next_header(a.get(), &entry);
    if (rc == ARCHIVE_EOF) return entries;
    if (rc < ARCHIVE_WARN) return core::Unexpected(ArchiveError(a.get(), in, "damaged tar"));
    ++entries;
    for (;;) {
      const la_ssize_t n = archive_read_data(a.get(), buffer.data(), buffer.size());
      if (n < 0) return core::Unexpected(ArchiveError(a.get(), in, "damaged tar"));
      if (n == 0) break;
    }
  }
}

core::Result<std::uint64_t> ExtractTar(const fs::path& in, const fs::path& folder) {
  ArchivePtr a = Reader(false);
  if (archive_read_open_filename(a.get(), in.c_str(), kPiece) != ARCHIVE_OK) {
    return core::Unexpected(ArchiveError(a.get(), in, "cannot read"));
  }
  ArchivePtr disk(archive_write_disk_new());
  archive_write_disk_set_options(disk.get(), ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |
                                                 ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                                 ARCHIVE_EXTRACT_SECURE_NODOTDOT);
  std::uint64_t entries = 0;
  for (;;) {
    struct archive_entry* entry = nullptr;
    const int rc = archive_read_next_header(a.get(), &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) return core::Unexpected(ArchiveError(a.get(), in, "damaged tar"));
    const char* name = archive_entry_pathname(entry);
    auto target = files::ConfinedPath(folder, name ? name : "");
    if (!target) {
      return core::Unexpected(core::Error{core::ErrorKind::kInvalidArgument,
                                          in.string() + ": refusing the entry '" +
                                              std::string(name ? name : "") +
                                              "': " + target.error().message,
                                          false});
    }
    archive_entry_copy_pathname(entry, target->c_str());
    if (archive_write_header(disk.get(), entry) < ARCHIVE_WARN) {
      return core::Unexpected(ArchiveError(disk.get(), *target, "cannot extract"));
    }
    const void* block = nullptr;
    size_t size = 0;
    la_int64_t offset = 0;
    for (;;) {
      const int r = archive_read_data_block(a.get(), &block, &size, &offset);
      if (r == ARCHIVE_EOF) break;
      if (r < ARCHIVE_WARN) return core::Unexpected(ArchiveError(a.get(), in, "damaged tar"));
      if (archive_write_data_block(disk.get(), block, size, offset) < ARCHIVE_WARN) {
        return core::Unexpected(ArchiveError(disk.get(), *target, "cannot write"));
      }
    }
    if (archive_write_finish_entry(disk.get()) < ARCHIVE_WARN) {
      return core::Unexpected(ArchiveError(disk.get(), *target, "cannot finish"));
    }
    ++entries;
  }
  if (archive_write_close(disk.get()) < ARCHIVE_WARN) {
    return core::Unexpected(ArchiveError(disk.get(), folder, "cannot finish extracting into"));
  }
  return entries;
}

}  // namespace archives
