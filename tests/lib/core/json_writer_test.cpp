#include "core/json_writer.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/utf8.h"

TEST_CASE("JSON strings are escaped as RFC 8259 requires", "[core]") {
  CHECK(core::JsonQuote("") == R"("")");
  CHECK(core::JsonQuote("plain text, ünïcode") == R"("plain text, ünïcode")");
  CHECK(core::JsonQuote(R"(say "hi" \ bye)") == R"("say \"hi\" \\ bye")");
  CHECK(core::JsonQuote("a\nb\rc\td") == R"("a\nb\rc\td")");
  CHECK(core::JsonQuote(std::string("\x01x\x1f", 3)) == R"("\u0001x\u001f")");
  CHECK(core::JsonQuote(std::string("nul\0end", 7)) == R"("nul\u0000end")");
  CHECK(core::JsonQuote("\"") == R"("\"")");
  CHECK(core::JsonQuote("ends with \\") == R"("ends with \\")");
}

TEST_CASE("the JSON writer escapes keys and values alike", "[core]") {
  core::JsonWriter json;
  json.Key("we\"ird").String("line\nbreak").Key("n").Int(-3).Key("list").BeginArray();
  json.String("a").Bool(true).Null().EndArray();
  CHECK(json.Finish() == R"({"we\"ird":"line\nbreak","n":-3,"list":["a",true,null]})");
}

namespace {

using namespace std::string_literals;

const std::string kFffd = "\xEF\xBF\xBD";

// The writer's escaping done the slow way, one character at a time, to
// check the eight-bytes-at-a-time scan against.
std::string SlowQuote(std::string_view text) {
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      const core::Utf8Step step = core::NextUtf8(text, i);
      if (!step.valid) {
        out += kFffd;
      } else if (c == 0xC2 && static_cast<unsigned char>(text[i + 1]) < 0xA0) {
        out += fmt::format("\\u{:04x}", static_cast<unsigned char>(text[i + 1]));
      } else {
        out.append(text.substr(i, step.length));
      }
      i += step.length;
      continue;
    }
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\u{:04x}", c);
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
  return out + "\"";
}

}  // namespace

TEST_CASE("JSON strings are valid UTF-8 whatever bytes went in", "[core][utf8]") {
  struct Case {
    std::string name;
    std::string input;
    std::string json;
  };
  const std::vector<Case> cases = {
      {"lone 0xff", "\xff", "\"" + kFffd + "\""},
      {"lone 0xfe",
       "a\xfe"
       "b",
       "\"a" + kFffd + "b\""},
      {"truncated 2-byte", "x\xc3", "\"x" + kFffd + "\""},
      {"truncated 3-byte", "\xe2\x82\"", "\"" + kFffd + "\\\"\""},
      {"truncated 4-byte", "\xf0\x9f\x98.", "\"" + kFffd + ".\""},
      {"overlong C0 AF", "\xc0\xaf", "\"" + kFffd + kFffd + "\""},
      {"overlong E0 80 AF", "\xe0\x80\xaf", "\"" + kFffd + kFffd + kFffd + "\""},
      {"encoded surrogate ED A0 80", "\xed\xa0\x80", "\"" + kFffd + kFffd + kFffd + "\""},
      {"above U+10FFFF", "\xf4\x90\x80\x80", "\"" + kFffd + kFffd + kFffd + kFffd + "\""},
      {"NUL", "a\0b"s, R"("a\u0000b")"},
      {"ESC sequence", "\x1b[31mred\x1b[0m", R"("\u001b[31mred\u001b[0m")"},
      {"DEL", "\x7f", R"("\u007f")"},
      {"C1 CSI",
       "\xc2\x9b"
       "2J",
       R"("\u009b2J")"},
      {"C1 last", "\xc2\x9f", R"("\u009f")"},
      {"no-break space kept", "\xc2\xa0", "\"\xc2\xa0\""},
      {"CJK kept", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
       "\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\""},
      {"emoji kept", "ok \xf0\x9f\x98\x80", "\"ok \xf0\x9f\x98\x80\""},
      {"escape after 8 plain bytes", "01234567\n", R"("01234567\n")"},
      {"bad byte after 15 plain bytes", "0123456789abcde\xff", "\"0123456789abcde" + kFffd + "\""},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    CHECK(core::JsonQuote(c.input) == c.json);
    CHECK(SlowQuote(c.input) == c.json);
  }
  core::JsonWriter json;
  json.Key("k\xff").String("v\xed\xa0\x80").Key("m").Raw("{\"x\":\"\xc3\"}");
  CHECK(json.Finish() ==
        "{\"k" + kFffd + "\":\"v" + kFffd + kFffd + kFffd + "\",\"m\":{\"x\":\"" + kFffd + "\"}}");
}

TEST_CASE("the fast scan escapes exactly what the slow one does", "[core][utf8]") {
  // Random strings from the bytes that matter, at every alignment.
  const std::string alphabet =
      "aZ \"\\\n\t\x01\x1f\x7f\x80\xa0\xbf\xc2\xc3\xe0\xed\xf0\xf4\xff"s + std::string(1, '\0');
  std::mt19937 random(20261203);
  for (int round = 0; round < 20000; ++round) {
    std::string text(random() % 40, 'a');
    for (char& c : text) {
      if (random() % 3 == 0) c = alphabet[random() % alphabet.size()];
    }
    INFO(fmt::format("{:02x}",
                     fmt::join(std::vector<unsigned char>(text.begin(), text.end()), " ")));
    REQUIRE(core::JsonQuote(text) == SlowQuote(text));
  }
}

TEST_CASE("1 MiB of ASCII is written whole and fast", "[core][utf8]") {
  std::string text;
  while (text.size() < (1u << 20))
    text += "The quick brown fox jumps over the lazy dog. 0123456789 ";
  const auto start = std::chrono::steady_clock::now();
  std::size_t written = 0;
  for (int i = 0; i < 20; ++i) written += core::JsonQuote(text).size();
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  CHECK(written == 20 * (text.size() + 2));
  // About 10 ms unloaded (bench/json_writer_bench prints the figure); the
  // bound only catches a fall off the fast path on a busy machine.
  CHECK(took.count() < 2.0);
}
