#include "core/json_writer.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "core/utf8.h"

namespace core {

namespace {

constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
constexpr std::uint64_t kHighs = 0x8080808080808080ULL;

// Whether any of the eight bytes at `p` needs more than a copy: a control
// character, '"', '\\', DEL, or a byte of a multi-byte sequence (checked
// one by one). Borrows and carries only start at such bytes, so "any" is
// exact.
bool AnySpecial(const char* p) {
  std::uint64_t w;
  std::memcpy(&w, p, sizeof w);
  const std::uint64_t quote = w ^ (kOnes * '"');
  const std::uint64_t backslash = w ^ (kOnes * '\\');
  const std::uint64_t below_space = (w - kOnes * 0x20) & ~w;
  const std::uint64_t is_quote = (quote - kOnes) & ~quote;
  const std::uint64_t is_backslash = (backslash - kOnes) & ~backslash;
  const std::uint64_t from_del = (w + kOnes) | w;  // bytes >= 0x7f
  return ((below_space | is_quote | is_backslash | from_del) & kHighs) != 0;
}

bool IsPlain(unsigned char c) { return c >= 0x20 && c < 0x7F && c != '"' && c != '\\'; }

void AppendU(std::string& out, unsigned value) {
  static constexpr char kHex[] = "0123456789abcdef";
  const char escape[] = {'\\', 'u', '0', '0', kHex[(value >> 4) & 0xf], kHex[value & 0xf]};
  out.append(escape, sizeof escape);
}

// Appends `text` quoted. The runs that need no escape (nearly all of the
// text) are found eight bytes at a time and appended whole; well-formed
// multi-byte characters stay in the run.
void AppendQuoted(std::string& out, std::string_view text) {
  out.reserve(out.size() + text.size() + 2);
  out += '"';
  const char* data = text.data();
  const std::size_t size = text.size();
  std::size_t plain = 0;
  std::size_t i = 0;
  while (i < size) {
    while (i + 8 <= size && !AnySpecial(data + i)) i += 8;
    const std::size_t word_end = std::min(size, i + 8);
    while (i < word_end && IsPlain(static_cast<unsigned char>(data[i]))) ++i;
    if (i == word_end) continue;

    const auto c = static_cast<unsigned char>(data[i]);
    if (c >= 0x80) {
      const Utf8Step step = NextUtf8(text, i);
      const bool c1 = step.valid && c == 0xC2 && static_cast<unsigned char>(data[i + 1]) < 0xA0;
      if (step.valid && !c1) {
        i += step.length;
        continue;
      }
      out.append(data + plain, i - plain);
      if (c1) {
        AppendU(out, static_cast<unsigned char>(data[i + 1]));
      } else {
        out += "\xEF\xBF\xBD";  // U+FFFD for the maximal subpart
      }
      i += step.length;
      plain = i;
      continue;
    }
    out.append(data + plain, i - plain);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        AppendU(out, c);  // C0 controls and DEL
    }
    ++i;
    plain = i;
  }
  out.append(data + plain, size - plain);
  out += '"';
}

}  // namespace

std::string JsonQuote(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  AppendQuoted(out, text);
  return out;
}

void JsonWriter::Separate() {
  if (need_comma_) out_ += ',';
  need_comma_ = true;
}

JsonWriter& JsonWriter::Key(std::string_view key) {
  Separate();
  AppendQuoted(out_, key);
  out_ += ':';
  need_comma_ = false;  // the value follows without a comma
  return *this;
}

JsonWriter& JsonWriter::String(std::string_view value) {
  Separate();
  AppendQuoted(out_, value);
  return *this;
}

JsonWriter& JsonWriter::Int(std::int64_t value) {
  Separate();
  out_ += std::to_string(value);
  return *this;
}

JsonWriter& JsonWriter::Double(double value) {
  Separate();
  if (!std::isfinite(value)) {
    out_ += "null";
  } else if (value == std::floor(value) && std::fabs(value) < 1e15) {
    out_ += std::to_string(static_cast<std::int64_t>(value));
  } else {
    out_ += fmt::format("{}", value);
  }
  return *this;
}

JsonWriter& JsonWriter::Bool(bool value) {
  Separate();
  out_ += value ? "true" : "false";
  return *this;
}

JsonWriter& JsonWriter::Null() {
  Separate();
  out_ += "null";
  return *this;
}

JsonWriter& JsonWriter::Raw(std::string_view json) {
  Separate();
  // Stored JSON may predate the escaping above; bytes that are not UTF-8
  // can only sit inside its strings, so replacing them keeps it JSON.
  AppendValidUtf8(out_, json);
  return *this;
}

JsonWriter& JsonWriter::BeginObject() {
  Separate();
  out_ += '{';
  need_comma_ = false;
  return *this;
}

JsonWriter& JsonWriter::EndObject() {
  out_ += '}';
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::BeginArray() {
  Separate();
  out_ += '[';
  need_comma_ = false;
  return *this;
}

JsonWriter& JsonWriter::EndArray() {
  out_ += ']';
  need_comma_ = true;
  return *this;
}

std::string JsonWriter::Finish() {
  EndObject();
  return std::move(out_);
}

}  // namespace core
