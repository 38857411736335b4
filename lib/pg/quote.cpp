#include "pg/quote.h"

namespace pg {
namespace {

core::Result<std::string> Refuse(std::string_view name, std::string_view why) {
  return core::Unexpected(
      core::InvalidArgument("SQL name \"" + std::string(name) + "\": " + std::string(why)));
}

}  // namespace

std::string QuoteSingleIdentifier(std::string_view identifier) {
  std::string out;
  out.reserve(identifier.size() + 2);
  out += '"';
  for (char c : identifier) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

core::Result<std::string> QuoteIdentifier(std::string_view name) {
  if (name.find('\0') != std::string_view::npos) return Refuse(name, "contains a NUL byte");
  std::string out;
  std::size_t i = 0;
  while (true) {
    std::string part;
    if (i < name.size() && name[i] == '"') {
      ++i;
      bool closed = false;
      while (i < name.size()) {
        if (name[i] == '"') {
          if (i + 1 < name.size() && name[i + 1] == '"') {
            part += '"';
            i += 2;
            continue;
          }
          ++i;
          closed = true;
          break;
        }
        part += name[i++];
      }
      if (!closed) return Refuse(name, "a quote is not closed");
      if (i < name.size() && name[i] != '.') {
        return Refuse(name, "text after a closing quote (a dot separates parts)");
      }
    } else {
      const std::size_t dot = name.find('.', i);
      part = std::string(name.substr(i, dot == std::string_view::npos ? dot : dot - i));
      i = dot == std::string_view::npos ? name.size() : dot;
    }
    if (part.empty()) return Refuse(name, "empty name or part");
    if (!out.empty()) out += '.';
    out += QuoteSingleIdentifier(part);
    if (i >= name.size()) break;
    ++i;  // the dot
    if (i >= name.size()) return Refuse(name, "empty name or part");
  }
  return out;
}

std::string QuoteLiteral(std::string_view value) {
  const bool backslash = value.find('\\') != std::string_view::npos;
  std::string out;
  out.reserve(value.size() + 3);
  if (backslash) out += 'E';
  out += '\'';
  for (char c : value) {
    if (c == '\'' || (backslash && c == '\\')) out += c;
    out += c;
  }
  out += '\'';
  return out;
}

std::string QuoteColumnList(const std::vector<std::string>& names, std::string_view prefix) {
  std::string out;
  for (const std::string& name : names) {
    if (!out.empty()) out += ", ";
    out += prefix;
    out += QuoteSingleIdentifier(name);
  }
  return out;
}

}  // namespace pg
