#include "jobs/retention/folder_sweep.h"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string_view>
#include <system_error>
#include <utility>

#include "core/utf8.h"
#include "jobs/retention/retention_config.h"

namespace jobs::retention {
namespace {

constexpr std::uint32_t kNoParent = UINT32_MAX;
constexpr int kOpenDir = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
constexpr std::uint64_t kCancelEvery = 4096;

std::int64_t Nanos(const struct timespec& t) {
  return std::int64_t(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}
std::int64_t Nanos(core::Duration d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

std::string ErrnoText(int error) {
  return std::error_code(error, std::generic_category()).message();
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      if (fd_ >= 0) ::close(fd_);
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Lists one open folder; owns its descriptor.
class DirReader {
 public:
  explicit DirReader(int fd) : dir_(::fdopendir(fd)) {
    if (dir_ == nullptr) ::close(fd);
  }
  ~DirReader() {
    if (dir_ != nullptr) ::closedir(dir_);
  }
  DirReader(const DirReader&) = delete;
  DirReader& operator=(const DirReader&) = delete;

  bool ok() const { return dir_ != nullptr; }
  int fd() const { return ::dirfd(dir_); }
  // The next name other than "." and "..", or null at the end; errno tells
  // an error (non-zero) from the end (zero).
  const char* Next() {
    for (;;) {
      errno = 0;
      const struct dirent* entry = ::readdir(dir_);
      if (entry == nullptr) return nullptr;
      const char* name = entry->d_name;
      if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) continue;
      return name;
    }
  }

 private:
  DIR* dir_;
};

class Sweep {
 public:
  Sweep(const SweepTarget& target, const SweepRules& rules, core::TimePoint now,
        const SystemCalls& calls, const std::function<bool()>& cancelled)
      : target_(target),
        rules_(rules),
        calls_(calls),
        cancelled_(cancelled),
        now_(Nanos(now.time_since_epoch())),
        recent_after_(now_ - Nanos(kRecentGuard)),
        old_before_(rules.max_age ? now_ - Nanos(*rules.max_age) : 0) {}

  SweepReport Run() {
    if (!Walk() || (rules_.max_bytes && !TrimToLimit())) {
      report_.cancelled = true;
      return report_;
    }
    if (rules_.remove_empty_dirs) RemoveEmptyDirs();
    return report_;
  }

 private:
  // A folder met on the way; dirs_[0] is the folder swept.
  struct Dir {
    std::uint32_t parent = kNoParent;
    std::string name;
    dev_t dev = 0;
    ino_t ino = 0;
    std::int64_t mtime = 0;     // as the walk found it, before anything went
    std::uint64_t entries = 0;  // what the walk found in it, less what went since
    bool complete = false;      // listed to the end
  };
  // A file max_bytes may delete. Names live in names_, which costs far less
  // than a string each on a folder of millions of files.
  struct Candidate {
    std::int64_t mtime;
    std::uint64_t size;
    ino_t ino;
    std::size_t name_at;
    std::uint32_t name_size;
    std::uint32_t dir;
  };
  struct Listing {
    std::unique_ptr<DirReader> reader;
    std::uint32_t dir;
    std::vector<std::pair<std::string, ino_t>> subdirs;
    std::size_t next = 0;
  };
  enum class Outcome { kDeleted, kVanished, kFailed };

  // Holds open the chain of folders from the root to the one asked for
  // last, each opened again through its parent and checked to be the folder
  // the walk listed (device and inode), so a folder swapped in since is not
  // touched.
  class Opener {
   public:
    explicit Opener(Sweep& sweep) : sweep_(sweep) {}
    // The folder's descriptor, valid until the next call; -1 when it is gone
    // or is no longer the folder the walk saw.
    int Open(std::uint32_t dir) {
      std::vector<std::uint32_t> path;
      for (std::uint32_t d = dir; d != 0; d = sweep_.dirs_[d].parent) path.push_back(d);
      std::reverse(path.begin(), path.end());
      std::size_t same = 0;
      while (same < path.size() && same < open_.size() && open_[same].first == path[same]) ++same;
      open_.resize(same);
      for (std::size_t i = same; i < path.size(); ++i) {
        const Dir& want = sweep_.dirs_[path[i]];
        const int parent = open_.empty() ? sweep_.target_.fd : open_.back().second.get();
        Fd fd(sweep_.calls_.openat(parent, want.name.c_str(), kOpenDir));
        if (fd.get() < 0) return -1;
        struct stat st {};
        if (sweep_.calls_.fstatat(fd.get(), "", &st, AT_EMPTY_PATH) != 0 || st.st_dev != want.dev ||
            st.st_ino != want.ino) {
          return -1;
        }
        open_.emplace_back(path[i], std::move(fd));
      }
      return open_.empty() ? sweep_.target_.fd : open_.back().second.get();
    }

   private:
    Sweep& sweep_;
    std::vector<std::pair<std::uint32_t, Fd>> open_;
  };

  bool Cancelled() { return ++operations_ % kCancelEvery == 0 && cancelled_ && cancelled_(); }

  // "<display>/<relative path>/<name>", escaped for a terminal.
  std::string PathOf(std::uint32_t dir, std::string_view name = {}) const {
    std::vector<std::string_view> parts;
    if (!name.empty()) parts.push_back(name);
    for (std::uint32_t d = dir; d != 0 && d != kNoParent; d = dirs_[d].parent) {
      parts.push_back(dirs_[d].name);
    }
    std::string path = target_.display;
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
      path += '/';
      path += *it;
    }
    return core::EscapeForTerminal(path);
  }

  void Error(const std::string& what, int error) { Problem(what + ": " + ErrnoText(error)); }
  void Problem(std::string line) {
    ++report_.errors;
    if (report_.error_samples.size() < kSamples) report_.error_samples.push_back(std::move(line));
  }
  void Note(std::string what) {
    if (report_.notes.size() < kSamples) report_.notes.push_back(std::move(what));
  }

  bool Matches(const char* name) const {
    return rules_.match.empty() || ::fnmatch(rules_.match.c_str(), name, 0) == 0;
  }

  bool IsMountRoot(int dirfd, const char* name) const {
    struct statx stx {};
    if (calls_.statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, 0, &stx) != 0) {
      return false;  // st_dev still decides
    }
    return (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) != 0 &&
           (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
  }

  Outcome Delete(int dirfd, std::uint32_t dir, const char* name, std::uint64_t size) {
    if (!rules_.dry_run && calls_.unlinkat(dirfd, name, 0) != 0) {
      if (errno == ENOENT) return Outcome::kVanished;
      Error("cannot delete " + PathOf(dir, name), errno);
      return Outcome::kFailed;
    }
    ++report_.files_deleted;
    report_.bytes_deleted += size;
    if (report_.examples.size() < kSamples) report_.examples.push_back(PathOf(dir, name));
    return Outcome::kDeleted;
  }

  // The walk: counts every file, deletes what max_age makes due, and notes
  // what max_bytes may delete.
  bool Walk() {
    struct stat root {};
    if (calls_.fstatat(target_.fd, "", &root, AT_EMPTY_PATH) != 0) {
      Error("cannot read " + core::EscapeForTerminal(target_.display), errno);
      return true;
    }
    root_dev_ = root.st_dev;
    dirs_.push_back(Dir{kNoParent, "", root.st_dev, root.st_ino, Nanos(root.st_mtim)});
    // A descriptor of its own: listing moves a descriptor's offset.
    const int own = calls_.openat(target_.fd, ".", kOpenDir);
    auto reader = own < 0 ? nullptr : std::make_unique<DirReader>(own);
    if (reader == nullptr || !reader->ok()) {
      Error("cannot list " + core::EscapeForTerminal(target_.display), errno);
      return true;
    }
    std::vector<Listing> stack;
    stack.push_back(Listing{std::move(reader), 0, {}, 0});
    if (!List(stack.back())) return false;
    while (!stack.empty()) {
      Listing& top = stack.back();
      if (top.next == top.subdirs.size()) {
        stack.pop_back();
        continue;
      }
      auto [name, ino] = std::move(top.subdirs[top.next++]);
      const int parent_fd = top.reader->fd();
      const std::uint32_t parent = top.dir;
      const int fd = calls_.openat(parent_fd, name.c_str(), kOpenDir);
      if (fd < 0) {
        // Gone, or no longer a folder (a symlink now: O_NOFOLLOW refused it).
        if (errno != ENOENT && errno != ELOOP && errno != ENOTDIR) {
          Error("cannot open " + PathOf(parent, name), errno);
        }
        continue;
      }
      auto child = std::make_unique<DirReader>(fd);
      struct stat st {};
      if (!child->ok() || calls_.fstatat(fd, "", &st, AT_EMPTY_PATH) != 0) {
        Error("cannot list " + PathOf(parent, name), errno);
        continue;
      }
      // Swapped for another folder since it was listed: the next run sees it.
      if (st.st_dev != root_dev_ || st.st_ino != ino) continue;
      const auto index = static_cast<std::uint32_t>(dirs_.size());
      dirs_.push_back(Dir{parent, std::move(name), st.st_dev, st.st_ino, Nanos(st.st_mtim)});
      stack.push_back(Listing{std::move(child), index, {}, 0});
      if (!List(stack.back())) return false;
    }
    return true;
  }

  // Lists one folder, handling its files at once and keeping its
  // sub-folders for the walk. False when cancelled.
  bool List(Listing& listing) {
    const int fd = listing.reader->fd();
    const std::uint32_t dir = listing.dir;
    for (;;) {
      const char* name = listing.reader->Next();
      if (name == nullptr) {
        if (errno != 0) {
          Error("cannot list " + PathOf(dir), errno);
        } else {
          dirs_[dir].complete = true;
        }
        return true;
      }
      if (Cancelled()) return false;
      struct stat st {};
      if (calls_.fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno != ENOENT) {
          Error("cannot read " + PathOf(dir, name), errno);
          ++dirs_[dir].entries;
        }
        continue;
      }
      if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) {
        File(fd, dir, name, st);
        continue;
      }
      ++dirs_[dir].entries;
      if (!S_ISDIR(st.st_mode)) continue;  // FIFOs, sockets, devices: left alone
      if (st.st_dev != root_dev_ || IsMountRoot(fd, name)) {
        ++report_.mounts_skipped;
        Note("not crossing the mount point " + PathOf(dir, name));
        continue;
      }
      if (target_.avoid && st.st_dev == target_.avoid->first &&
          st.st_ino == target_.avoid->second) {
        Problem("not entering " + PathOf(dir, name) + ": it is the state store's folder");
        continue;
      }
      listing.subdirs.emplace_back(name, st.st_ino);
    }
  }

  void File(int fd, std::uint32_t dir, const char* name, const struct stat& st) {
    const auto size = static_cast<std::uint64_t>(std::max<off_t>(st.st_size, 0));
    const std::int64_t mtime = Nanos(st.st_mtim);
    const bool matches = Matches(name);
    const bool recent = mtime > recent_after_;
    ++report_.files_before;
    report_.bytes_before += size;
    if (matches && rules_.max_age && mtime < old_before_) {
      if (recent) {
        ++report_.recent_kept;
      } else {
        switch (Delete(fd, dir, name, size)) {
          case Outcome::kDeleted:
            return;
          case Outcome::kVanished:
            --report_.files_before;
            report_.bytes_before -= size;
            return;
          case Outcome::kFailed:
            Keep(dir, size);
            // Still there: it counts toward max_bytes, but trying again is pointless.
            if (rules_.max_bytes) limited_bytes_ += size;
            return;
        }
      }
    }
    Keep(dir, size);
    if (rules_.max_bytes && matches) {
      limited_bytes_ += size;
      const std::size_t length = std::char_traits<char>::length(name);
      candidates_.push_back(Candidate{mtime, size, st.st_ino, names_.size(),
                                      static_cast<std::uint32_t>(length), dir});
      names_.append(name, length);
    }
  }

  void Keep(std::uint32_t dir, std::uint64_t size) {
    ++dirs_[dir].entries;
    ++report_.files_after;
    report_.bytes_after += size;
  }

  // A file counted by the walk is gone: someone else removed or renamed it.
  void Vanished(const Candidate& c) {
    --report_.files_before;
    report_.bytes_before -= c.size;
    Went(c);
  }
  void Went(const Candidate& c) {
    --report_.files_after;
    report_.bytes_after -= c.size;
    limited_bytes_ -= c.size;
    --dirs_[c.dir].entries;
  }

  // max_bytes: the oldest candidates go until the matching files' total is
  // at most max_bytes. Chosen a batch at a time (just enough if every one
  // goes), each batch deleted folder by folder so each folder is opened
  // once; another batch follows only if some could not go.
  bool TrimToLimit() {
    const std::uint64_t limit = *rules_.max_bytes;
    if (limited_bytes_ <= limit) return true;
    auto name_of = [this](const Candidate& c) {
      return std::string_view(names_).substr(c.name_at, c.name_size);
    };
    std::sort(candidates_.begin(), candidates_.end(), [&](const Candidate& a, const Candidate& b) {
      if (a.mtime != b.mtime) return a.mtime < b.mtime;
      if (a.dir != b.dir) return a.dir < b.dir;
      return name_of(a) < name_of(b);
    });
    Opener opener(*this);
    std::string name;
    std::size_t next = 0;
    while (limited_bytes_ > limit && next < candidates_.size()) {
      std::uint64_t planned = 0;
      std::size_t end = next;
      while (end < candidates_.size() && limited_bytes_ - planned > limit &&
             candidates_[end].mtime <= recent_after_) {
        planned += candidates_[end].size;
        ++end;
      }
      if (end == next) break;  // only files too recent to delete are left
      std::stable_sort(candidates_.begin() + std::ptrdiff_t(next),
                       candidates_.begin() + std::ptrdiff_t(end),
                       [](const Candidate& a, const Candidate& b) { return a.dir < b.dir; });
      for (; next < end; ++next) {
        const Candidate& c = candidates_[next];
        if (Cancelled()) return false;
        name.assign(name_of(c));
        if (rules_.dry_run) {
          Delete(-1, c.dir, name.c_str(), c.size);
          Went(c);
          continue;
        }
        const int fd = opener.Open(c.dir);
        if (fd < 0) continue;  // its folder went or was swapped: not ours to judge now
        struct stat st {};
        if (calls_.fstatat(fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
          if (errno == ENOENT) {
            Vanished(c);
          } else {
            Error("cannot read " + PathOf(c.dir, name), errno);
          }
          continue;
        }
        // Written to or replaced since the walk: it is no longer the oldest.
        if (st.st_ino != c.ino || Nanos(st.st_mtim) != c.mtime) continue;
        switch (Delete(fd, c.dir, name.c_str(), c.size)) {
          case Outcome::kDeleted:
            Went(c);
            break;
          case Outcome::kVanished:
            Vanished(c);
            break;
          case Outcome::kFailed:
            break;
        }
      }
    }
    if (limited_bytes_ > limit) {
      report_.over_limit = true;
      // The recent files that would have gone had they been older.
      std::uint64_t left = limited_bytes_;
      for (std::size_t i = next; i < candidates_.size() && left > limit; ++i) {
        if (candidates_[i].mtime <= recent_after_) continue;
        ++report_.recent_kept;
        left -= std::min(left, candidates_[i].size);
      }
    }
    return true;
  }

  // Deepest first: a folder is listed after its parent, so it comes later
  // in dirs_; removing it may leave its parent empty in turn.
  void RemoveEmptyDirs() {
    Opener opener(*this);
    for (std::size_t d = dirs_.size(); d-- > 1;) {
      const Dir& dir = dirs_[d];
      if (!dir.complete || dir.entries != 0 || dir.mtime > recent_after_) continue;
      if (!rules_.dry_run) {
        const int fd = opener.Open(dir.parent);
        if (fd < 0) continue;
        if (calls_.unlinkat(fd, dir.name.c_str(), AT_REMOVEDIR) != 0) {
          if (errno == ENOENT) {
            --dirs_[dir.parent].entries;
          } else if (errno != ENOTEMPTY && errno != EEXIST) {
            // ENOTEMPTY: something arrived since the walk, and stays.
            Error("cannot remove the empty folder " + PathOf(std::uint32_t(d)), errno);
          }
          continue;
        }
      }
      ++report_.dirs_removed;
      --dirs_[dir.parent].entries;
    }
  }

  // Set once in the constructor.
  const SweepTarget& target_;
  const SweepRules& rules_;
  const SystemCalls& calls_;
  const std::function<bool()>& cancelled_;
  const std::int64_t now_;           // ns since the epoch
  const std::int64_t recent_after_;  // modified after this: never deleted
  const std::int64_t old_before_;    // modified before this: due by max_age

  dev_t root_dev_ = 0;
  std::vector<Dir> dirs_;
  std::vector<Candidate> candidates_;
  std::string names_;
  std::uint64_t limited_bytes_ = 0;  // the matching files' total, for max_bytes
  std::uint64_t operations_ = 0;
  SweepReport report_;
};

}  // namespace

const SystemCalls& RealSystemCalls() {
  static const SystemCalls calls{
      [](int dirfd, const char* name, int flags) { return ::openat(dirfd, name, flags); },
      [](int dirfd, const char* name, struct stat* st, int flags) {
        return ::fstatat(dirfd, name, st, flags);
      },
      [](int dirfd, const char* name, int flags, unsigned mask, struct statx* st) {
        return ::statx(dirfd, name, flags, mask, st);
      },
      [](int dirfd, const char* name, int flags) { return ::unlinkat(dirfd, name, flags); }};
  return calls;
}

SweepReport SweepFolder(const SweepTarget& target, const SweepRules& rules, core::TimePoint now,
                        const SystemCalls& calls, const std::function<bool()>& cancelled) {
  return Sweep(target, rules, now, calls, cancelled).Run();
}

}  // namespace jobs::retention
