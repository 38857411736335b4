#include "core/utf8.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace {

using namespace std::string_literals;

const std::string kFffd = "\xEF\xBF\xBD";

std::string Repeat(const std::string& unit, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += unit;
  return out;
}

std::string Encode(std::uint32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return out;
}

struct Case {
  std::string name;
  std::string input;
  std::string expected;
};

}  // namespace

TEST_CASE("ill-formed UTF-8 becomes one U+FFFD per maximal subpart", "[core][utf8]") {
  // The replacements Python's bytes.decode("utf-8", "replace") and the
  // WHATWG decoder make for the same bytes.
  const std::vector<Case> cases = {
      {"empty", "", ""},
      {"ascii", "plain text", "plain text"},
      {"lone 0xff", "\xff", kFffd},
      {"lone 0xfe",
       "a\xfe"
       "b",
       "a" + kFffd + "b"},
      {"lone continuation", "\x80", kFffd},
      {"truncated 2-byte at end", "ab\xc3", "ab" + kFffd},
      {"truncated 2-byte before ascii", "\xc3x", kFffd + "x"},
      {"truncated 3-byte", "\xe2\x82", kFffd},
      {"truncated 3-byte before ascii", "\xe2\x82x", kFffd + "x"},
      {"truncated 4-byte", "\xf0\x9f\x98", kFffd},
      {"truncated 4-byte before 4-byte", "\xf0\x9f\x98\xf0\x9f\x98\x80",
       kFffd + "\xf0\x9f\x98\x80"},
      {"overlong C0 AF", "\xc0\xaf", kFffd + kFffd},
      {"overlong E0 80 AF", "\xe0\x80\xaf", kFffd + kFffd + kFffd},
      {"overlong F0 80 80 AF", "\xf0\x80\x80\xaf", Repeat(kFffd, 4)},
      {"encoded surrogate ED A0 80", "\xed\xa0\x80", Repeat(kFffd, 3)},
      {"encoded surrogate ED BF BF", "\xed\xbf\xbf", Repeat(kFffd, 3)},
      {"surrogate pair as CESU-8", "\xed\xa0\xbd\xed\xb8\x80", Repeat(kFffd, 6)},
      {"above U+10FFFF", "\xf4\x90\x80\x80", Repeat(kFffd, 4)},
      {"five-byte form", "\xf8\x88\x80\x80\x80", Repeat(kFffd, 5)},
      {"F5 lead", "\xf5\x80\x80\x80", Repeat(kFffd, 4)},
      {"lead then lead", "\xe2\xe2\x82\xac", kFffd + "\xe2\x82\xac"},
      {"NUL and ESC are well-formed", "\0\x1b[0m"s, "\0\x1b[0m"s},
      {"CJK kept", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"},
      {"emoji kept", "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"},
      {"U+D7FF kept", "\xed\x9f\xbf", "\xed\x9f\xbf"},
      {"U+E000 kept", "\xee\x80\x80", "\xee\x80\x80"},
      {"U+10FFFF kept", "\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"},
      {"U+FFFD kept", kFffd, kFffd},
      {"bad byte after 16 ascii",
       "0123456789abcdef\xff"
       "0123456789abcdef",
       "0123456789abcdef" + kFffd + "0123456789abcdef"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    CHECK(core::ToValidUtf8(c.input) == c.expected);
    CHECK(core::IsValidUtf8(c.input) == (c.input == c.expected));
    CHECK(core::IsValidUtf8(core::ToValidUtf8(c.input)));
  }
  CHECK(core::ValidUtf8Prefix("0123456789\xe2\x82\xac\xe2\x82") == 13);
}

TEST_CASE("every scalar value is well-formed and every surrogate is not", "[core][utf8]") {
  for (std::uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    const std::string bytes = Encode(cp);
    const bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
    if (core::IsValidUtf8(bytes) == surrogate) {
      FAIL_CHECK("U+" << std::hex << cp);
      break;
    }
  }
}

TEST_CASE("terminal text shows control characters and bad bytes escaped", "[core][utf8]") {
  const std::vector<Case> cases = {
      {"plain", "disk on fire", "disk on fire"},
      {"backslash kept", R"(C:\temp)", R"(C:\temp)"},
      {"ESC sequences", "\x1b[31mred\x1b[0m \x1b]0;title\x07", R"(\e[31mred\e[0m \e]0;title\x07)"},
      {"NUL", "nul\0end"s, R"(nul\0end)"},
      {"newline, CR, tab", "a\nb\r\tc", R"(a\nb\r\tc)"},
      {"other C0", "\x01\x08\x1f", R"(\x01\x08\x1f)"},
      {"DEL", "x\x7fy", R"(x\x7fy)"},
      {"C1 CSI",
       "\xc2\x9b"
       "31m",
       R"(\x9b31m)"},
      {"C1 NEL", "\xc2\x85", R"(\x85)"},
      {"no-break space kept", "\xc2\xa0", "\xc2\xa0"},
      {"lone 0xff", "\xff", R"(\xff)"},
      {"overlong", "\xc0\xaf", R"(\xc0\xaf)"},
      {"truncated 3-byte", "\xe2\x82x", R"(\xe2\x82x)"},
      {"encoded surrogate", "\xed\xa0\x80", R"(\xed\xa0\x80)"},
      {"above U+10FFFF", "\xf4\x90\x80\x80", R"(\xf4\x90\x80\x80)"},
      {"printable UTF-8 kept", "r\xc3\xa9sum\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
       "r\xc3\xa9sum\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    CHECK(core::EscapeForTerminal(c.input) == c.expected);
  }
}

TEST_CASE("a cut never splits a character and never creates bad bytes", "[core][utf8]") {
  CHECK(core::CutUtf8("short", 10) == "short");
  CHECK(core::CutUtf8("exactly10!", 10) == "exactly10!");
  CHECK(core::CutUtf8("0123456789abc", 10) == "0123456789...");
  CHECK(core::CutUtf8("abcdefghi\xc3\xa9!", 10) == "abcdefghi...");
  CHECK(core::CutUtf8("abcdefghi\xc3\xa9!", 11, "\u2026") == "abcdefghi\xc3\xa9\u2026");
  CHECK(core::CutUtf8("abcdefg\xf0\x9f\x98\x80!", 10, "") == "abcdefg");
  CHECK(core::CutUtf8("abcdef\xf0\x9f\x98\x80!", 10, "") == "abcdef\xf0\x9f\x98\x80");
  // Binary output: bad bytes count one each, nothing else is lost.
  CHECK(core::CutUtf8(std::string(20, '\x80'), 10, "") == std::string(10, '\x80'));
  CHECK(core::CutUtf8("abcdefghi\xe2\x82x", 10, "") == "abcdefghi\xe2");
  for (std::size_t max = 0; max < 12; ++max) {
    INFO(max);
    const std::string text = "\xe6\x97\xa5\xe6\x9c\xac\xf0\x9f\x98\x80\xc3\xa9";
    CHECK(core::IsValidUtf8(core::CutUtf8(text, max, "")));
    CHECK(core::CutUtf8(text, max, "").size() + 3 >= max);
  }
}

TEST_CASE("a stream's tail starts on a character boundary", "[core][utf8]") {
  const std::string text = "x\xc3\xa9\xf0\x9f\x98\x80y";
  CHECK(core::NextUtf8Boundary(text, 0) == 0);
  CHECK(core::NextUtf8Boundary(text, 1) == 1);
  CHECK(core::NextUtf8Boundary(text, 2) == 3);
  CHECK(core::NextUtf8Boundary(text, 3) == 3);
  CHECK(core::NextUtf8Boundary(text, 4) == 7);
  CHECK(core::NextUtf8Boundary(text, 5) == 7);
  CHECK(core::NextUtf8Boundary(text, 6) == 7);
  CHECK(core::NextUtf8Boundary(text, 7) == 7);
  CHECK(core::NextUtf8Boundary(text, 8) == 8);
  CHECK(core::NextUtf8Boundary(std::string(8, '\x80'), 4) == 4);
  CHECK(core::NextUtf8Boundary("\xe2\x82x", 1) == 1);  // truncated: nothing to keep whole
}
