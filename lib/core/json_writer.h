// Writes one flat-or-nested JSON object as text, for the CLI's --json lines,
// run metrics and API answers. Keys and strings are escaped per RFC 8259;
// non-finite numbers become null (JSON has no NaN).
//
//   JsonWriter w;
//   w.Key("id").Int(42).Key("job").String("backup").Key("next").BeginArray() ...
//
// Single thread. The caller keeps objects and arrays balanced.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace core {

class JsonWriter {
 public:
  JsonWriter() { BeginObject(); }

  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  JsonWriter& Int(std::int64_t value);
  JsonWriter& Double(double value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();
  // Already-serialized JSON (e.g. a stored metrics object).
  JsonWriter& Raw(std::string_view json);
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();

  // Closes the outer object and returns the text.
  std::string Finish();

 private:
  void Separate();
  std::string out_;
  bool need_comma_ = false;
};

// `text` as a quoted, escaped JSON string.
std::string JsonQuote(std::string_view text);

}  // namespace core
