#include "fs/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

namespace files {
namespace {

core::Error IoError(const std::string& what, const std::filesystem::path& path, int error) {
  return core::Error{core::ErrorKind::kIo, what + " " + path.string() + ": " + std::strerror(error),
                     false};
}

std::filesystem::path FolderOf(const std::filesystem::path& file) {
  const auto parent = file.parent_path();
  return parent.empty() ? std::filesystem::path(".") : parent;
}

}  // namespace

core::Result<void> SyncFolder(const std::filesystem::path& folder) {
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return core::Unexpected(IoError("cannot open folder", folder, errno));
  const bool synced = ::fsync(fd) == 0;
  const int error = errno;
  ::close(fd);
  if (!synced) return core::Unexpected(IoError("cannot flush folder", folder, error));
  return {};
}

core::Result<AtomicFileWriter> AtomicFileWriter::Create(const std::filesystem::path& target,
                                                        mode_t mode) {
  static std::atomic<unsigned> counter{0};
  std::filesystem::path temp = target;
  temp += ".part-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return core::Unexpected(IoError("cannot write", target, errno));
  return AtomicFileWriter(target, std::move(temp), fd);
}

AtomicFileWriter::AtomicFileWriter(std::filesystem::path target, std::filesystem::path temp, int fd)
    : target_(std::move(target)), temp_(std::move(temp)), fd_(fd) {}

AtomicFileWriter::AtomicFileWriter(AtomicFileWriter&& other) noexcept
    : target_(std::move(other.target_)),
      temp_(std::exchange(other.temp_, {})),
      fd_(std::exchange(other.fd_, -1)),
      size_(other.size_) {}

AtomicFileWriter& AtomicFileWriter::operator=(AtomicFileWriter&& other) noexcept {
  if (this != &other) {
    Abandon();
    target_ = std::move(other.target_);
    temp_ = std::exchange(other.temp_, {});
    fd_ = std::exchange(other.fd_, -1);
    size_ = other.size_;
  }
  return *this;
}

AtomicFileWriter::~AtomicFileWriter() { Abandon(); }

void AtomicFileWriter::Abandon() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!temp_.empty()) ::unlink(temp_.c_str());
  temp_.clear();
}

core::Result<void> AtomicFileWriter::Fail(const char* what) {
  const int error = errno;
  Abandon();
  return core::Unexpected(IoError(what, target_, error));
}

core::Result<void> AtomicFileWriter::Write(std::string_view data) {
  return Write(data.data(), data.size());
}

core::Result<void> AtomicFileWriter::Write(const void* data, std::size_t size) {
  if (fd_ < 0) {
    return core::Unexpected(core::Error{
        core::ErrorKind::kIo, "cannot write " + target_.string() + ": already finished", false});
  }
  const char* bytes = static_cast<const char*>(data);
  for (std::size_t done = 0; done < size;) {
    const ssize_t n = ::write(fd_, bytes + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Fail("cannot write");
    done += static_cast<std::size_t>(n);
  }
  size_ += size;
  return {};
}

core::Result<void> AtomicFileWriter::Commit() {
  if (fd_ < 0) {
    return core::Unexpected(core::Error{
        core::ErrorKind::kIo, "cannot write " + target_.string() + ": already finished", false});
  }
  if (::fsync(fd_) != 0) return Fail("cannot flush");
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) return Fail("cannot write");
  if (::rename(temp_.c_str(), target_.c_str()) != 0) return Fail("cannot rename into place");
  temp_.clear();
  return SyncFolder(FolderOf(target_));
}

core::Result<void> WriteFileAtomically(const std::filesystem::path& target,
                                       std::string_view content, mode_t mode) {
  auto writer = AtomicFileWriter::Create(target, mode);
  if (!writer) return core::Unexpected(writer.error());
  if (auto wrote = writer->Write(content); !wrote) return wrote;
  return writer->Commit();
}

}  // namespace files
