#include "config/config_source.h"

#include <cerrno>
#include <cstdio>
#include <memory>
#include <system_error>

namespace config {

void ConfigSource::Report(const YAML::Mark& mark, std::string path, std::string message) const {
  Diagnostic diagnostic;
  diagnostic.file = file_;
  if (!mark.is_null() && mark.line >= 0) {
    diagnostic.line = mark.line + 1;
    diagnostic.column = mark.column + 1;
  }
  diagnostic.path = std::move(path);
  diagnostic.message = std::move(message);
  diagnostics_->Add(std::move(diagnostic));
}

void ConfigSource::NoteSecret(const std::string& value) const {
  // Masking a one- or two-letter "secret" would mangle every message.
  if (value.size() >= 3) secrets_.insert(value);
}

std::filesystem::path ConfigSource::Resolve(const std::filesystem::path& path) const {
  if (path.is_absolute()) return path.lexically_normal();
  return (folder_ / path).lexically_normal();
}

std::string JoinPath(const std::string& parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  std::string out = parent;
  out += '.';
  out += key;
  return out;
}

std::string Describe(const YamlNode& node) {
  switch (node.Type()) {
    case YamlType::kScalar: {
      constexpr std::size_t kMaxShown = 60;
      const std::string& text = node.Scalar();
      if (text.size() <= kMaxShown) return "'" + text + "'";
      return "'" + text.substr(0, kMaxShown) + "...'";
    }
    case YamlType::kSequence:
      return "a list";
    case YamlType::kMap:
      return "a mapping";
    case YamlType::kNull:
      break;
  }
  return "nothing";
}

core::Result<std::string> ReadTextFile(const std::filesystem::path& file, std::size_t max_bytes) {
  const auto failure = [](int error) {
    return core::Unexpected(
        core::Error{core::ErrorKind::kIo, std::generic_category().message(error), false});
  };
  errno = 0;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> stream(std::fopen(file.c_str(), "rb"),
                                                         &std::fclose);
  if (!stream) return failure(errno != 0 ? errno : EIO);
  std::string text;
  // Sized up front when the size is known, so a big config is not copied
  // again and again as it grows.
  std::error_code size_error;
  const std::uintmax_t size = std::filesystem::file_size(file, size_error);
  if (!size_error && size <= max_bytes) text.reserve(static_cast<std::size_t>(size));
  char buffer[65536];
  while (const std::size_t n = std::fread(buffer, 1, sizeof buffer, stream.get())) {
    text.append(buffer, n);
    if (text.size() > max_bytes) {
      return core::Unexpected(
          core::InvalidArgument("larger than " + std::to_string(max_bytes) + " bytes"));
    }
  }
  // Reading a directory fails here (EISDIR), not at fopen.
  if (std::ferror(stream.get())) return failure(errno != 0 ? errno : EIO);
  return text;
}

}  // namespace config
