#include "core/utf8.h"

#include <cstdint>
#include <cstring>

namespace core {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Whether any of the eight bytes at `p` is not ASCII.
bool AnyHighBit(const char* p) {
  std::uint64_t word;
  std::memcpy(&word, p, sizeof word);
  return (word & 0x8080808080808080ULL) != 0;
}

void AppendHex(std::string& out, unsigned char byte) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\x";
  out += kHex[byte >> 4];
  out += kHex[byte & 0x0f];
}

}  // namespace

Utf8Step NextUtf8(std::string_view text, std::size_t at) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data()) + at;
  const std::size_t left = text.size() - at;
  const unsigned char lead = p[0];
  if (lead < 0x80) return {1, true};
  // Table 3-7: the length of the character a lead byte starts and the range
  // of its second byte; the later bytes are 80..BF.
  std::size_t length = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;   // below: overlong
    if (lead == 0xED) high = 0x9F;  // above: surrogates D800..DFFF
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;   // below: overlong
    if (lead == 0xF4) high = 0x8F;  // above: beyond U+10FFFF
  } else {
    return {1, false};  // a continuation byte, C0, C1 or F5..FF
  }
  if (left < 2 || p[1] < low || p[1] > high) return {1, false};
  for (std::size_t k = 2; k < length; ++k) {
    if (k >= left || (p[k] & 0xC0) != 0x80) return {k, false};
  }
  return {length, true};
}

std::size_t ValidUtf8Prefix(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    while (i + 8 <= text.size() && !AnyHighBit(text.data() + i)) i += 8;
    if (i >= text.size()) break;
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    const Utf8Step step = NextUtf8(text, i);
    if (!step.valid) return i;
    i += step.length;
  }
  return text.size();
}

void AppendValidUtf8(std::string& out, std::string_view text) {
  std::size_t good = ValidUtf8Prefix(text);
  if (good == text.size()) {
    out += text;
    return;
  }
  out.reserve(out.size() + text.size() + 8);
  while (true) {
    out.append(text.data(), good);
    if (good == text.size()) return;
    const Utf8Step bad = NextUtf8(text, good);
    out += kReplacement;
    text.remove_prefix(good + bad.length);
    good = ValidUtf8Prefix(text);
  }
}

std::string ToValidUtf8(std::string_view text) {
  std::string out;
  AppendValidUtf8(out, text);
  return out;
}

void AppendForTerminal(std::string& out, std::string_view text) {
  out.reserve(out.size() + text.size());
  std::size_t plain = 0;
  std::size_t i = 0;
  const auto flush = [&] { out.append(text.data() + plain, i - plain); };
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7F) {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      const Utf8Step step = NextUtf8(text, i);
      const bool c1 = step.valid && c == 0xC2 && static_cast<unsigned char>(text[i + 1]) < 0xA0;
      if (step.valid && !c1) {
        i += step.length;
        continue;
      }
      flush();
      if (c1) {
        AppendHex(out, static_cast<unsigned char>(text[i + 1]));
      } else {
        for (std::size_t k = 0; k < step.length; ++k) {
          AppendHex(out, static_cast<unsigned char>(text[i + k]));
        }
      }
      i += step.length;
      plain = i;
      continue;
    }
    flush();
    switch (c) {
      case 0x1B:
        out += "\\e";
        break;
      case 0x00:
        out += "\\0";
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
        AppendHex(out, c);
    }
    ++i;
    plain = i;
  }
  flush();
}

std::string EscapeForTerminal(std::string_view text) {
  std::string out;
  AppendForTerminal(out, text);
  return out;
}

std::size_t NextUtf8Boundary(std::string_view text, std::size_t at) {
  if (at == 0 || at >= text.size()) return at;
  // A character that covers `at` starts at most 3 bytes before it.
  for (std::size_t start = at - 1, back = 1; back <= 3; --start, ++back) {
    const auto c = static_cast<unsigned char>(text[start]);
    if ((c & 0xC0) != 0x80) {
      if (c < 0x80) return at;
      const Utf8Step step = NextUtf8(text, start);
      return step.valid && start + step.length > at ? start + step.length : at;
    }
    if (start == 0) break;
  }
  return at;
}

std::string CutUtf8(std::string text, std::size_t max, std::string_view mark) {
  if (text.size() <= max) return text;
  // Keep [0, max) unless a well-formed character straddles `max`.
  std::size_t cut = max;
  for (std::size_t back = 1; back <= 3 && back <= max; ++back) {
    const auto c = static_cast<unsigned char>(text[max - back]);
    if ((c & 0xC0) == 0x80) continue;
    if (c >= 0x80) {
      const Utf8Step step = NextUtf8(text, max - back);
      if (step.valid && max - back + step.length > max) cut = max - back;
    }
    break;
  }
  text.resize(cut);
  text += mark;
  return text;
}

}  // namespace core
