// Design: libarchive's seekable zip reader walks the central directory, and
// each entry is checked (type, name, conflicts with earlier entries) before
// anything of it is created. Before libarchive runs, the central directory is
// read once more here, raw, because libarchive's view hides some hostile
// entries: it hands names over as C strings (a NUL byte in "a\0/../../x"
// reaches us cut short), turns backslashes into '/', and makes a FIFO's
// Unix mode a regular file. The raw pass refuses those, and caps the entry
// count before libarchive loads the whole directory into memory. It numbers
// entries in central directory order, libarchive in the order of their data;
// the two agree for every ordinary writer.
//
// Nothing is created through a path: every folder is opened with O_NOFOLLOW
// relative to its parent's descriptor, starting from the destination's, and
// every file and folder is created new (O_EXCL, mkdirat). The map of names
// made so far decides conflicts with a clear message; the kernel's EEXIST,
// ELOOP or ENOTDIR is the backstop against anything changed meanwhile.
#include "archive/zip_extractor.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fs/confined_path.h"

namespace archives {
namespace {

namespace stdfs = std::filesystem;

constexpr std::size_t kReadBlock = 64 * 1024;
constexpr std::uint64_t kMaxCentralDirectory = std::uint64_t(64) << 20;
constexpr std::size_t kMaxComponent = 255;  // NAME_MAX
constexpr std::string_view kDamaged = "damaged zip archive (truncated download?): ";

// Zip signatures, little-endian.
constexpr std::uint32_t kLocalHeader = 0x04034b50;
constexpr std::uint32_t kCentralHeader = 0x02014b50;
constexpr std::uint32_t kEndRecord = 0x06054b50;
constexpr std::uint32_t kZip64EndRecord = 0x06064b50;
constexpr std::uint32_t kZip64Locator = 0x07064b50;
constexpr unsigned char kMadeByUnix = 3;  // high byte of "version made by"

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      Close();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Close(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // close(2)'s own result, for files whose last write it may report.
  int Release() { return fd_ < 0 ? 0 : ::close(std::exchange(fd_, -1)); }

 private:
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd_ = -1;
};

struct ReaderFree {
  void operator()(struct archive* a) const { archive_read_free(a); }
};
using Reader = std::unique_ptr<struct archive, ReaderFree>;

std::uint16_t U16(const unsigned char* p) { return std::uint16_t(p[0] | (p[1] << 8)); }
std::uint32_t U32(const unsigned char* p) {
  return std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8 | std::uint32_t(p[2]) << 16 |
         std::uint32_t(p[3]) << 24;
}
std::uint64_t U64(const unsigned char* p) { return U32(p) | std::uint64_t(U32(p + 4)) << 32; }

// Control characters as \xNN, so that a name cannot forge a log line.
std::string Shown(std::string_view name) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 15];
    } else {
      out += c;
    }
  }
  return out;
}

std::string Hex(const unsigned char* data, std::size_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < size; ++i) {
    if (i) out += ' ';
    out += kHex[data[i] >> 4];
    out += kHex[data[i] & 15];
  }
  return out;
}

core::Error IoError(const std::string& what, int error) {
  return core::Error{core::ErrorKind::kIo, what + ": " + std::strerror(error), false};
}

core::Error Damaged(const std::string& where, std::string_view why) {
  return core::Error{core::ErrorKind::kIo, where + ": " + std::string(kDamaged) + std::string(why),
                     true};
}

core::Error CancelledError(const std::string& zip) {
  return core::Error{core::ErrorKind::kCancelled, zip + ": extraction cancelled", false};
}

// Reads exactly `size` bytes at `offset`; false at the end of the file.
core::Result<bool> ReadAt(int fd, unsigned char* out, std::size_t size, std::uint64_t offset,
                          const stdfs::path& file) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd, out + done, size - done, off_t(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return core::Unexpected(IoError("cannot read " + file.string(), errno));
    if (n == 0) return false;
    done += std::size_t(n);
  }
  return true;
}

bool StartsLikeZip(const unsigned char* head, std::size_t size) {
  return size >= 4 && (U32(head) == kLocalHeader || U32(head) == kEndRecord);
}

core::Result<Fd> OpenZip(const stdfs::path& zip) {
  Fd fd(::open(zip.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    core::Error error = IoError("cannot open zip archive " + zip.string(), errno);
    if (errno == ENOENT) error.kind = core::ErrorKind::kNotFound;
    return core::Unexpected(std::move(error));
  }
  return fd;
}

// The raw walk over the central directory described at the top of the file;
// the number of entries it lists.
core::Result<std::uint64_t> CheckCentralDirectory(int fd, std::uint64_t size,
                                                  const stdfs::path& zip, const std::string& shown,
                                                  const ExtractLimits& limits) {
  const auto bad = [&](const std::string& why) {
    return core::Unexpected(Damaged(shown, "bad central directory: " + why));
  };
  // The end record is the last 22 bytes but for a comment of up to 64 KiB.
  const std::uint64_t tail_size = std::min<std::uint64_t>(size, 22 + 0xffff);
  std::vector<unsigned char> tail(tail_size);
  auto read = ReadAt(fd, tail.data(), tail.size(), size - tail_size, zip);
  if (!read) return core::Unexpected(read.error());
  if (!*read) return bad("the file shrank while being read");
  std::int64_t end = -1;
  for (std::int64_t i = std::int64_t(tail_size) - 22; i >= 0; --i) {
    const unsigned char* p = tail.data() + i;
    if (U32(p) == kEndRecord && std::uint64_t(i) + 22 + U16(p + 20) <= tail_size) {
      end = i;
      break;
    }
  }
  if (end < 0) return bad("no end of central directory record");
  const unsigned char* record = tail.data() + end;
  const std::uint64_t end_offset = size - tail_size + std::uint64_t(end);
  std::uint64_t entries = U16(record + 10);
  std::uint64_t cd_size = U32(record + 12);
  std::uint64_t cd_offset = U32(record + 16);
  if (entries == 0xffff || cd_size == 0xffffffff || cd_offset == 0xffffffff) {
    std::array<unsigned char, 20> locator{};
    if (end_offset < locator.size()) return bad("no zip64 end record locator");
    read = ReadAt(fd, locator.data(), locator.size(), end_offset - locator.size(), zip);
    if (!read) return core::Unexpected(read.error());
    if (!*read || U32(locator.data()) != kZip64Locator) return bad("no zip64 end record locator");
    std::array<unsigned char, 56> record64{};
    read = ReadAt(fd, record64.data(), record64.size(), U64(locator.data() + 8), zip);
    if (!read) return core::Unexpected(read.error());
    if (!*read || U32(record64.data()) != kZip64EndRecord) return bad("no zip64 end record");
    entries = U64(record64.data() + 32);
    cd_size = U64(record64.data() + 40);
    cd_offset = U64(record64.data() + 48);
  }
  if (entries > limits.max_entries) {
    return core::Unexpected(core::InvalidArgument(
        shown + ": it lists " + std::to_string(entries) + " entries, more than the limit of " +
        std::to_string(limits.max_entries) + " (max_entries)"));
  }
  if (cd_offset > end_offset || cd_size > end_offset - cd_offset) {
    return bad("it lies outside the file");
  }
  if (cd_size > kMaxCentralDirectory) {
    return core::Unexpected(core::InvalidArgument(shown + ": its central directory of " +
                                                  std::to_string(cd_size) + " bytes is over " +
                                                  std::to_string(kMaxCentralDirectory) + " bytes"));
  }
  std::vector<unsigned char> cd(cd_size);
  read = ReadAt(fd, cd.data(), cd.size(), cd_offset, zip);
  if (!read) return core::Unexpected(read.error());
  if (!*read) return bad("the file shrank while being read");
  std::size_t pos = 0;
  for (std::uint64_t i = 0; i < entries; ++i) {
    if (cd.size() - pos < 46 || U32(cd.data() + pos) != kCentralHeader) {
      return bad("entry #" + std::to_string(i + 1) + " is not where the directory says");
    }
    const std::size_t name_size = U16(cd.data() + pos + 28);
    const std::size_t rest = name_size + U16(cd.data() + pos + 30) + U16(cd.data() + pos + 32);
    if (cd.size() - pos - 46 < rest) {
      return bad("entry #" + std::to_string(i + 1) + " runs past its end");
    }
    const unsigned char* header = cd.data() + pos;
    const std::string_view name(reinterpret_cast<const char*>(header + 46), name_size);
    const auto refuse = [&](const std::string& why) {
      return core::Unexpected(core::InvalidArgument(shown + ": entry #" + std::to_string(i + 1) +
                                                    " '" + Shown(name) + "': " + why));
    };
    if (name.find('\0') != std::string_view::npos) return refuse("it contains a NUL byte");
    // libarchive turns '\\' into '/' and FIFOs into files before we see them.
    if (name.find('\\') != std::string_view::npos) return refuse("it contains a backslash");
    if (header[5] == kMadeByUnix) {
      switch ((U32(header + 38) >> 16) & S_IFMT) {
        case 0:
        case S_IFREG:
        case S_IFDIR:
          break;
        case S_IFLNK:
          return refuse("it is a symlink");
        case S_IFCHR:
        case S_IFBLK:
          return refuse("it is a device file");
        case S_IFIFO:
          return refuse("it is a FIFO");
        case S_IFSOCK:
          return refuse("it is a socket");
        default:
          return refuse("it has an unknown file type");
      }
    }
    pos += 46 + rest;
  }
  return entries;
}

core::Result<Fd> OpenEmptyFolder(const stdfs::path& folder) {
  Fd fd(::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return core::Unexpected(IoError("cannot open folder " + folder.string(), errno));
  const int listing = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0);
  DIR* dir = listing < 0 ? nullptr : ::fdopendir(listing);
  if (dir == nullptr) {
    const int error = errno;
    if (listing >= 0) ::close(listing);
    return core::Unexpected(IoError("cannot list folder " + folder.string(), error));
  }
  bool empty = true;
  while (const dirent* item = ::readdir(dir)) {
    const std::string_view name = item->d_name;
    if (name != "." && name != "..") {
      empty = false;
      break;
    }
  }
  ::closedir(dir);
  if (!empty) {
    return core::Unexpected(core::InvalidArgument("folder " + folder.string() + " is not empty"));
  }
  return fd;
}

// One extraction: the names made so far and the running totals.
class Extraction {
 public:
  Extraction(std::string shown, stdfs::path folder, int root, const ExtractLimits& limits,
             const std::function<bool()>& cancelled, ExtractReport& report)
      : shown_(std::move(shown)),
        folder_(std::move(folder)),
        root_(root),
        limits_(limits),
        cancelled_(cancelled),
        report_(report) {}

  bool Cancelled() const { return cancelled_ && cancelled_(); }

  core::Result<void> Entry(struct archive* reader, struct archive_entry* entry,
                           std::uint64_t number) {
    const char* raw = archive_entry_pathname(entry);
    const std::string name = raw == nullptr ? std::string() : std::string(raw);
    const auto refuse = [&](const std::string& why) {
      return core::Unexpected(core::InvalidArgument(shown_ + ": entry #" + std::to_string(number) +
                                                    " '" + Shown(name) + "': " + why));
    };
    if (number > limits_.max_entries) {
      return refuse("more entries than the limit of " + std::to_string(limits_.max_entries) +
                    " (max_entries)");
    }
    if (raw == nullptr) return refuse("it has no name");
    if (archive_entry_hardlink(entry) != nullptr) return refuse("it is a hard link");
    if (archive_entry_symlink(entry) != nullptr) return refuse("it is a symlink");
    const auto type = archive_entry_filetype(entry);
    switch (type) {
      case AE_IFREG:
      case AE_IFDIR:
        break;
      case AE_IFLNK:
        return refuse("it is a symlink");
      case AE_IFCHR:
      case AE_IFBLK:
        return refuse("it is a device file");
      case AE_IFIFO:
        return refuse("it is a FIFO");
      case AE_IFSOCK:
        return refuse("it is a socket");
      default:
        return refuse("it has an unknown file type");
    }
    if (archive_entry_is_encrypted(entry)) return refuse("it is encrypted");

    // With an empty root, ConfinedPath gives the normalized relative name.
    const auto relative = files::ConfinedPath(stdfs::path(), name);
    if (!relative) {
      const std::string& message = relative.error().message;
      const auto why = message.find("refused: ");
      return refuse(why == std::string::npos ? message : message.substr(why + 9));
    }
    std::vector<std::string> parts;
    for (const auto& part : *relative) parts.push_back(part.string());
    std::string key;
    for (std::size_t i = 0; i < parts.size(); ++i) {
      if (parts[i].size() > kMaxComponent) {
        return refuse("a component is longer than " + std::to_string(kMaxComponent) + " bytes");
      }
      key += (i ? "/" : "") + parts[i];
      const auto node = nodes_.find(key);
      if (i + 1 < parts.size()) {
        if (node != nodes_.end() && !node->second.folder) {
          return refuse("its folder '" + Shown(key) + "' is a file (entry #" +
                        std::to_string(node->second.entry) + ")");
        }
        continue;
      }
      if (node != nodes_.end()) {
        const Node& made = node->second;
        if (made.listed || type != AE_IFDIR) {
          return refuse(std::string("the name is taken: ") + (made.folder ? "a folder" : "a file") +
                        (made.listed ? " of entry #" : " made for entry #") +
                        std::to_string(made.entry));
        }
      }
    }

    auto parent = OpenFolders(parts, parts.size() - 1, number, name);
    if (!parent) return core::Unexpected(parent.error());
    const std::string& last = parts.back();
    const stdfs::path target = folder_ / *relative;
    const std::string where =
        shown_ + ": entry #" + std::to_string(number) + " '" + Shown(name) + "': ";
    if (type == AE_IFDIR) {
      auto& node = nodes_[key];
      if (!node.folder) {  // not yet made for an earlier entry's path
        if (::mkdirat(parent->get(), last.c_str(), 0755) != 0) {
          return core::Unexpected(
              IoError(where + "cannot create folder " + target.string(), errno));
        }
        ++report_.folders;
        Fd made(
            ::openat(parent->get(), last.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!made.valid() || ::fchmod(made.get(), 0755) != 0) {
          return core::Unexpected(IoError(where + "cannot open folder " + target.string(), errno));
        }
      }
      node = Node{true, true, number};
      if (archive_entry_mtime_is_set(entry)) {
        folder_times_.emplace_back(std::move(parts), Mtime(entry));
      }
      return {};
    }

    Fd file(::openat(parent->get(), last.c_str(),
                     O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!file.valid()) {
      return core::Unexpected(IoError(where + "cannot create file " + target.string(), errno));
    }
    nodes_[key] = Node{false, true, number};
    ++report_.files;
    std::uint64_t written = 0;
    while (true) {
      if (Cancelled()) return core::Unexpected(CancelledError(shown_));
      const void* data = nullptr;
      std::size_t size = 0;
      la_int64_t offset = 0;
      const int r = archive_read_data_block(reader, &data, &size, &offset);
      if (r == ARCHIVE_EOF) break;
      if (r != ARCHIVE_OK) {
        // Bad CRCs and wrong sizes come as ARCHIVE_WARN with the last block.
        return core::Unexpected(
            Damaged(where.substr(0, where.size() - 2), archive_error_string(reader)));
      }
      // Zip has no sparse files: a gap would be bytes no limit counted.
      if (offset < 0 || std::uint64_t(offset) != written) {
        return refuse("its data has a gap at byte " + std::to_string(written));
      }
      const std::uint64_t total = report_.bytes + size;
      if (total > limits_.max_bytes) {
        return refuse("the extracted size would pass the limit of " +
                      std::to_string(limits_.max_bytes) + " bytes (max_bytes)");
      }
      if (limits_.max_ratio > 0 &&
          double(total) > limits_.max_ratio * double(report_.archive_bytes)) {
        std::ostringstream ratio;
        ratio << limits_.max_ratio;
        return refuse("the extracted size would pass " + ratio.str() + " times the archive's " +
                      std::to_string(report_.archive_bytes) + " bytes (max_ratio)");
      }
      const auto* bytes = static_cast<const char*>(data);
      std::size_t done = 0;
      while (done < size) {
        const ssize_t n = ::write(file.get(), bytes + done, size - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
          return core::Unexpected(IoError(where + "cannot write " + target.string(), errno));
        }
        done += std::size_t(n);
      }
      report_.bytes = total;
      written += size;
    }
    const mode_t mode = (archive_entry_perm(entry) & 0111) != 0 ? 0755 : 0644;
    if (::fchmod(file.get(), mode) != 0) {
      return core::Unexpected(IoError(where + "cannot set the mode of " + target.string(), errno));
    }
    if (archive_entry_mtime_is_set(entry)) {
      const std::array<timespec, 2> times{timespec{0, UTIME_OMIT}, Mtime(entry)};
      if (::futimens(file.get(), times.data()) != 0) {
        return core::Unexpected(
            IoError(where + "cannot set the time of " + target.string(), errno));
      }
    }
    if (file.Release() != 0) {
      return core::Unexpected(IoError(where + "cannot write " + target.string(), errno));
    }
    return {};
  }

  // Last, because every file made in a folder changes its time.
  core::Result<void> SetFolderTimes() {
    for (const auto& [parts, mtime] : folder_times_) {
      auto folder = OpenFolders(parts, parts.size(), 0, {});
      if (!folder) return core::Unexpected(folder.error());
      const std::array<timespec, 2> times{timespec{0, UTIME_OMIT}, mtime};
      if (::futimens(folder->get(), times.data()) != 0) {
        return core::Unexpected(IoError(
            shown_ + ": cannot set the time of folder " + (folder_ / Join(parts)).string(), errno));
      }
    }
    return {};
  }

 private:
  struct Node {
    bool folder = false;
    bool listed = false;      // an entry of its own, not only a folder on a path
    std::uint64_t entry = 0;  // the entry that made it
  };

  static timespec Mtime(struct archive_entry* entry) {
    return timespec{archive_entry_mtime(entry), archive_entry_mtime_nsec(entry)};
  }

  static std::string Join(const std::vector<std::string>& parts) {
    std::string out;
    for (std::size_t i = 0; i < parts.size(); ++i) {
      out += (i ? "/" : "") + parts[i];
    }
    return out;
  }

  // The folder parts[0..count), each opened with O_NOFOLLOW from its parent;
  // the ones no entry made yet are created (for entry `number`).
  core::Result<Fd> OpenFolders(const std::vector<std::string>& parts, std::size_t count,
                               std::uint64_t number, std::string_view name) {
    Fd current(::openat(root_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!current.valid()) {
      return core::Unexpected(IoError("cannot open folder " + folder_.string(), errno));
    }
    std::string key;
    for (std::size_t i = 0; i < count; ++i) {
      key += (i ? "/" : "") + parts[i];
      const stdfs::path target = folder_ / key;
      const std::string where =
          shown_ + (number ? ": entry #" + std::to_string(number) + " '" + Shown(name) + "'" : "");
      bool made = false;
      if (nodes_.find(key) == nodes_.end()) {
        if (::mkdirat(current.get(), parts[i].c_str(), 0755) != 0) {
          return core::Unexpected(
              IoError(where + ": cannot create folder " + target.string(), errno));
        }
        nodes_.emplace(key, Node{true, false, number});
        ++report_.folders;
        made = true;
      }
      Fd next(::openat(current.get(), parts[i].c_str(),
                       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!next.valid() || (made && ::fchmod(next.get(), 0755) != 0)) {
        return core::Unexpected(IoError(where + ": cannot open folder " + target.string(), errno));
      }
      current = std::move(next);
    }
    return current;
  }

  // Set once in the constructor.
  const std::string shown_;
  const stdfs::path folder_;
  const int root_;
  const ExtractLimits& limits_;
  const std::function<bool()>& cancelled_;
  ExtractReport& report_;

  // Every name made so far, normalized ("a/b"), folders made for paths too.
  std::map<std::string, Node> nodes_;
  std::vector<std::pair<std::vector<std::string>, timespec>> folder_times_;
};

}  // namespace

core::Result<bool> IsZipFile(const stdfs::path& file) {
  auto fd = OpenZip(file);
  if (!fd) return core::Unexpected(fd.error());
  std::array<unsigned char, 4> head{};
  auto read = ReadAt(fd->get(), head.data(), head.size(), 0, file);
  if (!read) return core::Unexpected(read.error());
  return *read && StartsLikeZip(head.data(), head.size());
}

core::Result<ExtractReport> ExtractZip(const stdfs::path& zip, const stdfs::path& folder,
                                       const ExtractLimits& limits,
                                       const std::function<bool()>& cancelled) {
  const std::string shown = Shown(zip.filename().string());
  auto fd = OpenZip(zip);
  if (!fd) return core::Unexpected(fd.error());
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0) {
    return core::Unexpected(IoError("cannot read zip archive " + zip.string(), errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return core::Unexpected(core::InvalidArgument(zip.string() + " is not a regular file"));
  }
  ExtractReport report;
  report.archive_bytes = std::uint64_t(st.st_size);

  std::array<unsigned char, 16> head{};
  const std::size_t head_size = std::min<std::size_t>(head.size(), report.archive_bytes);
  auto read = ReadAt(fd->get(), head.data(), head_size, 0, zip);
  if (!read) return core::Unexpected(read.error());
  if (!StartsLikeZip(head.data(), head_size)) {
    std::string text;
    for (std::size_t i = 0; i < head_size; ++i) {
      text += head[i] >= 0x20 && head[i] < 0x7f ? char(head[i]) : '.';
    }
    return core::Unexpected(core::InvalidArgument(
        head_size == 0 ? shown + " is not a zip archive: the file is empty"
                       : shown + " is not a zip archive: it starts with " +
                             Hex(head.data(), head_size) + " (\"" + text + "\")"));
  }
  auto listed = CheckCentralDirectory(fd->get(), report.archive_bytes, zip, shown, limits);
  if (!listed) return core::Unexpected(listed.error());
  auto root = OpenEmptyFolder(folder);
  if (!root) return core::Unexpected(root.error());
  // libarchive does not recognize a zip without entries.
  if (*listed == 0) return report;

  // libarchive reads the descriptor but does not close it: `fd` does.
  Reader reader(archive_read_new());
  if (!reader) throw std::bad_alloc();
  if (archive_read_support_format_zip_seekable(reader.get()) != ARCHIVE_OK ||
      archive_read_open_fd(reader.get(), fd->get(), kReadBlock) != ARCHIVE_OK) {
    return core::Unexpected(Damaged(shown, archive_error_string(reader.get())));
  }
  Extraction extraction(shown, folder, root->get(), limits, cancelled, report);
  for (std::uint64_t number = 1;; ++number) {
    if (extraction.Cancelled()) return core::Unexpected(CancelledError(shown));
    struct archive_entry* entry = nullptr;
    const int r = archive_read_next_header(reader.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK) {
      // ARCHIVE_WARN included: a local header that disagrees with the
      // central directory is one.
      return core::Unexpected(Damaged(shown + ": entry #" + std::to_string(number),
                                      archive_error_string(reader.get())));
    }
    auto done = extraction.Entry(reader.get(), entry, number);
    if (!done) return core::Unexpected(done.error());
  }
  auto times = extraction.SetFolderTimes();
  if (!times) return core::Unexpected(times.error());
  return report;
}

}  // namespace archives
