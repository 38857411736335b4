#include "config/env_expansion.h"

#include <cstdlib>

namespace config {
namespace {

bool IsNameStart(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

}  // namespace

EnvLookup ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    // getenv is safe here: the daemon never calls setenv.
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

core::Result<std::string> ExpandVariables(std::string_view text, const EnvLookup& lookup) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c != '$' || i + 1 == text.size()) {
      out += c;
      ++i;
      continue;
    }
    if (text[i + 1] == '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (text[i + 1] != '{') {
      out += c;
      ++i;
      continue;
    }
    const std::size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos) {
      return core::Unexpected(core::InvalidArgument("'" + std::string(text.substr(i)) +
                                                    "' is missing its closing '}'"));
    }
    const std::string_view inside = text.substr(i + 2, close - i - 2);
    const std::size_t fallback_at = inside.find(":-");
    const std::string_view name = inside.substr(0, fallback_at);
    bool valid = !name.empty() && IsNameStart(name.front());
    for (char n : name) valid = valid && IsNameChar(n);
    if (!valid) {
      return core::Unexpected(core::InvalidArgument("bad variable reference '" +
                                                    std::string(text.substr(i, close - i + 1)) +
                                                    "': use ${NAME} or ${NAME:-default}"));
    }
    const std::optional<std::string> value = lookup(std::string(name));
    if (fallback_at != std::string_view::npos) {
      out += value && !value->empty() ? *value : std::string(inside.substr(fallback_at + 2));
    } else if (value) {
      out += *value;
    } else {
      return core::Unexpected(
          core::InvalidArgument("environment variable " + std::string(name) + " is not set"));
    }
    i = close + 1;
  }
  return out;
}

}  // namespace config
