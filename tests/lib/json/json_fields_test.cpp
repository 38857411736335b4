#include "json/json_fields.h"

#include <catch2/catch.hpp>
#include <functional>
#include <string>

namespace {

// Reads one thing out of a document: its value as text, or the error.
using Read = std::function<core::Result<std::string>(const json::Field&)>;

template <typename T>
std::string Text(const T& v) {
  if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, std::string_view>) {
    return "'" + std::string(v) + "'";
  } else if constexpr (std::is_same_v<T, bool>) {
    return v ? "true" : "false";
  } else {
    std::ostringstream out;
    out << v;
    return out.str();
  }
}

template <typename T>
Read Required(std::vector<std::string> path, std::string key) {
  return [path, key](const json::Field& root) -> core::Result<std::string> {
    json::Field at = root;
    for (const auto& step : path) {
      if (!step.empty() && step[0] == '#') {
        auto elements = at.Elements();
        if (!elements) return core::Unexpected(elements.error());
        const std::size_t i = std::stoul(step.substr(1));
        if (i >= elements->size()) return core::Unexpected(at.Problem("too short"));
        at = (*elements)[i];
      } else {
        auto next = at.Required(step);
        if (!next) return core::Unexpected(next.error());
        at = *next;
      }
    }
    auto v = at.Required<T>(key);
    if (!v) return core::Unexpected(v.error());
    return Text(*v);
  };
}

template <typename T>
Read Optional(std::string key) {
  return [key](const json::Field& root) -> core::Result<std::string> {
    auto v = root.Optional<T>(key);
    if (!v) return core::Unexpected(v.error());
    return *v ? Text(**v) : std::string("absent");
  };
}

}  // namespace

TEST_CASE("json fields: values and errors name the path", "[json]") {
  const std::string doc = R"({
    "name": "Berlin", "id": 42, "big": 18446744073709551615, "ratio": 0.5, "ok": true,
    "none": null, "count": 3.5,
    "results": [
      {"period": {"datetimeTo": {"utc": "2024-01-01T00:00:00Z"}}},
      {"period": {"datetimeTo": {"utc": null}}},
      {"period": {"datetimeTo": {"utc": 17}}},
      {"period": "later"}
    ]
  })";
  struct Case {
    const char* what;
    Read read;
    const char* expected;  // the value as text, or the error message
  };
  const Case cases[] = {
      {"string", Required<std::string>({}, "name"), "'Berlin'"},
      {"string view", Required<std::string_view>({}, "name"), "'Berlin'"},
      {"integer", Required<std::int64_t>({}, "id"), "42"},
      {"integer as number", Required<double>({}, "id"), "42"},
      {"number", Required<double>({}, "ratio"), "0.5"},
      {"bool", Required<bool>({}, "ok"), "true"},
      {"missing", Required<std::string>({}, "nope"), "nope: missing"},
      {"null is no string", Required<std::string>({}, "none"), "none: expected a string, got null"},
      {"number is no integer", Required<std::int64_t>({}, "count"),
       "count: expected an integer, got a number"},
      {"too big", Required<std::int64_t>({}, "big"),
       "big: expected an integer that fits 64 bits, got an integer"},
      {"string is no number", Required<double>({}, "name"),
       "name: expected a number, got a string"},
      {"bool", Required<bool>({}, "id"), "id: expected true or false, got an integer"},
      {"deep", Required<std::string>({"results", "#0", "period", "datetimeTo"}, "utc"),
       "'2024-01-01T00:00:00Z'"},
      {"deep null", Required<std::string>({"results", "#1", "period", "datetimeTo"}, "utc"),
       "results[1].period.datetimeTo.utc: expected a string, got null"},
      {"deep number", Required<std::string>({"results", "#2", "period", "datetimeTo"}, "utc"),
       "results[2].period.datetimeTo.utc: expected a string, got an integer"},
      {"not an object", Required<std::string>({"results", "#3", "period"}, "datetimeTo"),
       "results[3].period: expected an object, got a string"},
      {"not an array", Required<std::string>({"name", "#0"}, "x"),
       "name: expected an array, got a string"},
      {"index", Required<std::string>({"results", "#9"}, "x"), "results: too short"},
      {"optional present", Optional<std::string>("name"), "'Berlin'"},
      {"optional absent", Optional<std::string>("nope"), "absent"},
      {"optional null", Optional<std::int64_t>("none"), "absent"},
      {"optional wrong type", Optional<std::int64_t>("name"),
       "name: expected an integer, got a string"},
  };
  auto root = json::Parse(doc);
  REQUIRE(root);
  const json::Field field(*root);
  for (const Case& c : cases) {
    INFO(c.what);
    const auto got = c.read(field);
    CHECK((got ? *got : got.error().message) == c.expected);
    if (!got) {
      CHECK(got.error().kind == core::ErrorKind::kInvalidArgument);
      CHECK_FALSE(got.error().retryable);
    }
  }
}

TEST_CASE("json fields: documents, roots, objects and arrays", "[json]") {
  const auto bad = json::Parse("{\"a\":");
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.error().message, Catch::StartsWith("not JSON ("));

  auto array = json::Parse("[1, \"two\"]");
  REQUIRE(array);
  const json::Field root(*array);
  CHECK(root.path().empty());
  // A root that is no object: the error has no path to name.
  CHECK(root.Required("x").error().message == "expected an object, got an array");
  auto elements = root.Elements();
  REQUIRE(elements);
  REQUIRE(elements->size() == 2);
  CHECK((*elements)[0].path() == "[0]");
  CHECK((*elements)[1].As<std::int64_t>().error().message ==
        "[1]: expected an integer, got a string");
  CHECK(root.As<const boost::json::array*>().value()->size() == 2);
  CHECK_FALSE(root.As<const boost::json::object*>());
  CHECK(root.Problem("empty").message == "empty");
  CHECK((*elements)[0].Problem("not a time").message == "[0]: not a time");
}
