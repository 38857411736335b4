#include "fs/confined_path.h"

#include <deque>
#include <string>
#include <vector>

namespace files {
namespace {

constexpr int kMaxLinks = 40;  // as the kernel's ELOOP

core::Error Refused(std::string_view name, const std::string& why) {
  std::string shown;
  for (const char c : name) shown += c == '\0' ? std::string("\\0") : std::string(1, c);
  return core::InvalidArgument("path '" + shown + "' refused: " + why);
}

// Whether `path` is `root` or below it; both normalized and absolute.
bool IsUnder(const std::filesystem::path& path, const std::filesystem::path& root) {
  auto p = path.begin();
  for (auto r = root.begin(); r != root.end(); ++r, ++p) {
    if (r->empty()) continue;  // a trailing separator on root
    if (p == path.end() || *p != *r) return false;
  }
  return true;
}

}  // namespace

core::Result<std::filesystem::path> ConfinedPath(const std::filesystem::path& root,
                                                 std::string_view name) {
  if (name.find('\0') != std::string_view::npos) {
    return core::Unexpected(Refused(name, "it contains a NUL byte"));
  }
  if (name.find('\\') != std::string_view::npos) {
    return core::Unexpected(Refused(name, "it contains a backslash"));
  }
  if (!name.empty() && name.front() == '/') {
    return core::Unexpected(Refused(name, "it is absolute"));
  }
  std::string_view rest = name;
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  std::vector<std::string_view> parts;
  while (true) {
    const auto slash = rest.find('/');
    const std::string_view part = rest.substr(0, slash);
    if (part.empty()) {
      return core::Unexpected(Refused(name, name.empty() ? "it is empty" : "an empty component"));
    }
    if (part == "..") {
      if (parts.empty()) return core::Unexpected(Refused(name, "'..' leads outside"));
      parts.pop_back();
    } else if (part != ".") {
      parts.push_back(part);
    }
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  if (parts.empty()) return core::Unexpected(Refused(name, "it names the folder itself"));
  std::filesystem::path out = root;
  for (const std::string_view part : parts) out /= part;
  return out;
}

core::Result<std::filesystem::path> ResolveConfined(const std::filesystem::path& root,
                                                    std::string_view name) {
  auto lexical = ConfinedPath(root, name);
  if (!lexical) return lexical;
  std::error_code ec;
  const auto real_root = std::filesystem::canonical(root, ec);
  if (ec) {
    return core::Unexpected(
        core::InvalidArgument("folder " + root.string() + " cannot be resolved: " + ec.message()));
  }
  // Walks the path as the kernel would, following every symlink (chains
  // and dangling ones included: creating a file through a dangling link
  // creates its target), and sees where it ends.
  std::deque<std::string> pending;
  for (const auto& part : lexical->lexically_relative(root)) pending.push_back(part.string());
  std::filesystem::path real = real_root;
  bool exists = true;
  int links = 0;
  while (!pending.empty()) {
    const std::string part = std::move(pending.front());
    pending.pop_front();
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      real = real.parent_path();
      continue;
    }
    std::filesystem::path next = real / part;
    if (exists) {
      const auto status = std::filesystem::symlink_status(next, ec);
      if (status.type() == std::filesystem::file_type::symlink) {
        if (++links > kMaxLinks) return core::Unexpected(Refused(name, "too many symlinks"));
        const auto target = std::filesystem::read_symlink(next, ec);
        if (ec) return core::Unexpected(Refused(name, "a symlink cannot be read: " + ec.message()));
        if (target.is_absolute()) real = "/";
        std::vector<std::string> parts;
        for (const auto& t : target.relative_path()) parts.push_back(t.string());
        pending.insert(pending.begin(), parts.begin(), parts.end());
        continue;
      }
      exists = std::filesystem::exists(status);
    }
    real = std::move(next);
  }
  if (!IsUnder(real, real_root)) {
    return core::Unexpected(Refused(name, "a symlink leads outside " + root.string()));
  }
  return lexical;
}

}  // namespace files
