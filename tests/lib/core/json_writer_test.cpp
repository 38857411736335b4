#include "core/json_writer.h"

#include <catch2/catch.hpp>
#include <string>

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
